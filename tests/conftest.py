"""Shared fixtures: the tiny demo corpus, aligned and with graphs, built once per
session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """``make_corpus(size="tiny")``: Kaldi data dirs under ``<root>/data``."""
    from pytorch_kaldi_snn.corpus import make_corpus

    return make_corpus(tmp_path_factory.mktemp("tiny") / "corpus", size="tiny", seed=0,
                       nj=2)


@pytest.fixture(scope="session")
def tiny_aligned(tiny_corpus, tmp_path_factory) -> dict:
    """The tiny corpus with train/dev alignments and phone/word graphs."""
    from pytorch_kaldi_snn import kaldi

    exp = tmp_path_factory.mktemp("tiny_exp")
    data = tiny_corpus / "data"
    kaldi.train_mono_and_align(data / "train", data / "lang", exp / "mono", nj=2)
    kaldi.align_data(data / "dev", exp / "mono", exp / "mono_dev", data / "lang", nj=2)
    kaldi.make_phone_graph(data / "lang", exp / "mono", exp / "graph_phone",
                           data / "train" / "text_phones")
    kaldi.make_word_graph(data / "lang", exp / "mono", data / "train" / "text",
                          exp / "graph_word")
    return {"data": data, "exp": exp}
