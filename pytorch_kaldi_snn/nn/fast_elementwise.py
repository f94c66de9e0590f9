r"""Element-wise pieces of the fused recurrence (:mod:`.fast_train`), per frame or for
all frames at once: the multi-bit spike with b fixed for the sequence, the gates, and
the gate factors the backward multiplies by :math:`g_I`.

Spike (Eq. 22 of the paper, step :math:`s = b / 2^n`, threshold :math:`k s`):
:math:`S(v) = s \cdot \mathrm{clamp}(\lfloor v / s \rfloor, 0, 2^n - 1) \cdot
[v > k s]` (relu when n is None), its straight-through derivative
:math:`S'(v) = [0 \le v \le b]`. Gates: :math:`F = \sigma(A_f)`,
:math:`C = \max(A_c, 0) \odot m`. Gate factors (v1, v2):
:math:`\partial I[n] / \partial A_f = (I[n-1] - C[n]) F (1 - F)` and
:math:`\partial I[n] / \partial A_c = [C[n] > 0] (1 - F) m`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from pytorch_kaldi_snn.nn import cstep


class SpikeParams:
    """Constants of the multi-bit spike for one sequence (b fixed within it)."""

    def __init__(self, b: Tensor, n_bits: int | None, k: int) -> None:
        self.b = b
        self.n_bits = n_bits
        if n_bits is not None:
            self.levels = 2**n_bits
            self.step = b / self.levels
            self.thr = k * self.step

    def apply_(self, v: Tensor, y: Tensor, keep: Tensor) -> None:
        """y <- spike(v), exactly as :func:`multibit_spike` (``keep``: float scratch).

        Comparisons write float 0/1 (bool outputs and ``masked_fill_`` are about five
        times slower on CPU); ``q * 1`` and ``q * 0`` are exact, q being finite.
        """
        if self.n_bits is None:
            torch.clamp(v, min=0, out=y)
            return
        torch.div(v, self.step, out=y)
        y.floor_().clamp_(0, self.levels - 1).mul_(self.step)
        torch.gt(v, self.thr, out=keep)
        y.mul_(keep)

    def derivative_mask(self, v: Tensor, out: Tensor, scratch: Tensor) -> Tensor:
        """out <- S'(v) as bool, the straight-through derivative: [0 <= v <= b]
        (relu: [v > 0]). ``scratch``: a bool buffer like v."""
        if self.n_bits is None:
            return torch.gt(v, 0, out=out)
        torch.ge(v, 0, out=out)
        torch.le(v, self.b, out=scratch)
        return out.logical_and_(scratch)

    def c_args(self) -> tuple[float, float, float, int, float]:
        """``(step, thr, top level, levels, b)`` for the C kernels (levels 0:
        relu)."""
        if self.n_bits is None:
            return 1.0, 0.0, 0.0, 0, 0.0
        return (float(self.step), float(self.thr), float(self.levels - 1),
                self.levels, float(self.b))


def _kernels(*tensors: Tensor | None) -> cstep.Fused | None:
    """The C recurrences when every given tensor is a contiguous CPU tensor of one
    float dtype and the library is available; else None (the torch loop runs)."""
    first = tensors[0]
    for t in tensors:
        if t is not None and (t.dtype != first.dtype or t.device.type != "cpu"
                              or not t.is_contiguous()):
            return None
    return cstep.fused(first.dtype)


def _gates(src: Tensor, f: Tensor, c: Tensor, mask: Tensor | None, h: int) -> None:
    """F = sigmoid(forget half), C = relu(candidate half) (* mask), any leading dims."""
    torch.sigmoid(src[..., :h], out=f)
    torch.clamp(src[..., h:], min=0, out=c)
    if mask is not None:
        c.mul_(mask)


def _gate_factors_(fc: Tensor, i_base: Tensor, mask: Tensor | None) -> Tensor:
    """dA_f / dI for all frames into ``i_base[:T]`` (returned; ``i_base[n]`` holds
    I[n-1]) and dA_c / dI into the C half of ``fc``, for the torch loop (the C
    backward forms them in its own pass, ``_fused.c``)."""
    h = fc.shape[-1] // 2
    d_f = i_base[:-1]
    f, c = fc[..., :h], fc[..., h:]
    torch.neg(c[0], out=d_f[0])
    d_f[1:].sub_(c[1:])  # I[n-1] - C[n]
    d_f.mul_(f)
    d_f.addcmul_(d_f, f, value=-1)  # x - x f = x (1 - f)
    torch.gt(c, 0, out=c)
    c.addcmul_(c, f, value=-1)
    if mask is not None:
        c.mul_(mask)
    return d_f
