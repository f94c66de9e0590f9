"""PyTorch-Kaldi-compatible checkpoint and ``.info`` files, written atomically.

Names (``exp_files/`` of the out folder)::

    train_<data>_ep<E>_ck<C>_<architectureN>.pkl   {"model_par", "optimizer_par", ...}
    train_<data>_ep<E>_ck<C>.info                  [results] loss, err,
                                                   elapsed_time_chunk
    valid_<data>_ep<E>_ck<C>.info                  (our extra: validation of that epoch)

E and C are zero padded to the width of the largest index (upstream's
``"0" + str(max(ceil(log10(N)), 1)) + "d"``). Upstream reads only ``model_par`` and
``optimizer_par``; we add ``rng_state`` (torch, numpy, python) and ``lr`` so that a
rerun after a kill continues exactly where it stopped.
"""

from __future__ import annotations

import io
import math
import os
import random
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from pytorch_kaldi_snn.errors import DataError
from pytorch_kaldi_snn.fileio import atomic_write_bytes, atomic_write_text


def index_format(n: int) -> str:
    """Upstream's zero-padding width for ``n`` epochs or chunks.

    >>> format(3, index_format(24)), format(0, index_format(1))
    ('03', '0')
    """
    return "0" + str(max(math.ceil(math.log10(n)), 1)) + "d"


def chunk_stem(kind: str, data: str, ep: int, ck: int, n_ep: int, n_ck: int) -> str:
    """``train_<data>_ep<E>_ck<C>`` with upstream's padding."""
    return f"{kind}_{data}_ep{ep:{index_format(n_ep)}}_ck{ck:{index_format(n_ck)}}"




def rng_state() -> dict:
    """The torch, numpy and python RNG states (CUDA too when initialised)."""
    state = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str, model_par: Mapping, optimizer_par: Mapping,
                    **extra: Any) -> None:
    """Write ``{"model_par", "optimizer_par", **extra}`` atomically with torch.save.

    The payload is serialised in memory first, so a full disk surfaces as the plain
    OSError of the write (:class:`~pytorch_kaldi_snn.fileio.DiskFullError`), not as
    torch's RuntimeError.
    """
    payload = {"model_par": dict(model_par), "optimizer_par": dict(optimizer_par)}
    payload.update(extra)
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(path, lambda fh: fh.write(buf.getbuffer()))


def load_checkpoint(path: str, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (or by upstream)."""
    if not os.path.exists(path):
        raise DataError(f"{path}: checkpoint not found")
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # a truncated or foreign file
        raise DataError(f"{path}: cannot read checkpoint ({exc})") from exc


def load_model_state(net: torch.nn.Module, state: Mapping[str, Any], path: str, *,
                     section: str | None = None) -> None:
    """``net.load_state_dict(state, strict=True)``; a parameter the model built from
    the cfg lacks, or has with another shape, is one DataError naming the checkpoint,
    the parameter and both shapes (the layer sizes changed since it was written)."""
    own = net.state_dict()
    arch = f" [{section}]" if section else ""
    for name, saved in state.items():
        if name in own and hasattr(saved, "shape") and \
                tuple(saved.shape) != tuple(own[name].shape):
            raise DataError(
                f"{path}: parameter {name} has shape {tuple(saved.shape)} in the "
                f"checkpoint but {tuple(own[name].shape)} in the model the cfg "
                f"builds{arch}; allowed: the sizes the checkpoint was trained with, "
                "or a new out_folder to train the new sizes")
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    if missing or extra:
        raise DataError(
            f"{path}: the checkpoint does not fit the model the cfg builds{arch} "
            f"(missing: {', '.join(missing[:3]) or '-'}; unexpected: "
            f"{', '.join(extra[:3]) or '-'}); allowed: the architecture the "
            "checkpoint was trained with, or a new out_folder")
    net.load_state_dict(state, strict=True)


def write_info(path: str, loss: float, err: float, elapsed: float,
               **extra: Any) -> None:
    """Upstream's ``.info`` file: a ``[results]`` section with loss, err and time."""
    lines = ["[results]", f"loss={loss}", f"err={err}", f"elapsed_time_chunk={elapsed}"]
    lines += [f"{k}={v}" for k, v in extra.items()]
    atomic_write_text(path, "\n".join(lines) + "\n")


def read_info(path: str) -> dict[str, float]:
    """Read a ``.info`` file's numeric values."""
    out: dict[str, float] = {}
    with open(path) as fh:
        for line in fh:
            key, sep, value = line.strip().partition("=")
            if sep:
                try:
                    out[key] = float(value)
                except ValueError:
                    continue
    return out
