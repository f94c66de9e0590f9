"""The pip-only Kaldi stack (docs/kaldi-stack.md): lang, monophone training and
alignment (kaldi-hmm-gmm), HCLG graphs (kaldifst, kaldilm), lattice decoding
(kaldi-decoder) and scoring (kaldialign), in Kaldi's file formats.

Modules read top-down: ``_backend`` (the wheels) <- ``io`` <- ``lang``, ``gmm``,
``arpa`` <- ``flatstart`` <- ``mono`` <- ``hclg``, ``lattice`` <- ``latgen``,
``score`` <- ``sweep`` <- ``cli_*``.
The names below are the API the runner and the recipes call.
"""

from pytorch_kaldi_snn.kaldi.hclg import make_phone_graph, make_word_graph
from pytorch_kaldi_snn.kaldi.lang import prepare_lang
from pytorch_kaldi_snn.kaldi.latgen import decode_loglikes
from pytorch_kaldi_snn.kaldi.mono import (
    ali_to_pdf,
    ali_to_phones_per_frame,
    align_data,
    num_pdfs,
    pdf_counts,
    train_mono_and_align,
)
from pytorch_kaldi_snn.kaldi.score import best_wer, fold_timit, score_dir

__all__ = [
    "ali_to_pdf",
    "ali_to_phones_per_frame",
    "align_data",
    "best_wer",
    "decode_loglikes",
    "fold_timit",
    "make_phone_graph",
    "make_word_graph",
    "num_pdfs",
    "pdf_counts",
    "prepare_lang",
    "score_dir",
    "train_mono_and_align",
]
