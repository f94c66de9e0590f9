"""Labels: ``lab_folder`` + ``lab_opts`` (``ali-to-pdf``,
``ali-to-phones --per-frame``).

One format: a Kaldi alignment folder, ``ali.*.gz`` (gzipped int-vector arks of
transition ids) beside the model (``final.mdl.pkl`` written by
:mod:`pytorch_kaldi_snn.kaldi.mono`, or a real Kaldi ``final.mdl`` read by Kaldi's own
binaries when ``KALDI_ROOT`` is set). Transition ids become labels through the
transition model:

- ``ali-to-pdf``                      -> per-frame pdf ids
- ``ali-to-phones --per-frame=true``  -> per-frame phone ids (the form upstream uses for
  a monophone label stream ``lab_mono``)

Labels are never shifted (upstream subtracts the minimum label of each alignment, which
only works when pdf 0 occurs). Class priors for the forward pass are label counts
(``lab_count_file=auto``: counted from the training alignments) or a Kaldi text vector
file ``[ c0 c1 ... ]``; a pdf never seen in training gets the largest prior, so its
pseudo log-likelihood ``log p(c|x) - log_prior[c]`` stays finite and low::

    log_prior[c] = log(count[c] / sum_seen count)   (count[c] >= 1)
                 = log(max count / sum_seen count)  (unseen c)
"""

from __future__ import annotations

import glob
import logging
import os
import shlex
import shutil
from collections.abc import Callable, Mapping

import kaldiio
import numpy as np

from pytorch_kaldi_snn.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

LAB_COMMANDS = ("ali-to-pdf", "ali-to-phones")


def parse_lab_opts(text: str, *, section: str = "dataset",
                   file: str | None = None) -> str:
    """Return ``"pdf"`` or ``"phones"`` for a ``lab_opts`` value.

    >>> parse_lab_opts("ali-to-phones --per-frame=true")
    'phones'
    """
    try:
        tokens = shlex.split(text.replace("|", " "))
    except ValueError:
        tokens = []
    if not tokens or tokens[0] not in LAB_COMMANDS:
        raise ConfigError("unknown label command", file=file, section=section,
                          key="lab_opts", value=text, allowed=", ".join(LAB_COMMANDS))
    if tokens[0] == "ali-to-pdf":
        return "pdf"
    per_frame = any(t.startswith("--per-frame") and t.split("=", 1)[-1].lower()
                    in ("true", "1", "--per-frame") for t in tokens[1:])
    if not per_frame:
        raise ConfigError("ali-to-phones gives frame labels only with --per-frame=true",
                          file=file, section=section, key="lab_opts", value=text)
    return "phones"


def _find_reader(name: str) -> Callable:
    """The reader of :mod:`pytorch_kaldi_snn.kaldi.mono` for ``name`` (a seam the
    runner tests replace with readers of synthetic label arks)."""
    from pytorch_kaldi_snn.kaldi import mono

    return getattr(mono, name)


def read_labels(lab_folder: str, lab_opts: str, *, section: str = "dataset",
                file: str | None = None) -> dict[str, np.ndarray]:
    """Per-frame int64 labels of every aligned utterance in ``lab_folder``."""
    kind = parse_lab_opts(lab_opts, section=section, file=file)
    if not os.path.isdir(lab_folder):
        raise ConfigError("alignment folder not found", file=file, section=section,
                          key="lab_folder", value=lab_folder)
    table = _read_with_kaldi(lab_folder, lab_opts)
    if table is not None:
        return table
    name = "ali_to_pdf" if kind == "pdf" else "ali_to_phones_per_frame"
    table = _find_reader(name)(lab_folder)
    return {utt: np.asarray(v, dtype=np.int64) for utt, v in dict(table).items()}


def _read_with_kaldi(lab_folder: str, lab_opts: str) -> dict[str, np.ndarray] | None:
    """Run ``lab_opts`` with real Kaldi as upstream does, when ``KALDI_ROOT`` is set,
    the command is on PATH and the folder has ``final.mdl``; else None."""
    command = lab_opts.split()[0]
    model = os.path.join(lab_folder, "final.mdl")
    alis = sorted(glob.glob(os.path.join(lab_folder, "ali.*.gz")))
    if not (os.environ.get("KALDI_ROOT") and shutil.which(command)
            and os.path.exists(model) and alis):
        return None
    rspec = (f"ark:{lab_opts} {model} \"ark:gunzip -c {' '.join(alis)} |\" ark:- |")
    with kaldiio.ReadHelper(rspec) as reader:
        return {utt: np.asarray(v, dtype=np.int64) for utt, v in reader}


def check_label_range(table: Mapping[str, np.ndarray], n_classes: int, *,
                      source: str, lab_name: str) -> None:
    """Every label of every utterance in ``[0, n_classes)`` (the model's outputs);
    else DataError naming ``source``, the utterance, frame, value and allowed range."""
    for utt, y in table.items():
        y = np.asarray(y)
        bad = np.flatnonzero((y < 0) | (y >= n_classes))
        if bad.size:
            frame = int(bad[0])
            raise DataError(f"{source}: utterance {utt} frame {frame}: label "
                            f"{int(y[frame])} of {lab_name} is outside the model's "
                            f"{n_classes} classes ({bad.size} such frames); allowed: "
                            f"0..{n_classes - 1}")


def count_labels(labels: Mapping[str, np.ndarray], n_classes: int) -> np.ndarray:
    """Frame counts per class over all utterances (length ``n_classes``)."""
    counts = np.zeros(n_classes, dtype=np.float64)
    for v in labels.values():
        counts += np.bincount(v, minlength=n_classes)[:n_classes]
    return counts


def read_counts(path: str) -> np.ndarray:
    """A Kaldi text vector ``[ c0 c1 ... ]`` (what ``analyze-counts`` writes)."""
    if not os.path.exists(path):
        raise DataError(f"{path}: count file not found")
    with open(path) as fh:
        text = fh.read().replace("[", " ").replace("]", " ")
    try:
        return np.array([float(t) for t in text.split()], dtype=np.float64)
    except ValueError:
        raise DataError(f"{path}: not a Kaldi text vector of counts") from None


def log_priors(counts: np.ndarray, floor: float = 1.0) -> np.ndarray:
    """``log(count / sum count)``; a class with fewer than ``floor`` counts (a pdf no
    training frame has) gets the largest count's prior instead, as Kaldi's nnet1
    ``PdfPrior`` does with its cutoff.

    Never ``-inf`` (which makes the pseudo log-likelihood ``log p(c|x) - log_prior[c]``
    infinite), and never tiny (which would make an unseen pdf, whose posterior is
    small but not tiny, win every frame: the decoder then emits it everywhere).

    >>> np.round(np.exp(log_priors(np.array([1.0, 3.0]))), 2).tolist()
    [0.25, 0.75]
    >>> np.round(np.exp(log_priors(np.array([0.0, 1.0, 3.0]))), 2).tolist()
    [0.75, 0.25, 0.75]
    """
    c = np.asarray(counts, dtype=np.float64).copy()
    seen = c >= floor
    if not seen.any():
        return np.full(len(c), -np.log(max(len(c), 1)))
    total = c[seen].sum()
    c[~seen] = c[seen].max()
    return np.log(c / total)
