"""The one place that imports the k2-fsa Kaldi wheels, in the order that is known to
work.

docs/kaldi-stack.md: with some versions, importing kaldifst / kaldi_decoder before
kaldi_hmm_gmm hangs in a static initialiser, so every module of this package takes the
bindings from here (``from ._backend import khg, kaldifst``) instead of importing them.
"""

from __future__ import annotations

import kaldi_decoder
import kaldi_hmm_gmm as khg
import kaldifst

__all__ = ["kaldi_decoder", "kaldifst", "khg"]
