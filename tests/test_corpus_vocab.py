"""The demo corpus's vocabulary and grammar: size, determinism, bigram structure."""

from __future__ import annotations

import math
import random
from collections import Counter

from pytorch_kaldi_snn.corpus.vocab import all_words, sample_sentence, successors


def _perplexities(train, test, vocab_size):
    """Test perplexity of an add-1/2 unigram and of a bigram interpolated with it."""
    uni = Counter(w for s in train for w in s + ["</s>"])
    total = sum(uni.values())
    big = Counter((a, b) for s in train for a, b in zip(["<s>"] + s, s + ["</s>"]))
    ctx = Counter(a for s in train for a in ["<s>"] + s)

    def p_uni(w):
        return (uni[w] + 0.5) / (total + 0.5 * vocab_size)

    def p_big(a, b):
        return 0.7 * (big[(a, b)] / ctx[a] if ctx[a] else 0.0) + 0.3 * p_uni(b)

    out = []
    for p in (lambda a, b: p_uni(b), p_big):
        pairs = [(a, b) for s in test for a, b in zip(["<s>"] + s, s + ["</s>"])]
        out.append(math.exp(-sum(math.log(p(a, b)) for a, b in pairs) / len(pairs)))
    return out


def test_vocabulary_is_large_and_lowercase_words():
    words = all_words()
    assert len(words) >= 1000 and len(set(words)) == len(words)
    assert all(w.isalpha() and w.islower() for w in words)


def test_sentences_are_deterministic_and_in_vocabulary():
    vocab = set(all_words())
    a = [sample_sentence(random.Random(i)) for i in range(200)]
    b = [sample_sentence(random.Random(i)) for i in range(200)]
    assert a == b
    assert all(3 <= len(s) <= 12 and set(s) <= vocab for s in a)
    assert successors("the", "noun") == successors("the", "noun")


def test_a_word_bigram_beats_a_unigram():
    train = [sample_sentence(random.Random(i)) for i in range(960)]
    test = [sample_sentence(random.Random(10**6 + i)) for i in range(120)]
    uni, big = _perplexities(train, test, len(all_words()))
    assert big < 0.6 * uni, (uni, big)
    # the whole vocabulary stays in use, not a closed set of phrases
    assert len({w for s in train for w in s}) > 700
