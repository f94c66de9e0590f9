"""Kaldi feature tables (scp or ark), read through kaldiio with every matrix checked.

Each problem is one :class:`~pytorch_kaldi_snn.errors.DataError` naming the file (and
scp line or utterance), what was found and what is allowed:

- the scp is a folder, not text, empty, or has a line without ``UTT FILE[:OFFSET]``
  or an utterance listed twice;
- a matrix cannot be read (truncated or corrupt ark, an scp entry without ``:OFFSET``
  that points into an ark of several matrices): kaldiio's exception is replaced by the
  file position and the cause;
- a matrix is not 2-D, has no frames, holds a NaN or Inf (first bad frame and column
  named), or has another dimension than the table's first utterance.

Checking happens as matrices are read, so it is part of every read and comes before
any normalisation.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

import kaldiio
import numpy as np

from pytorch_kaldi_snn.errors import DataError

SCP_LINE = "one 'UTT FILE:OFFSET' line per utterance (kaldiio.save_ark(..., scp=...) " \
    "and Kaldi's copy-feats write them)"


def split_rspecifier(rspecifier: str) -> tuple[str, str]:
    """``scp:PATH``/``ark:PATH`` (Kaldi's ``,s``-style flags dropped) or a bare path
    (``.scp`` suffix: scp) -> ``(kind, path)``.

    >>> split_rspecifier("ark,s,cs:feats.ark"), split_rspecifier("a/feats.scp")
    (('ark', 'feats.ark'), ('scp', 'a/feats.scp'))
    """
    kind, _, path = rspecifier.partition(":")
    if not path:
        kind, path = ("scp" if rspecifier.endswith(".scp") else "ark"), rspecifier
    kind = kind.split(",")[0]
    if kind not in ("scp", "ark"):
        raise DataError(f"{rspecifier}: expected scp:PATH or ark:PATH")
    if os.path.isdir(path):
        raise DataError(f"{path}: is a directory; allowed: a Kaldi {kind} file")
    if not os.path.exists(path):
        raise DataError(f"{rspecifier}: file not found")
    return kind, path


def parse_scp(path: str) -> dict[str, tuple[str, int]]:
    """``{utt: (rxfile, line number)}`` in file order; blank lines are skipped."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text scp file (binary data?); allowed: "
                        f"{SCP_LINE}, or name an ark as ark:{path}") from None
    out: dict[str, tuple[str, int]] = {}
    for number, line in enumerate(lines, 1):
        fields = line.split(maxsplit=1)
        if not fields:
            continue
        if len(fields) < 2:
            raise DataError(f"{path}:{number}: scp line without a file (got "
                            f"{line.strip()!r}); allowed: {SCP_LINE}")
        utt, rxfile = fields[0], fields[1].strip()
        if utt in out:
            raise DataError(f"{path}:{number}: utterance {utt} is listed twice (first "
                            f"on line {out[utt][1]}); allowed: {SCP_LINE}")
        out[utt] = (rxfile, number)
    if not out:
        raise DataError(f"{path}: no utterances (the file is empty); allowed: "
                        f"{SCP_LINE}")
    return out


def check_matrix(x, utt: str, where: str, what: str = "features") -> np.ndarray:
    """``x`` as a ``[T, D]`` array (dtype kept) with T > 0 and only finite values."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] == 0:
        raise DataError(f"{where}: utterance {utt}: {what} of shape {x.shape}; "
                        "allowed: a matrix with at least one frame")
    bad = ~np.isfinite(x)
    if bad.any():
        frame, column = (int(i) for i in np.argwhere(bad)[0])
        raise DataError(
            f"{where}: utterance {utt} frame {frame} (of {x.shape[0]}) column "
            f"{column}: {what} value {x[frame, column]} is not finite "
            f"({int(bad.any(axis=1).sum())} such frame(s)); allowed: finite values "
            "(recompute this utterance or remove it from the list)")
    return x


class FeatureTable(Mapping):
    """A checked, read-only ``{utt: [T, D] float32}`` view of a Kaldi table.

    scp tables are read lazily, one matrix per access; ark tables are read whole when
    opened. ``what`` names the content in messages (``features``, ``cmvn stats``).
    """

    def __init__(self, rspecifier: str, what: str = "features") -> None:
        self.rspecifier = rspecifier
        self.what = what
        self.kind, self.path = split_rspecifier(rspecifier)
        self._first: tuple[str, int] | None = None
        if self.kind == "scp":
            self._scp = parse_scp(self.path)
            self._ark: dict[str, np.ndarray] = {}
        else:
            self._scp = {}
            self._ark = self._read_ark()

    def _read_ark(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        try:
            for utt, mat in kaldiio.load_ark(self.path):
                out[utt] = mat
        except Exception as exc:  # noqa: BLE001 - kaldiio raises many kinds here
            after = f"after utterance {list(out)[-1]}" if out else "at its start"
            raise DataError(f"{self.path}: cannot read the ark {after}: "
                            f"{_cause(exc)}; allowed: a complete Kaldi ark (the file "
                            "is truncated or corrupt: write it again)") from None
        if not out:
            raise DataError(f"{self.path}: the ark holds no utterances")
        return out

    def where(self, utt: str) -> str:
        if self.kind == "scp":
            rxfile, line = self._scp[utt]
            return f"{self.path}:{line} ({rxfile})"
        return self.path

    def _raw(self, utt: str):
        if self.kind == "ark":
            return self._ark[utt]
        rxfile = self._scp[utt][0]
        try:
            return kaldiio.load_mat(rxfile)
        except FileNotFoundError:
            raise DataError(f"{self.where(utt)}: utterance {utt}: file not found"
                            ) from None
        except Exception as exc:  # noqa: BLE001 - kaldiio raises many kinds here
            hint = "a complete Kaldi ark (the file is truncated or corrupt: write it " \
                "again)"
            if not rxfile.rstrip().endswith("|") and ":" not in os.path.basename(
                    rxfile):
                hint = "FILE:OFFSET into an ark, or a FILE that holds exactly one " \
                    "matrix (this entry has no :OFFSET)"
            raise DataError(f"{self.where(utt)}: cannot read the {self.what} of "
                            f"utterance {utt}: {_cause(exc)}; allowed: {hint}"
                            ) from None

    def __getitem__(self, utt: str) -> np.ndarray:
        if utt not in self._scp and utt not in self._ark:
            raise KeyError(utt)
        x = check_matrix(self._raw(utt), utt, self.where(utt), self.what)
        first, dim = self.first_dim()
        if x.shape[1] != dim:
            raise DataError(f"{self.where(utt)}: utterance {utt} has "
                            f"{x.shape[1]}-dim {self.what}, the first utterance "
                            f"({first}) has {dim}; allowed: {dim} columns in every "
                            "utterance of the table")
        return x

    def first_dim(self) -> tuple[str, int]:
        """The first utterance and its dimension (what every other must match)."""
        if self._first is None:
            utt = next(iter(self))
            x = check_matrix(self._raw(utt), utt, self.where(utt), self.what)
            self._first = (utt, int(x.shape[1]))
        return self._first

    def __iter__(self) -> Iterator[str]:
        return iter(self._scp if self.kind == "scp" else self._ark)

    def __len__(self) -> int:
        return len(self._scp if self.kind == "scp" else self._ark)


def scan_table(rspecifier: str) -> tuple[dict[str, int], int]:
    """Read every matrix of a feature table once: ``({utt: frames}, dim)``; the first
    problem raises DataError (see the module docstring)."""
    table = FeatureTable(rspecifier)
    lengths = {utt: int(table[utt].shape[0]) for utt in table}
    return lengths, table.first_dim()[1]


def _cause(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
