r"""Multi-bit spike activations with a straight-through gradient.

Paper version (Ponghiran & Roy, AAAI 2022, Eq. 22), unsigned with :math:`2^N` levels:

.. math::

    \Delta = b / 2^N, \qquad
    Y = \begin{cases}
        \min(\lfloor V / \Delta \rfloor, 2^N - 1)\,\Delta & V > \gamma \\
        0 & \text{otherwise}
    \end{cases}, \qquad \gamma = k \Delta

``b`` is the range of the membrane potential (an EMA of its per-batch maximum, kept by
:class:`pytorch_kaldi_snn.nn.MultiBitSpike`). The backward pass is the straight-through
estimator :math:`\partial Y / \partial V = 1` for :math:`0 \le V \le b`, 0 elsewhere, so
the surrogate and the real activation differ only by the quantisation step (the paper's
fix for the gradient mismatch of binary spikes). ``n_bits=None`` is full precision,
:math:`Y = \mathrm{relu}(V)`.

The authors' release uses a signed, symmetric quantiser instead
(:func:`symmetric_spike`), with :math:`m = \max|V|` its tracked range and
:math:`n = 2^{N-1}`:

.. math::

    s = \frac{n (1 - 10^{-4})}{m} \ (s = 1 - 10^{-4} \text{ when } m = 0), \qquad
    q = \mathrm{trunc}(s \, \mathrm{clamp}(V, -m, m)), \qquad
    Y = \begin{cases} q / s & |q| > \text{threshold} \\ 0 & \text{otherwise}
        \end{cases}

so at most :math:`n - 1` levels per sign, every output is 0 while :math:`m = 0` (before
any training batch), and with N = 1 every output is 0 (:math:`|sV| < 1`). Backward:
identity where :math:`|V| \le m`, 0 elsewhere (the clamp's gradient times the
straight-through estimator).
"""

from __future__ import annotations

import torch
from torch import Tensor


class _MultiBitSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v: Tensor, b: Tensor, n_bits: int, k: int) -> Tensor:  # type: ignore[override]
        levels = 2**n_bits
        step = b / levels
        q = torch.floor(v / step).clamp_(0, levels - 1)
        y = torch.where(
            v > k * step, q * step, torch.zeros((), dtype=v.dtype, device=v.device)
        )
        ctx.save_for_backward(v, b)
        return y

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        v, b = ctx.saved_tensors
        inside = (v >= 0) & (v <= b)
        return grad * inside.to(grad.dtype), None, None, None


def multibit_spike(v: Tensor, b: Tensor, n_bits: int | None, k: int) -> Tensor:
    """Quantise membrane potentials ``v`` into multi-bit spikes (Eq. 22).

    Args:
        v: membrane potentials, any shape.
        b: range of the membrane potential, a positive 0-dim tensor.
        n_bits: output bits N (1..16), or None for full precision (relu).
        k: threshold multiple, gamma = k * b / 2^N (0 <= k < 2^N).

    >>> v = torch.tensor([-1.0, 0.1, 0.3, 0.55, 0.99, 2.0])
    >>> multibit_spike(v, torch.tensor(1.0), n_bits=2, k=1)
    tensor([0.0000, 0.0000, 0.2500, 0.5000, 0.7500, 0.7500])
    """
    if n_bits is None:
        return torch.relu(v)
    return _MultiBitSpike.apply(v, b, n_bits, k)


def symmetric_scale(max_abs: Tensor, n_bits: int) -> Tensor:
    """The authors' scale ``s = 2^(N-1) (1 - 1e-4) / max_abs`` (``max_abs = 0`` counts
    as ``2^(N-1)``, so s = 1 - 1e-4 there).

    >>> symmetric_scale(torch.tensor([2.0, 0.0]), 3)
    tensor([1.9998, 0.9999])
    """
    n = 2 ** (n_bits - 1)
    sat = torch.where(max_abs == 0, torch.full_like(max_abs, n), max_abs)
    return n * (1 - 1e-4) / sat


class _SymmetricSpike(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx, v: Tensor, max_abs: Tensor, scale: Tensor, threshold: float
    ) -> Tensor:
        m = max_abs.to(v.dtype)
        q = torch.trunc(scale.to(v.dtype) * torch.minimum(torch.maximum(v, -m), m))
        q = torch.where(q.abs() <= threshold, torch.zeros_like(q), q)
        ctx.save_for_backward(v, m)
        return q / scale.to(v.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        v, m = ctx.saved_tensors
        inside = v.abs() <= m
        return grad * inside.to(grad.dtype), None, None, None


def symmetric_spike(
    v: Tensor,
    max_abs: Tensor,
    n_bits: int,
    threshold: float,
    scale: Tensor | None = None,
) -> Tensor:
    """The authors' signed quantiser (module docstring): ``max_abs`` is the tracked
    range m, ``scale`` defaults to :func:`symmetric_scale` of it.

    >>> symmetric_spike(torch.tensor([-0.9, -0.2, 0.3, 0.8]), torch.tensor(1.0), 3, 1)
    tensor([-0.7501,  0.0000,  0.0000,  0.7501])
    """
    if scale is None:
        scale = symmetric_scale(max_abs, n_bits)
    return _SymmetricSpike.apply(v, max_abs, scale, threshold)
