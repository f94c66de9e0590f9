r"""Batch norm of the fused layers' input projections, in C, into pooled buffers.

``nn.BatchNorm1d`` on the ``[T*B, G*H]`` projections of a 2 x 550 layer allocates a
fresh 28-56 MB output in the forward and another for the input gradient in the
backward; on our CPU machine each such allocation costs ~0.4 ms per MB of page faults
(glibc maps blocks over 32 MB afresh every time), more than the arithmetic. Here the
training-mode batch norm is one :class:`torch.autograd.Function` whose output and
input gradient are :mod:`.fast_workspace` buffers, computed by the ``pks_bn_*``
kernels of ``_fused.c`` (two passes for the statistics, one to normalise, two for the
backward). Each sum over the rows is taken over fixed blocks of rows (:func:`blocks`)
spread over the threads, and the blocks' sums are added in a fixed order: the result
does not depend on the thread count. Over the rows r of X (N of them):

.. math::

    \mu = \frac1N \sum_r X_r, \quad \sigma^2 = \frac1N \sum_r (X_r - \mu)^2, \quad
    a = \frac{w}{\sqrt{\sigma^2 + \epsilon}}, \quad
    Y_r = (X_r a + (b - \mu a)) \odot M_{r \bmod B}

with the optional per-sequence mask M ``[B, C]`` (the traditional neuron's dropout of
its input current, which the reference applies to the batch-norm output), and

.. math::

    G_r = g_{Y_r} \odot M_{r \bmod B}, \quad
    g_{X_r} = a \Big(G_r - \frac1N \sum_s G_s - (X_r - \mu)
        \frac{\sum_s G_s (X_s - \mu)}{N (\sigma^2 + \epsilon)}\Big), \quad
    g_w = \frac{\sum_r G_r (X_r - \mu)}{\sqrt{\sigma^2 + \epsilon}}, \quad
    g_b = \sum_r G_r.

The running statistics are updated exactly as ``nn.BatchNorm1d`` does (momentum, or
the cumulative average when it is None; the unbiased variance
:math:`\sigma^2 N / (N - 1)`; ``num_batches_tracked`` + 1). :func:`batch_norm` returns
None (the caller runs the module) outside training mode, without affine parameters or
running statistics, for fewer than two rows, or without the C kernels. The fused
traditional and v1 recurrences apply the normalisation inside their own kernels: they
take the pieces (:func:`statistics`, :func:`apply_into`, :func:`grad`).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from pytorch_kaldi_snn.nn import fast_c, parallel
from pytorch_kaldi_snn.nn.fast_workspace import take


def _kernels(dtype: torch.dtype):
    """``(sums, apply, grad_sums, grad_apply)`` C functions for ``dtype``, or None."""
    fns = tuple(fast_c.kernel(f"pks_bn_{name}", dtype)
                for name in ("sums", "apply", "grad_sums", "grad_apply"))
    return None if None in fns else fns


#: most blocks of rows a sum over the rows is cut into, and least rows per block
BLOCKS, BLOCK_ROWS = 8, 256


def blocks(rows: int) -> list[tuple[int, int]]:
    """The blocks of rows each sum over the rows is taken over, then added in this
    order: fixed by ``rows`` alone, so the sums do not depend on how many threads
    share the blocks.

    >>> blocks(12800)[:2], len(blocks(12800)), blocks(300)
    ([(0, 1600), (1600, 3200)], 8, [(0, 300)])
    """
    k = max(1, min(BLOCKS, rows // BLOCK_ROWS))
    return [(rows * i // k, rows * (i + 1) // k) for i in range(k)]


def _sum_rows(fn, rows: int, width: int, *args) -> Tensor:
    """``fn(r0, r1, *args, out)`` for each block of :func:`blocks` (blocks spread
    over the threads by :func:`.parallel.ranges`), each into its own ``width``
    doubles, added in block order."""
    parts = blocks(rows)
    out = torch.empty(len(parts), width, dtype=torch.float64)
    ptr, size = out.data_ptr(), width * out.element_size()

    def some(k0: int, k1: int) -> None:
        for k in range(k0, k1):
            fast_c.call(fn, *parts[k], *args, ptr + k * size)

    parallel.run(some, parallel.ranges(len(parts), rows * width))
    total = out[0].clone()
    for k in range(1, len(parts)):
        total.add_(out[k])
    return total


def _mask_ptr(mask: Tensor | None, x: Tensor, batch: int) -> int | None:
    """The mask's address, after checking it is what the kernels read: contiguous
    ``[batch, ch]`` of x's dtype."""
    if mask is None:
        return None
    if (mask.dtype != x.dtype or not mask.is_contiguous()
            or tuple(mask.shape) != (batch, x.shape[1])):
        raise ValueError(f"batch-norm mask must be a contiguous [{batch}, "
                         f"{x.shape[1]}] {x.dtype} tensor, got {tuple(mask.shape)} "
                         f"{mask.dtype}")
    return mask.data_ptr()


class Statistics(NamedTuple):
    """This batch's mean and biased variance of each channel (what the forward and
    backward of a training-mode batch norm need besides the affine parameters)."""

    mean: Tensor
    var: Tensor
    eps: float

    def affine(self, weight: Tensor, bias: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(a, s, istd)``: ``Y = X a + s`` with ``a = w istd``, ``s = bias - mean
        a``, ``istd = 1 / sqrt(var + eps)`` (no autograd)."""
        with torch.no_grad():
            istd = (self.var + self.eps).rsqrt_()
            a = weight.detach().to(self.mean.dtype) * istd
            shift = bias.detach().to(self.mean.dtype) - self.mean * a
        return a, shift, istd


def statistics(bn: nn.Module, x: Tensor) -> Statistics | None:
    """The batch statistics of ``x`` [rows, ch] with ``bn``'s running statistics
    updated, as ``bn(x)`` would; None when :func:`applicable` is not (nothing is
    updated then). For callers that apply the normalisation themselves (the fused
    traditional and v1 recurrences of :mod:`.fast_train`) with :func:`apply_into`
    and :func:`grad`."""
    if not applicable(bn, x):
        return None
    mean, var = _stats(x, _kernels(x.dtype))
    _update_running(bn, mean, var, x.shape[0])
    return Statistics(mean, var, float(bn.eps))


def apply_into(x: Tensor, a: Tensor, shift: Tensor, out: Tensor, batch: int,
               mask: Tensor | None = None) -> Tensor:
    """``out <- (x a + shift) * mask[r % batch]`` (mask optional) for ``x`` and
    ``out`` of one shape ``[rows, ch]``, unit column stride, any row strides (e.g. one
    half of a ``[rows, 2H]`` projection); returns ``out``."""
    rows, ch = x.shape
    apply = _kernels(x.dtype)[1]
    # rows n * batch .. (n + 1) * batch - 1 are frame n: ranges of whole frames
    # keep row r's mask row r % batch
    frames = rows // batch if rows % batch == 0 else 1
    per = rows // frames
    ldx, ldy = x.stride(0), out.stride(0)
    size = x.element_size()
    mask_ptr = _mask_ptr(mask, x, batch)

    def one(n0: int, n1: int) -> None:
        fast_c.call(apply, (n1 - n0) * per, ch, batch, ldx, ldy,
                    x.data_ptr() + n0 * per * ldx * size, a.data_ptr(),
                    shift.data_ptr(), mask_ptr, out.data_ptr() + n0 * per * ldy * size)

    parallel.run(one, parallel.ranges(frames, rows * ch))
    return out


def grad(x: Tensor, mean: Tensor, a: Tensor, istd: Tensor, mask: Tensor | None,
         g: Tensor, batch: int, out: Tensor | None = None
         ) -> tuple[Tensor, Tensor, Tensor]:
    """``(g_x, g_w, g_b)`` of the training-mode batch norm from the gradient ``g``
    of its (masked) output, all ``[rows, ch]`` contiguous; ``out`` receives g_x (it
    may be ``g`` itself), else a pooled buffer does."""
    rows, ch = x.shape
    g_x = take((rows, ch), x) if out is None else out
    _, _, grad_sums, grad_apply = _kernels(x.dtype)
    mask_ptr = _mask_ptr(mask, x, batch)
    ptrs = (x.data_ptr(), mean.data_ptr(), g.data_ptr(), mask_ptr)
    sums = _sum_rows(grad_sums, rows, 2 * ch, ch, batch, *ptrs)
    sum_g, dot = sums[:ch], sums[ch:]
    is_d = istd.to(torch.float64)
    g_w = (dot * is_d).to(x.dtype)
    g_b = sum_g.to(x.dtype)
    k = (dot * is_d * is_d / rows).to(x.dtype)
    m = (sum_g / rows).to(x.dtype)
    parallel.run(lambda r0, r1: fast_c.call(
        grad_apply, r0, r1, ch, batch, *ptrs, k.data_ptr(), m.data_ptr(), a.data_ptr(),
        g_x.data_ptr()), parallel.ranges(rows, rows * ch))
    return g_x, g_w, g_b


class _BatchNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, stats, mask, batch):  # type: ignore[override]
        a, shift, istd = stats.affine(weight, bias)
        y = apply_into(x, a, shift, take(tuple(x.shape), x), batch, mask)
        ctx.save_for_backward(x, stats.mean, a, istd, mask)
        ctx.batch = batch
        return y

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        x, mean, a, istd, mask = ctx.saved_tensors
        g_x, g_w, g_b = grad(x, mean, a, istd, mask, g.contiguous(), ctx.batch)
        return g_x, g_w, g_b, None, None, None


def applicable(bn: nn.Module, x: Tensor) -> bool:
    """Whether :func:`batch_norm` reproduces ``bn(x)`` for this call."""
    return (
        type(bn) is nn.BatchNorm1d
        and bn.training
        and bn.affine
        and bn.track_running_stats
        and bn.running_mean is not None
        and x.dim() == 2
        and x.shape[0] > 1
        and x.is_contiguous()
        and x.device.type == "cpu"
        and x.dtype == bn.weight.dtype
        and _kernels(x.dtype) is not None
    )


def batch_norm(bn: nn.Module, x: Tensor, mask: Tensor | None = None,
               batch: int = 1) -> Tensor | None:
    """``bn(x)`` (``* mask`` per sequence: row r uses ``mask[r % batch]``) in training
    mode, with the running statistics updated; None when :func:`applicable` is not."""
    if mask is not None:
        mask = mask.to(x.dtype).contiguous()
    stats = statistics(bn, x)
    if stats is None:
        return None
    return _BatchNorm.apply(x, bn.weight, bn.bias, stats, mask, batch)


def _stats(x: Tensor, fns) -> tuple[Tensor, Tensor]:
    """Mean and biased variance over the rows of x (two passes, double sums)."""
    rows, ch = x.shape
    sums = fns[0]
    mean = _sum_rows(sums, rows, ch, ch, x.data_ptr(), None) / rows
    var = _sum_rows(sums, rows, ch, ch, x.data_ptr(), mean.data_ptr()) / rows
    return mean.to(x.dtype), var.to(x.dtype)


def _update_running(bn: nn.BatchNorm1d, mean: Tensor, var: Tensor, rows: int) -> None:
    """The running-statistics update of ``nn.BatchNorm1d.forward`` in training."""
    with torch.no_grad():
        if bn.num_batches_tracked is not None:
            bn.num_batches_tracked.add_(1)
        if bn.momentum is None:
            factor = 1.0 / float(bn.num_batches_tracked)
        else:
            factor = bn.momentum
        unbiased = var * (rows / (rows - 1))
        bn.running_mean.mul_(1 - factor).add_(mean.to(bn.running_mean.dtype),
                                              alpha=factor)
        bn.running_var.mul_(1 - factor).add_(unbiased.to(bn.running_var.dtype),
                                             alpha=factor)
