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
(:func:`symmetric_spike`): :math:`L = 2^{N-1}`, :math:`q = \mathrm{trunc}(V L / s)`
clamped to :math:`\pm(L-1)`, zeroed where :math:`|q| \le` ``threshold``,
:math:`Y = q s / L`.
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


class _SymmetricSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v: Tensor, scale: Tensor, n_bits: int, threshold: float) -> Tensor:  # type: ignore[override]
        levels = 2 ** (n_bits - 1)
        q = torch.trunc(v * levels / scale).clamp_(-(levels - 1), levels - 1)
        q = torch.where(q.abs() <= threshold, torch.zeros_like(q), q)
        ctx.save_for_backward(v, scale)
        return q * (scale / levels)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        v, scale = ctx.saved_tensors
        inside = v.abs() <= scale
        return grad * inside.to(grad.dtype), None, None, None


def symmetric_spike(v: Tensor, scale: Tensor, n_bits: int, threshold: float) -> Tensor:
    """The authors' signed quantiser: 2^(N-1) - 1 levels per sign, zero where
    |q| <= threshold.

    >>> symmetric_spike(torch.tensor([-0.9, -0.2, 0.3, 0.8]), torch.tensor(1.0), 3, 1)
    tensor([-0.7500,  0.0000,  0.0000,  0.7500])
    """
    return _SymmetricSpike.apply(v, scale, n_bits, threshold)
