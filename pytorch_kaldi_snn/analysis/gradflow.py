"""Gradient flow through time: the paper's Section 3 argument, measured.

For a sequence x[0..T-1] and the last frame's *synaptic current* s = I[T-1] (the cell
state c for an LSTM, the hidden state h for a GRU), we measure

    g(d) = || d(u . s) / d x[T-1-d] ||_2,    d = 0 .. T-1,

with u a fixed random Gaussian direction per sequence (so that E g(d)^2 is the squared
Frobenius norm of the Jacobian ds/dx[T-1-d]), averaged over a batch of random
sequences. The traditional layer's current obeys I[n] = beta I[n-1] + x[n] W (Eq. 7),
hence ds/dx[T-1-d] = beta^d W^T exactly and g(d) = beta^d g(0) for every input: a fixed
exponential decay. In v1/v2 the forget gate F[n] (Eq. 16, 19) replaces beta, so
ds/dx[T-1-d] carries prod F, which depends on the input and can stay close to 1 when
the gate saturates (``forget_bias`` shifts the gate's pre-activation to show that).

Layers are built at random initialisation in eval mode (batch norm with its initial
running statistics is the identity; no dropout), full precision or ``n_bits`` bits.
The spiking layers are the package's ``nn.SpikingLayer`` (its reference ``run``, which
returns the final state); LSTM and GRU are torch's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

logger = logging.getLogger(__name__)

MODELS = ("traditional", "v1", "v2", "gru", "lstm")


@dataclass(frozen=True)
class FlowCurve:
    """g(d) statistics over the batch for d = 0 .. T-1."""

    model: str
    distance: np.ndarray
    mean: np.ndarray
    p10: np.ndarray
    p90: np.ndarray

    def normalised(self) -> np.ndarray:
        """``mean / mean[0]`` (NaN where mean[0] is zero)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.mean / self.mean[0]


def input_gradient_norms(
    final_state: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, seed: int = 0
) -> torch.Tensor:
    """``[T, B]`` norms of d(u . final_state(x)) / dx[t] for a random direction u.

    ``final_state`` maps ``x [T, B, F]`` to the state ``[B, H]`` at the last frame.
    """
    x = x.detach().clone().requires_grad_(True)
    s = final_state(x)
    gen = torch.Generator().manual_seed(seed + 1)
    u = torch.randn(s.shape, generator=gen, dtype=s.dtype).to(s.device)
    (grad,) = torch.autograd.grad((s * u).sum(), x)
    return grad.norm(dim=-1)


def _dense_final_state(model: str, input_size: int, hidden_size: int) -> Callable:
    if model == "lstm":
        rnn: nn.Module = nn.LSTM(input_size, hidden_size)

        def final(x: torch.Tensor) -> torch.Tensor:
            return rnn(x)[1][1][0]  # c at the last frame
    else:
        rnn = nn.GRU(input_size, hidden_size)

        def final(x: torch.Tensor) -> torch.Tensor:
            return rnn(x)[1][0]  # h at the last frame
    rnn.eval()
    return final


def _spiking_final_state(
    model: str, input_size: int, hidden_size: int, *, n_bits: int | None, k: int,
    beta: float, forget_bias: float,
) -> Callable:
    """I[T-1] of a fresh ``nn.SpikingLayer`` (its reference ``run``), in eval mode.

    ``forget_bias`` is written into the batch-norm shift of the forget-gate half
    (v1/v2), i.e. added to the gate's pre-activation.
    """
    from pytorch_kaldi_snn.nn import MultiBitSpike, SpikingLayer

    layer = SpikingLayer(
        input_size, hidden_size, model, MultiBitSpike(n_bits=n_bits, k=k), beta=beta
    ).eval()
    if forget_bias and model != "traditional":
        with torch.no_grad():
            shift = layer.bn.bias if layer.bn is not None else layer.w_in.bias
            shift[:hidden_size] += forget_bias

    def final(x: torch.Tensor) -> torch.Tensor:
        return layer.run(x)[1].i

    return final


def gradient_flow(
    model: str,
    *,
    input_size: int = 40,
    hidden_size: int = 128,
    frames: int = 60,
    batch: int = 16,
    n_bits: int | None = None,
    k: int = 4,
    beta: float = 0.9,
    forget_bias: float = 0.0,
    seed: int = 0,
) -> FlowCurve:
    """g(d) of one freshly initialised layer of ``model`` (see the module docstring)."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; allowed: {', '.join(MODELS)}")
    torch.manual_seed(seed)
    if model in ("lstm", "gru"):
        final = _dense_final_state(model, input_size, hidden_size)
    else:
        final = _spiking_final_state(
            model, input_size, hidden_size, n_bits=n_bits, k=k, beta=beta,
            forget_bias=forget_bias,
        )
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(frames, batch, input_size, generator=gen)
    norms = input_gradient_norms(final, x, seed).detach().flip(0).numpy()  # [d, B]
    return FlowCurve(
        model=model,
        distance=np.arange(frames),
        mean=norms.mean(axis=1),
        p10=np.percentile(norms, 10, axis=1),
        p90=np.percentile(norms, 90, axis=1),
    )


def write_csv(path: str, curves: Sequence[FlowCurve]) -> None:
    """Atomic CSV: model, distance, grad_norm_mean, p10, p90, normalised."""
    from pytorch_kaldi_snn.fileio import atomic_write_text

    lines = ["model,distance,grad_norm_mean,grad_norm_p10,grad_norm_p90,normalised"]
    for c in curves:
        norm = c.normalised()
        for i, d in enumerate(c.distance):
            lines.append(
                f"{c.model},{int(d)},{c.mean[i]:.6e},{c.p10[i]:.6e},{c.p90[i]:.6e},"
                f"{norm[i]:.6e}"
            )
    atomic_write_text(path, "\n".join(lines) + "\n")


def plot(path: str, curves: Sequence[FlowCurve], title: str = "") -> None:
    """PNG with a log y axis: normalised g(d) per model, 10-90 % band (atomic)."""
    import matplotlib

    from pytorch_kaldi_snn.fileio import atomic_path

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for c in curves:
        base = c.mean[0] if c.mean[0] > 0 else 1.0
        ax.plot(c.distance, c.mean / base, label=c.model)
        ax.fill_between(c.distance, c.p10 / base, c.p90 / base, alpha=0.15)
    ax.set_yscale("log")
    ax.set_xlabel("time distance d (frames)")
    ax.set_ylabel("||d s[T-1] / d x[T-1-d]|| / value at d=0")
    ax.set_title(title or "gradient of the last synaptic current vs distance")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=120, format="png")
    finally:
        plt.close(fig)
