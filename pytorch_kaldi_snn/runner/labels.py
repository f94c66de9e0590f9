"""Labels: ``lab_folder`` + ``lab_opts`` (``ali-to-pdf``,
``ali-to-phones --per-frame``).

The alignments (``ali.*.gz`` plus the model of an exp dir) are read by the Kaldi readers
of :mod:`pytorch_kaldi_snn.kaldi`; this module only parses the command and dispatches:

- ``ali-to-pdf``                      -> per-frame pdf ids
- ``ali-to-phones --per-frame=true``  -> per-frame phone ids (the form upstream uses for
  a monophone label stream ``lab_mono``)

Class priors for the forward pass are label counts (``lab_count_file=auto``: counted
from the training alignments) or a Kaldi text vector file ``[ c0 c1 ... ]``::

    log_prior[c] = log(count[c] / sum_c count[c])
"""

from __future__ import annotations

import glob
import importlib
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
_READER_MODULES = (
    "pytorch_kaldi_snn.kaldi",
    "pytorch_kaldi_snn.kaldi.alignments",
    "pytorch_kaldi_snn.kaldi.ali",
    "pytorch_kaldi_snn.kaldi.align",
)


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


def _find_reader(name: str) -> Callable | None:
    return find_kaldi_function(name, _READER_MODULES)


def find_kaldi_function(name: str, modules: tuple[str, ...]) -> Callable | None:
    """The first callable ``name`` in ``modules`` (absent modules are skipped; a module
    that exists but fails to import raises DataError with the cause)."""
    for module_name in modules:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue  # no such module: try the next place
            raise DataError(f"{module_name} failed to import: {exc}") from exc
        except ImportError as exc:
            raise DataError(f"{module_name} failed to import: {exc}") from exc
        fn = getattr(module, name, None)
        if callable(fn):
            return fn
    return None


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
    reader = _find_reader(name)
    if reader is None:
        raise DataError(f"{lab_folder}: no alignment reader "
                        f"pytorch_kaldi_snn.kaldi.{name}"
                        " (is the Kaldi stack installed?)")
    table = reader(lab_folder)
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
    """``log(count / sum count)`` with unseen classes floored to ``floor`` counts.

    >>> np.round(np.exp(log_priors(np.array([1.0, 3.0]))), 2).tolist()
    [0.25, 0.75]
    """
    c = np.maximum(np.asarray(counts, dtype=np.float64), floor)
    return np.log(c / c.sum())
