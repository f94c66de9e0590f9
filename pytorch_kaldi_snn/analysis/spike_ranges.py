"""The spike quantisers' tracked ranges per epoch, read back from a run's checkpoints.

Every training chunk leaves ``exp_files/train_<data>_ep<E>_ck<C>_<section>.pkl``; the
last chunk of epoch E holds the ranges at the end of that epoch: the buffer ``range``
(``b`` of Eq. 22, ``...spike.range``) of the paper quantiser and the tracked extremes
of the authors' (``max|V|``, from ``...spike.min_tracked``/``max_tracked``). This is
what shows why a low-precision run fell silent (docs/benchmark.md).
"""

from __future__ import annotations

import re
from pathlib import Path

from pytorch_kaldi_snn.runner.checkpoint import load_checkpoint

_CKPT = re.compile(r"^train_.+_ep(\d+)_ck(\d+)_(architecture\d+)\.pkl$")


def _ranges_of(state: dict) -> dict[str, float]:
    out = {}
    for key, value in state.items():
        if key.endswith(".spike.range"):
            out[key.removesuffix(".spike.range")] = float(value)
        elif key.endswith(".spike.max_tracked"):
            layer = key.removesuffix(".spike.max_tracked")
            low = state.get(f"{layer}.spike.min_tracked")
            out[layer] = max(abs(float(value)), abs(float(low)) if low is not None
                             else 0.0)
    return out


def epoch_ranges(exp: str | Path) -> list[dict[str, float]]:
    """Per epoch (index = epoch), ``{"<section>.<layer>": range}`` at the epoch's end.

    Epochs without a checkpoint are left out of the end of the list; a run with no
    spiking quantiser gives dicts that are empty.
    """
    last: dict[tuple[int, str], tuple[int, Path]] = {}
    for path in Path(exp, "exp_files").glob("train_*.pkl"):
        m = _CKPT.match(path.name)
        if m:
            ep, ck, section = int(m.group(1)), int(m.group(2)), m.group(3)
            if (ep, section) not in last or ck > last[(ep, section)][0]:
                last[(ep, section)] = (ck, path)
    n = 1 + max((ep for ep, _ in last), default=-1)
    out: list[dict[str, float]] = [{} for _ in range(n)]
    for (ep, section), (_, path) in sorted(last.items()):
        state = load_checkpoint(str(path)).get("model_par", {})
        for layer, b in _ranges_of(state).items():
            out[ep][f"{section}.{layer}"] = b
    return out
