"""The built-in demo corpus: synthesised speech in a Kaldi data layout."""

from pytorch_kaldi_snn.corpus.build import SIZES, make_corpus

__all__ = ["SIZES", "make_corpus"]
