"""Kaldi data-dir and table I/O (kaldiio for ark/scp), with located errors."""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Dict, Iterable, List, Tuple

import numpy as np

from pytorch_kaldi_snn.errors import DataError
from pytorch_kaldi_snn.fileio import atomic_write_text  # noqa: F401  (re-exported)


def read_table(path, min_fields: int = 2) -> Dict[str, str]:
    """``key rest-of-line`` files (text, utt2spk, wav.scp, ...)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    out = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.strip().split(maxsplit=1)
        if not parts:
            continue
        if len(parts) < min_fields:
            raise DataError(f"{path}:{n}: utterance {parts[0]} has no value")
        out[parts[0]] = parts[1] if len(parts) > 1 else ""
    return out


def read_matrices(rspec: str) -> Dict[str, np.ndarray]:
    """All matrices of an scp/ark (``scp:feats.scp``, ``ark:x.ark`` or a plain path)."""
    import kaldiio

    if ":" not in rspec.split("/")[0]:
        rspec = ("scp:" if rspec.endswith(".scp") else "ark:") + rspec
    try:
        with kaldiio.ReadHelper(rspec) as reader:
            return {k: np.asarray(v) for k, v in reader}
    except Exception as exc:  # kaldiio raises many types on corrupt input
        raise DataError(f"{rspec}: cannot read Kaldi table ({exc})") from None


def load_features(data_dir, *, cmvn: bool = True,
                  deltas: int = 2) -> Dict[str, np.ndarray]:
    """feats.scp with per-speaker CMVN (means only) and deltas, as ``apply-cmvn |
    add-deltas`` would give."""
    d = Path(data_dir)
    feats = read_matrices(f"scp:{d / 'feats.scp'}")
    if cmvn and (d / "cmvn.scp").is_file():
        stats = read_matrices(f"scp:{d / 'cmvn.scp'}")
        utt2spk = read_table(d / "utt2spk")
        for utt, x in feats.items():
            s = stats.get(utt2spk.get(utt, utt))
            if s is None:
                raise DataError(f"{d / 'cmvn.scp'}: no statistics for the speaker "
                                f"of {utt}")
            feats[utt] = x - s[0, :-1] / max(s[0, -1], 1.0)
    if deltas:
        feats = {u: add_deltas(x, deltas) for u, x in feats.items()}
    return feats


def add_deltas(x: np.ndarray, order: int = 2, window: int = 2) -> np.ndarray:
    """Kaldi's add-deltas (regression over +-window frames, edges replicated)."""
    outs = [x]
    cur = x
    denom = 2 * sum(i * i for i in range(1, window + 1))
    for _ in range(order):
        pad = np.pad(cur, ((window, window), (0, 0)), mode="edge")
        t = len(cur)
        d = sum(i * (pad[window + i: window + i + t] - pad[window - i: window - i + t])
                for i in range(1, window + 1)) / denom
        outs.append(d)
        cur = d
    return np.concatenate(outs, axis=1).astype(np.float32)


def write_int_vectors(path, table: Iterable[Tuple[str, np.ndarray]]) -> None:
    """A gzipped Kaldi int-vector ark (what ``ark:| gzip -c > ali.1.gz`` holds),
    written to a temporary name and renamed."""
    import kaldiio

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with gzip.open(tmp, "wb") as f:
        for key, vec in table:
            kaldiio.save_ark(f, {key: np.asarray(vec, dtype=np.int32)})
    os.replace(tmp, path)


def read_int_vectors(paths: List[str]) -> Dict[str, np.ndarray]:
    import kaldiio

    out = {}
    for p in paths:
        try:
            with gzip.open(p, "rb") as f:
                for key, vec in kaldiio.load_ark(f):
                    out[key] = np.asarray(vec, dtype=np.int64)
        except Exception as exc:  # kaldiio raises struct.error, ValueError, ...
            raise DataError(f"{p}: corrupt alignment archive ({exc})") from None
    return out


