"""Kaldi file I/O of the stack: atomic writes, symbol tables, text tables, ark/scp
matrices (kaldiio), gzipped int-vector alignment arks, OpenFst files, features.

Every file we produce is first written under a temporary name in its destination folder
and then renamed with :func:`os.replace`, so a crash never leaves a half-written file
under the final name.
"""

from __future__ import annotations

import gzip
import os
import struct
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Callable, Union

import numpy as np

from pytorch_kaldi_snn.errors import DataError
from pytorch_kaldi_snn.fileio import atomic_path
from pytorch_kaldi_snn.fileio import atomic_write_text as write_text

PathLike = Union[str, os.PathLike]


def write_with(path: PathLike, writer: Callable[[str], object]) -> None:
    """Atomically create ``path`` by calling ``writer(tmp_name)``."""
    with atomic_path(path) as tmp:
        writer(tmp)


def read_rows(path: PathLike, what: str = "table") -> list[tuple[str, list[str]]]:
    """Read a Kaldi text table (``key field...`` per line) keeping the order.

    Raises DataError naming the file when it is missing.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {what} file not found")
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if parts:
                rows.append((parts[0], parts[1:]))
    return rows


def read_symbols(path: PathLike) -> dict[str, int]:
    """Read a symbol table (``symbol id`` per line) into {symbol: id}."""
    table = {}
    for key, rest in read_rows(path, "symbol table"):
        if len(rest) != 1 or not rest[0].lstrip("-").isdigit():
            raise DataError(f"{path}: bad symbol-table line for {key!r}: expected "
                            "'symbol integer-id'")
        table[key] = int(rest[0])
    return table


def write_symbols(path: PathLike, symbols: Sequence[str]) -> dict[str, int]:
    """Write ``symbols`` numbered 0.. in order; return the mapping."""
    table = {s: i for i, s in enumerate(symbols)}
    write_text(path, "".join(f"{s} {i}\n" for s, i in table.items()))
    return table


def write_int_ali_gz(path: PathLike, ali: Mapping[str, np.ndarray]) -> None:
    """Write {utt: int vector} as a gzipped Kaldi binary int-vector ark (ali.N.gz)."""
    import kaldiio

    def _write(tmp: str) -> None:
        with gzip.open(tmp, "wb") as f:
            for utt in ali:
                kaldiio.save_ark(f, {utt: np.asarray(ali[utt], dtype=np.int32)})

    write_with(path, _write)


def read_int_ali_gz(path: PathLike) -> Iterator[tuple[str, np.ndarray]]:
    """Yield (utt, int32 vector) from a gzipped (or plain) Kaldi int-vector ark.

    A truncated or corrupt file raises DataError naming the file and the last good
    utterance.
    """
    import kaldiio

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: alignment file not found")
    opener = gzip.open if path.suffix == ".gz" else open
    last = None
    try:
        with opener(path, "rb") as f:
            for utt, vec in kaldiio.load_ark(f):
                last = utt
                yield utt, np.asarray(vec, dtype=np.int32)
    except (EOFError, OSError, ValueError, TypeError, KeyError, AssertionError,
            struct.error) as exc:
        after = f" after utterance {last!r}" if last else " at its first utterance"
        raise DataError(f"{path}: truncated or corrupt alignment ark{after}: "
                        f"{exc}") from exc


def read_fst(path: PathLike):
    """Read an OpenFst StdVectorFst (kaldifst), DataError naming the file on failure."""
    from pytorch_kaldi_snn.kaldi._backend import kaldifst

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: FST file not found")
    try:
        return kaldifst.StdVectorFst.read(str(path))
    except Exception as exc:  # the binding raises RuntimeError subclasses
        raise DataError(f"{path}: not a readable OpenFst file: {exc}") from exc


def read_feats_scp(path: PathLike,
                   kind: str | None = None) -> Iterator[tuple[str, np.ndarray]]:
    """Yield (utt, float32 [T, D]) from a feats.scp or an ``ark`` file (``kind``
    ``"scp"`` or ``"ark"``; by default from the file name's suffix)."""
    import kaldiio

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: feature file not found")
    kind = kind or ("scp" if path.suffix == ".scp" else "ark")
    last = None
    try:
        if kind == "scp":
            reader = kaldiio.load_scp_sequential(str(path))
        else:
            reader = kaldiio.load_ark(str(path))
        for utt, mat in reader:
            last = utt
            yield utt, np.ascontiguousarray(mat, dtype=np.float32)
    except (EOFError, OSError, ValueError, TypeError, KeyError, AssertionError,
            struct.error) as exc:
        after = f" after utterance {last!r}" if last else ""
        raise DataError(f"{path}: cannot read features{after}: {exc}") from exc


def read_table(path: PathLike, what: str = "table") -> dict[str, str]:
    """{key: rest of line} of a Kaldi text table (text, utt2spk, text_phones)."""
    return {k: " ".join(v) for k, v in read_rows(path, what)}


def read_matrices(spec: PathLike) -> dict[str, np.ndarray]:
    """All matrices of an ark or scp file (``scp:``/``ark:`` prefixes allowed)."""
    return {u: m for u, m in _matrices(str(spec))}


def _matrices(spec: str) -> Iterator[tuple[str, np.ndarray]]:
    kind = None
    if spec.startswith(("scp:", "ark:")):
        kind, spec = spec[:3], spec[4:]
    yield from read_feats_scp(spec, kind)


def add_deltas(x: np.ndarray, order: int = 2, window: int = 2) -> np.ndarray:
    r"""Kaldi's ``add-deltas``: :math:`d_t = \sum_{i=1}^{N} i (c_{t+i} - c_{t-i}) /
    (2 \sum_i i^2)` applied ``order`` times, edges replicated."""
    outs, cur = [x], x
    denom = 2 * sum(i * i for i in range(1, window + 1))
    for _ in range(order):
        pad = np.pad(cur, ((window, window), (0, 0)), mode="edge")
        t = len(cur)
        cur = sum(i * (pad[window + i:window + i + t] - pad[window - i:window - i + t])
                  for i in range(1, window + 1)) / denom
        outs.append(cur)
    return np.concatenate(outs, axis=1).astype(np.float32)


def load_features(data_dir: PathLike, deltas: int = 2) -> dict[str, np.ndarray]:
    """``apply-cmvn --utt2spk`` (means) ``| add-deltas`` on a data folder's
    feats.scp."""
    d = Path(data_dir)
    feats = dict(read_feats_scp(d / "feats.scp"))
    if (d / "cmvn.scp").is_file():
        stats = dict(read_feats_scp(d / "cmvn.scp"))
        utt2spk = read_table(d / "utt2spk") if (d / "utt2spk").is_file() else {}
        for utt, x in feats.items():
            s = stats.get(utt2spk.get(utt, utt))
            if s is None:
                raise DataError(f"{d / 'cmvn.scp'}: no statistics for the speaker of "
                                f"utterance {utt}")
            feats[utt] = x - s[0, :-1] / max(float(s[0, -1]), 1.0)
    return {u: add_deltas(x, deltas) if deltas else x for u, x in feats.items()}
