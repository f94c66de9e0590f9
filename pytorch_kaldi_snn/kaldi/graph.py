"""Decoding graphs: a phone bigram (phone recognition, as Kaldi's TIMIT recipe) or a
word bigram over the lexicon (word recognition), with the model's HMMs.

The graph folder holds ``graph.pkl`` (units, their phone sequences and a dense bigram
log-probability matrix, read by :mod:`.decode`), ``words.txt``, ``phones.txt``, the LM
as ARPA (``G.arpa``) and, through kaldilm, as an OpenFst ``G.fst`` that real Kaldi can
compose into HCLG.
"""

from __future__ import annotations

import logging
import math
import pickle
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence

import numpy as np

from pytorch_kaldi_snn.errors import DataError
from pytorch_kaldi_snn.kaldi.align import MODEL
from pytorch_kaldi_snn.kaldi.hmm import NUM_STATES, MonophoneModel
from pytorch_kaldi_snn.kaldi.io import atomic_write_text, read_table
from pytorch_kaldi_snn.kaldi.lang import read_lexicon

logger = logging.getLogger(__name__)
GRAPH = "graph.pkl"


@dataclass
class Graph:
    """What the decoder needs: output units, their pdf chains and the bigram LM.

    ``lm[h, v]`` is log P(v | h) for histories 0..U-1 (units) and U (``<s>``), outputs
    0..U-1 and U (``</s>``). ``silence`` is the index of an optional-silence unit that
    is not part of the LM (word graphs) or None.
    """

    kind: str  # "phone" or "word"
    units: List[str]
    chains: List[np.ndarray]
    lm: np.ndarray
    phones: List[str]
    silence: "int | None"
    silence_logprob: float = math.log(0.3)

    def save(self, out_dir: Path) -> None:
        tmp = out_dir / (GRAPH + ".tmp")
        with open(tmp, "wb") as f:
            pickle.dump(self, f)
        tmp.replace(out_dir / GRAPH)

    @staticmethod
    def load(graph_dir) -> "Graph":
        path = Path(graph_dir) / GRAPH
        if not path.is_file():
            raise DataError(f"{path}: decoding graph not found (run mkgraph)")
        with open(path, "rb") as f:
            return pickle.load(f)


def bigram_lm(sentences: Sequence[Sequence[int]], n_units: int,
              discount: float = 0.5) -> np.ndarray:
    """Interpolated absolute-discounting bigram, ``[U+1, U+1]`` natural log-probs."""
    bos = eos = n_units
    uni = np.ones(n_units + 1)
    pairs: Counter = Counter()
    for s in sentences:
        seq = [bos] + list(s) + [eos]
        for a, b in zip(seq[:-1], seq[1:]):
            pairs[(a, b)] += 1
            uni[b] += 1
    uni /= uni.sum()
    counts = np.zeros((n_units + 1, n_units + 1))
    for (a, b), c in pairs.items():
        counts[a, b] = c
    total = counts.sum(1, keepdims=True)
    distinct = (counts > 0).sum(1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(total > 0, np.maximum(counts - discount, 0) / np.maximum(total, 1)
                     + discount * distinct / np.maximum(total, 1) * uni, uni)
    p /= p.sum(1, keepdims=True)
    return np.log(p).astype(np.float32)


def write_arpa(path: Path, units: List[str], lm: np.ndarray) -> None:
    """The bigram as ARPA (log10), full bigram table, unigram = average of rows."""
    n = len(units)
    names = units + ["</s>"]
    uni = np.log10(np.exp(lm[:n + 1, :]).mean(0) + 1e-12)
    lines = ["\\data\\", f"ngram 1={n + 2}", f"ngram 2={(n + 1) * (n + 1)}", "",
             "\\1-grams:", "-99\t<s>\t0.0"]
    lines += [f"{uni[i]:.5f}\t{names[i]}\t0.0" for i in range(n + 1)]
    lines += ["", "\\2-grams:"]
    hist = units + ["<s>"]
    lp10 = lm / math.log(10)
    for h in range(n + 1):
        lines += [f"{lp10[h, v]:.5f}\t{hist[h]} {names[v]}" for v in range(n + 1)]
    lines += ["", "\\end\\", ""]
    atomic_write_text(path, "\n".join(lines))


def _finish(out_dir: Path, graph: Graph, model_dir: Path, lang_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    graph.save(out_dir)
    atomic_write_text(out_dir / "words.txt",
                      "".join(f"{w} {i}\n"
                              for i, w in enumerate(["<eps>"] + graph.units)))
    if (lang_dir / "phones.txt").is_file():
        shutil.copyfile(lang_dir / "phones.txt", out_dir / "phones.txt")
    shutil.copyfile(model_dir / MODEL, out_dir / MODEL)
    n_lm = graph.lm.shape[0] - 1
    if n_lm > 200:  # a dense ARPA of a large vocabulary would be huge
        return _done(out_dir, graph)
    write_arpa(out_dir / "G.arpa", graph.units[:n_lm], graph.lm)
    try:
        import kaldilm

        kaldilm.arpa2fst(str(out_dir / "G.arpa"), str(out_dir / "G.fst"),
                         disambig_symbol="#0",
                         write_symbol_table=str(out_dir / "G.words.txt"))
    except Exception as exc:
        # G.fst is for real Kaldi only; our decoder reads graph.pkl
        logger.warning("kaldilm could not write G.fst: %s", exc)
    return _done(out_dir, graph)


def _done(out_dir: Path, graph: Graph) -> Path:
    logger.info("%s graph with %d units written to %s", graph.kind, len(graph.units),
                out_dir)
    return out_dir


def make_phone_graph(lang_dir, exp_dir, out_dir, train_phones=None) -> Path:
    """Phone loop with a phone bigram estimated on the training phone transcripts
    (``train_phones``: a text_phones file; default: the phones of exp_dir's
    alignments)."""
    lang_dir, exp_dir, out_dir = Path(lang_dir), Path(exp_dir), Path(out_dir)
    model = MonophoneModel.load(exp_dir / MODEL)
    index = {p: i for i, p in enumerate(model.phones)}
    if train_phones:
        seqs = [v.split() for v in read_table(train_phones).values()]
    else:
        from pytorch_kaldi_snn.kaldi.align import ali_to_pdf

        seqs = []
        for a in ali_to_pdf(exp_dir).values():
            ph = a // NUM_STATES
            keep = np.concatenate([[True], ph[1:] != ph[:-1]])
            seqs.append([model.phones[i] for i in ph[keep]])
    sentences = []
    for s in seqs:
        bad = [p for p in s if p not in index]
        if bad:
            raise DataError(f"{train_phones}: phones {bad} are not in the model")
        sentences.append([index[p] for p in s])
    chains = [np.arange(NUM_STATES * i, NUM_STATES * (i + 1))
              for i in range(len(index))]
    graph = Graph("phone", list(model.phones), chains, bigram_lm(sentences, len(index)),
                  list(model.phones), None)
    return _finish(out_dir, graph, exp_dir, lang_dir)


def make_word_graph(lang_dir, exp_dir, train_text, out_dir, order: int = 2) -> Path:
    """Words of the lexicon (first pronunciation), a word bigram from ``train_text``
    (a Kaldi ``text`` file) and an optional silence between words."""
    if order != 2:
        raise DataError(f"word LM order {order} is not supported; use 2 (bigram)")
    lang_dir, exp_dir, out_dir = Path(lang_dir), Path(exp_dir), Path(out_dir)
    model = MonophoneModel.load(exp_dir / MODEL)
    index = {p: i for i, p in enumerate(model.phones)}
    lex = {}
    for w, pron in read_lexicon(lang_dir / "lexicon.txt"):
        if w.startswith("!") or w.startswith("<"):
            continue
        lex.setdefault(w, pron)
    words = sorted(lex)
    windex = {w: i for i, w in enumerate(words)}
    sentences = []
    for utt, text in read_table(train_text).items():
        ids = []
        for w in text.split():
            if w not in windex:
                raise DataError(f"{train_text}: utterance {utt}: word {w!r} is not in "
                                f"{lang_dir / 'lexicon.txt'}")
            ids.append(windex[w])
        sentences.append(ids)
    chains = []
    for w in words:
        try:
            chains.append(np.concatenate([np.arange(NUM_STATES * index[p],
                                                    NUM_STATES * (index[p] + 1))
                                          for p in lex[w]]))
        except KeyError as exc:
            raise DataError(f"{lang_dir / 'lexicon.txt'}: word {w!r} uses phone {exc} "
                            "unknown to the acoustic model") from None
    sil = (lang_dir / "phones" / "optional_silence.txt").read_text().split()[0]
    units = words + ["<sil>"]
    chains.append(np.arange(NUM_STATES * index[sil], NUM_STATES * (index[sil] + 1)))
    graph = Graph("word", units, chains, bigram_lm(sentences, len(words)),
                  list(model.phones), len(words))
    return _finish(out_dir, graph, exp_dir, lang_dir)
