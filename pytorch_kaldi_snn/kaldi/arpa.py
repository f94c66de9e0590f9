r"""N-gram language models as ARPA text, estimated with absolute discounting and
back-off.

For an n-gram ``h w`` seen ``c(h w) > 0`` times after history ``h`` (``c(h)`` times):

.. math::  P(w \mid h) = \frac{c(h w) - D}{c(h)}, \qquad
           P(w \mid h) = \alpha(h)\, P(w \mid h') \text{ otherwise},

with ``h'`` the history without its oldest word, ``D = 0.5`` and
``alpha(h) = (1 - \sum_{seen} P(w|h)) / (1 - \sum_{seen} P(w|h'))`` so that every
distribution sums to one. Unigrams are add-one smoothed over the vocabulary (so a word
of the lexicon that never occurs in training still has a path in G). Sentences are
wrapped in ``<s> ... </s>``.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

BOS, EOS = "<s>", "</s>"


def ngram_counts(sentences: Iterable[Sequence[str]], order: int
                 ) -> list[Counter]:
    """Counts of 1..order-grams (tuples) over ``<s> sentence </s>``."""
    counts: list[Counter] = [Counter() for _ in range(order)]
    for sent in sentences:
        toks = [BOS] + list(sent) + [EOS]
        for n in range(1, order + 1):
            for i in range(len(toks) - n + 1):
                gram = tuple(toks[i:i + n])
                if n == 1 and gram == (BOS,):
                    continue
                counts[n - 1][gram] += 1
    return counts


def estimate(sentences: Iterable[Sequence[str]], vocab: Sequence[str], order: int = 2,
             discount: float = 0.5) -> list[dict[tuple[str, ...], tuple[float, float]]]:
    """Return per order {ngram: (log10 prob, log10 back-off weight)} as in ARPA
    files."""
    if order < 1:
        raise ValueError("order must be >= 1")
    counts = ngram_counts(sentences, order)
    words = sorted(set(vocab) | {w for (w,) in counts[0]} | {EOS})
    total = sum(counts[0][(w,)] + 1 for w in words)
    probs: list[dict[tuple[str, ...], float]] = [
        {(w,): (counts[0][(w,)] + 1) / total for w in words}]
    probs[0][(BOS,)] = 0.0
    for n in range(2, order + 1):
        hist: Counter = Counter()
        for gram, c in counts[n - 1].items():
            hist[gram[:-1]] += c
        probs.append({g: (c - discount) / hist[g[:-1]]
                      for g, c in counts[n - 1].items()})
    backoff: list[dict[tuple[str, ...], float]] = [{} for _ in range(order)]
    for n in range(2, order + 1):
        seen: dict[tuple[str, ...], list[tuple[str, ...]]] = defaultdict(list)
        for g in probs[n - 1]:
            seen[g[:-1]].append(g)
        for h, grams in seen.items():
            num = 1.0 - sum(probs[n - 1][g] for g in grams)
            den = 1.0 - sum(_prob(probs, backoff, g[1:]) for g in grams)
            backoff[n - 2][h] = num / den if den > 1e-12 else 1.0
    out = []
    for n in range(order):
        table = {}
        for g, p in probs[n].items():
            lp = math.log10(p) if p > 0 else -99.0
            bo = backoff[n].get(g)
            table[g] = (lp, math.log10(bo) if bo and bo > 0 else 0.0) if n < order - 1 \
                else (lp, 0.0)
        out.append(table)
    return out


def _prob(probs, backoff, gram: tuple[str, ...]) -> float:
    """P(gram[-1] | gram[:-1]) of the back-off model built so far (lower orders)."""
    n = len(gram)
    if gram in probs[n - 1] or n == 1:
        return probs[n - 1].get(gram, 0.0)
    return backoff[n - 2].get(gram[:-1], 1.0) * _prob(probs, backoff, gram[1:])


def arpa_text(model: list[dict[tuple[str, ...], tuple[float, float]]]) -> str:
    """ARPA text of :func:`estimate`'s result."""
    lines = ["", "\\data\\"]
    for n, table in enumerate(model, 1):
        lines.append(f"ngram {n}={len(table)}")
    for n, table in enumerate(model, 1):
        lines += ["", f"\\{n}-grams:"]
        for g in sorted(table):
            lp, bo = table[g]
            text = f"{lp:.6f}\t{' '.join(g)}"
            if n < len(model):
                text += f"\t{bo:.6f}"
            lines.append(text)
    lines += ["", "\\end\\", ""]
    return "\n".join(lines)
