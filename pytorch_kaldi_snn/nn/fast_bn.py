r"""Batch norm of the fused layers' input projections, in C, into pooled buffers.

``nn.BatchNorm1d`` on the ``[T*B, G*H]`` projections of a 2 x 550 layer allocates a
fresh 28-56 MB output in the forward and another for the input gradient in the
backward; on our CPU machine each such allocation costs ~0.4 ms per MB of page faults
(glibc maps blocks over 32 MB afresh every time), more than the arithmetic. Here the
training-mode batch norm is one :class:`torch.autograd.Function` whose output and
input gradient are :mod:`.fast_workspace` buffers, computed by the ``pks_bn_*``
kernels of ``_fused.c`` (two passes for the statistics, one to normalise, two for the
backward). Over the rows r of X (N of them):

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
running statistics, for fewer than two rows, or without the C kernels.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pytorch_kaldi_snn.nn import fast_c, parallel
from pytorch_kaldi_snn.nn.fast_workspace import take


def _kernels(dtype: torch.dtype):
    """``(stats, apply, backward)`` C functions for ``dtype``, or None."""
    fns = tuple(fast_c.kernel(f"pks_bn_{name}", dtype)
                for name in ("stats", "apply", "backward"))
    return None if None in fns else fns


def _ptr(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


class _BatchNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, mean, var, mask, batch, eps,  # type: ignore[override]
                fns):
        rows, ch = x.shape
        apply = fns[1]
        with torch.no_grad():
            istd = (var + eps).rsqrt_()
            a = weight.detach().to(x.dtype) * istd
            shift = bias.detach().to(x.dtype) - mean * a
        y = take((rows, ch), x)
        # rows n * batch .. (n + 1) * batch - 1 are frame n: ranges of whole frames
        # keep row r's mask row r % batch
        frames = rows // batch if rows % batch == 0 else 1
        frame_bytes = (rows // frames) * ch * x.element_size()

        def one(n0: int, n1: int) -> None:
            off = n0 * frame_bytes
            fast_c.call(apply, (n1 - n0) * (rows // frames), ch, batch,
                        x.data_ptr() + off, a.data_ptr(), shift.data_ptr(),
                        _ptr(mask), y.data_ptr() + off)

        parallel.run(one, parallel.ranges(frames, rows * ch))
        ctx.save_for_backward(x, mean, a, istd, mask)
        ctx.batch, ctx.fns = batch, fns
        return y

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        x, mean, a, istd, mask = ctx.saved_tensors
        rows, ch = x.shape
        g = g.contiguous()
        g_x = take((rows, ch), x)
        g_w = x.new_empty(ch)
        g_b = x.new_empty(ch)
        acc = torch.empty(2 * ch, dtype=torch.float64)
        ptrs = (x.data_ptr(), mean.data_ptr(), g.data_ptr(), _ptr(mask), a.data_ptr(),
                istd.data_ptr(), acc.data_ptr(), g_x.data_ptr(), g_w.data_ptr(),
                g_b.data_ptr())
        parallel.run(lambda c0, c1: fast_c.call(ctx.fns[2], rows, ch, c0, c1, ctx.batch,
                                                *ptrs),
                     parallel.ranges(ch, 2 * rows * ch))
        return g_x, g_w, g_b, None, None, None, None, None, None


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
    if not applicable(bn, x):
        return None
    fns = _kernels(x.dtype)
    if mask is not None:
        mask = mask.to(x.dtype).contiguous()
    mean, var = _stats(x, fns)
    y = _BatchNorm.apply(x, bn.weight, bn.bias, mean, var, mask, batch, float(bn.eps),
                         fns)
    _update_running(bn, mean, var, x.shape[0])
    return y


def _stats(x: Tensor, fns) -> tuple[Tensor, Tensor]:
    """Mean and biased variance over the rows of x (double accumulators)."""
    ch = x.shape[1]
    mean, var = x.new_empty(ch), x.new_empty(ch)
    acc = torch.empty(2 * ch, dtype=torch.float64)
    ptrs = (x.data_ptr(), acc.data_ptr(), mean.data_ptr(), var.data_ptr())
    parallel.run(lambda c0, c1: fast_c.call(fns[0], x.shape[0], ch, c0, c1, *ptrs),
                 parallel.ranges(ch, x.shape[0] * ch))
    return mean, var


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
