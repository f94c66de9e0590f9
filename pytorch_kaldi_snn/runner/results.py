"""``res.res`` lines and newbob learning-rate halving.

One line per epoch, as upstream's ``dump_epoch_results``::

    ep=03 tr=['demo_train'] loss=1.234 err=0.321 valid=demo_dev loss=1.300 err=0.345 \
lr_architecture1=0.001 time(s)=12

Newbob (upstream run_exp.py): after epoch e (not the last), with mean validation errors
``E_prev`` and ``E``, if ``(E_prev - E) / E < improvement_threshold`` then the learning
rate of every later epoch becomes ``lr[e] * halving_factor``. It applies only to
architectures whose ``arch_lr`` is a single value (a ``|`` schedule is followed as
given).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

RES_LINE = re.compile(
    r"^ep=(?P<ep>\d+) tr=(?P<tr>\[.*?\]) loss=(?P<loss>[-\d.naif]+) "
    r"err=(?P<err>[-\d.naif]+) (?P<rest>.*)time\(s\)=(?P<time>\d+)$"
)


def format_res_line(ep: int, n_ep: int, tr_data: Sequence[str], tr_loss: float,
                    tr_err: float, valid: Mapping[str, tuple[float, float]],
                    lrs: Mapping[str, float], seconds: float) -> str:
    """One ``res.res`` line (no newline).

    >>> format_res_line(0, 2, ["tr"], 1.0, 0.5, {"dev": (1.1, 0.6)},
    ...                 {"architecture1": 0.001}, 3.2)
    "ep=0 tr=['tr'] loss=1.000 err=0.500 valid=dev loss=1.100 err=0.600 \
lr_architecture1=0.001 time(s)=3"
    """
    from pytorch_kaldi_snn.runner.checkpoint import index_format

    parts = [f"ep={ep:{index_format(n_ep)}}", f"tr={list(tr_data)}",
             f"loss={tr_loss:0.3f}", f"err={tr_err:0.3f}"]
    for name, (loss, err) in valid.items():
        parts += [f"valid={name}", f"loss={loss:0.3f}", f"err={err:0.3f}"]
    for arch, lr in lrs.items():
        parts.append(f"lr_{arch}={lr:g}")
    parts.append(f"time(s)={int(seconds)}")
    return " ".join(parts)


def parse_res_line(line: str) -> dict | None:
    """The fields of a training line of ``res.res`` (None for other lines, e.g.
    %WER)."""
    m = RES_LINE.match(line.strip())
    if not m:
        return None
    out = {"ep": int(m["ep"]), "loss": float(m["loss"]), "err": float(m["err"]),
           "time": int(m["time"]), "valid": {}, "lr": {}}
    for name, loss, err in re.findall(
        r"valid=(\S+) loss=([-\d.naif]+) err=([-\d.naif]+)", m["rest"]
    ):
        out["valid"][name] = (float(loss), float(err))
    for arch, lr in re.findall(r"lr_(\S+)=(\S+)", m["rest"]):
        out["lr"][arch] = float(lr)
    return out


def newbob(lrs: list[float], ep: int, err_prev: float, err: float,
           improvement_threshold: float, halving_factor: float) -> list[float]:
    """Return the per-epoch learning rates after epoch ``ep`` (pure; see module doc).

    >>> newbob([1.0, 1.0, 1.0], 0, 0.50, 0.49, 0.05, 0.5)
    [1.0, 0.5, 0.5]
    >>> newbob([1.0, 1.0, 1.0], 0, 0.50, 0.30, 0.05, 0.5)
    [1.0, 1.0, 1.0]
    """
    out = list(lrs)
    if ep >= len(lrs) - 1 or err <= 0.0:
        return out
    if (err_prev - err) / err < improvement_threshold:
        new = lrs[ep] * halving_factor
        for i in range(ep + 1, len(lrs)):
            out[i] = new
    return out
