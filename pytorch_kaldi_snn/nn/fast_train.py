r"""Fused CPU recurrence for :class:`SpikingLayer` with a hand-written backward pass.

The reference (:meth:`SpikingLayer.run`) builds an autograd graph of about fifteen
nodes per frame. Here the whole sequence is one :class:`torch.autograd.Function`:

- the input projections X W (+ batch norm, + dropout of the traditional input current)
  stay outside, computed by :meth:`SpikingLayer.projections` for all frames at once;
- the forward loop writes every frame into preallocated ``[T, B, H]`` buffers with
  ``out=`` and in-place ops (no per-frame allocation, no graph);
- the backward pass runs in reverse time over the saved buffers. Everything that is not
  a true recurrence is computed for all frames at once, before or after the loop.

Recurrences (n is the frame, :math:`\odot` elementwise, S the spike, S' its
straight-through derivative, :math:`g_z = \partial L / \partial z`):

.. math::

    g_{Y[n]} &= \bar g_{Y[n]} - g_{V[n+1]} + g_{A[n+1]} W_r^\top \quad (W_r:
        \text{v2 only}) \\
    g_{V[n]} &= g_{Y[n]} \odot S'(V[n]) + \alpha \odot g_{V[n+1]} \\
    g_{I[n]} &= g_{V[n]} + \Phi[n+1] \odot g_{I[n+1]}, \qquad
        \Phi = \beta \text{ (traditional) or } F \text{ (v1, v2)} \\
    g_{A_f[n]} &= g_{I[n]} \odot (I[n-1] - C[n]) \odot F[n] (1 - F[n]), \qquad
    g_{A_c[n]} = g_{I[n]} \odot (1 - F[n]) \odot m \odot [C[n] > 0]

with :math:`A = X W_i + Y[n-1] W_r` the gate pre-activations, and the parameter
gradients :math:`g_{W_r} = \sum_n Y[n-1]^\top g_{A[n]}`,
:math:`g_\alpha = \sum_n g_{V[n]} \odot V[n-1]`, :math:`g_\beta = \sum_n g_{I[n]}
\odot I[n-1]` (summed over the batch).

Saved for backward (memory, docs/speed.md): Y; for v2 (and the torch loop) F and C
as the two halves of the rows of one ``[T, B, 2H]`` buffer, the layout of the gate
gradient, which the backward writes over it; for v1 in C only F (``[T, B, H]``), C
being formed again from the projections, which the batch norm keeps anyway; I
shifted by one frame (``[T+1, B, H]``, a zero frame first); S'(V) as bytes; V itself
only when the learned decay needs :math:`g_\alpha`. No gate pre-activations. The
backward keeps the products :math:`K[n] = F[n] \odot g_{I[n]}` (the term of
:math:`g_{I[n-1]}`) in place of :math:`g_{I[n]}` before F[n] is overwritten. The
spike range b is constant within a sequence and the EMA update
``layer.spike.observe(max V)`` (max V tracked frame by frame) happens once after the
sequence, exactly as in the reference.

The spike, the gates and the torch loop's gate factors are in :mod:`.fast_elementwise`;
batch norm of the projections in :mod:`.fast_bn`. Two implementations of the frame
loops, with the same arithmetic: the torch loop below (tensor op by tensor op) and,
when the C kernels of :mod:`.cstep` are built, ``_fused.c`` (one call per sequence
for traditional and v1, per frame for v2, whose recurrent product and gates stay in
torch). In C, traditional and v1 also leave their training-mode batch norm
:math:`P = X a + s` (and traditional's dropout of P) to the kernels, which read the
projections X directly, and the backward runs the batch norm's gradient on g_P
(:func:`.fast_bn.grad`); v1's C (relu, dropout) and all gate factors are formed in
the kernels' passes. The sigmoid F always comes from torch (for v1 over one
contiguous ``[T, B, H]`` buffer: torch's vectorised sigmoid there and its per-row
split on a strided half round the last bit of about 0.05 % of the values
differently). Products go through :mod:`.gemm`. With several threads and sleeping
OpenMP workers, v2's C frame loops (forward and backward) run on ranges of the batch
at once, one thread each (:class:`.parallel.FrameLoop`). ``PYTORCH_KALDI_SNN_NO_C=1``
keeps the torch loop.

Registered in :data:`pytorch_kaldi_snn.nn.layers.FAST_PATHS` on import; it declines
(returns None) for anything but CPU tensors of a floating dtype with the paper's
:class:`MultiBitSpike`, so other cases run the reference.
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor

from pytorch_kaldi_snn.nn import cstep, fast_bn, gemm, parallel
from pytorch_kaldi_snn.nn.fast_elementwise import (
    SpikeParams,
    _gate_factors_,
    _gates,
    _kernels,
)
from pytorch_kaldi_snn.nn.fast_workspace import Rolling as _Rolling
from pytorch_kaldi_snn.nn.fast_workspace import previous as _previous
from pytorch_kaldi_snn.nn.fast_workspace import take as _take
from pytorch_kaldi_snn.nn.layers import FAST_PATHS, SpikingLayer
from pytorch_kaldi_snn.nn.spike import MultiBitSpike

log = logging.getLogger(__name__)

_KIND_CODE = {"traditional": 0, "v1": 1, "v2": 2}


def forward_sequence(
    kind: int,
    pre: Tensor,
    w_rec_t: Tensor | None,
    alpha: Tensor,
    beta: Tensor | None,
    spike: SpikeParams,
    mask: Tensor | None,
    keep: bool,
    full_v: bool = False,
    track_max: bool = True,
    affine: tuple[Tensor, Tensor] | None = None,
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None, Tensor | None, Tensor | None]:
    """Run the recurrence from the zero state; returns ``(Y, V, gates, I0, S', max
    V)``.

    ``pre`` is ``[T, B, G*H]`` (forget half first for v1/v2). ``affine = (a, s)``
    (``[G*H]`` each; the C kernels, traditional and v1 only) means ``pre`` holds the
    projections before a batch norm that the kernels apply as ``pre * a + s``. A
    traditional ``mask`` is applied to P by the C kernel (the torch loop expects it
    folded into ``pre``). ``gates``: for v2 and the torch loop FC ``[T, B, 2H]``, F
    and C as the two halves of each row; for v1 in C, F alone ``[T, B, H]`` (the
    backward forms C again from ``pre``); None for traditional. With ``keep``
    (training) the gates, ``I0 = [0, I[0], ..., I[T-1]]`` (``[T+1, B, H]``) and S'
    (bool) are full sequences; without it only Y (and v1's F) is, and I0 / S' are
    None. V holds all frames with ``full_v`` (the learned decay's gradient needs
    V[n-1]), else the last two. ``max V`` (over all frames, 0-d) when
    ``track_max``, else None.
    """
    t_len, batch, gh = pre.shape
    h = gh if kind == 0 else gh // 2
    y_all = _take((t_len, batch, h), pre)
    seq = t_len if keep else 2  # two frames alternate as previous / current
    v_all = _take((t_len if full_v else 2, batch, h), pre)
    i_base = None
    if keep:
        i_base = _take((t_len + 1, batch, h), pre)
        i_base[0].zero_()
        i_all = i_base[1:]
    else:
        i_all = _take((2, batch, h), pre)
    ste = _take((t_len, batch, h), pre, torch.bool) if keep else None
    v_max = pre.new_full((), float("-inf")) if track_max else None
    kern = _kernels(pre, alpha, beta, mask)
    if affine is not None and (kern is None or kind == 2):
        raise ValueError("only the C kernels of traditional and v1 apply batch norm")
    zero = pre.new_zeros(batch, h)
    if kern is not None:
        spike_args = spike.c_args()
        state = (zero, zero, zero)
        args = (alpha, beta if kind == 0 else None)
        if kind == 0:  # no product between frames: the whole sequence in one call
            kern.forward(0, 0, t_len, pre, *args, state, i_all, v_all, y_all, keep,
                         full_v, ste, v_max, spike_args, affine=affine, mask=mask)
            return y_all, v_all, None, i_base, ste, v_max
        if kind == 1:  # F of all frames at once, then the recurrence in C
            f_all = _forget_gates(pre, affine, h)
            kern.forward(1, 0, t_len, _v1_gates(f_all, pre, affine, mask), *args,
                         state, i_all, v_all, y_all, keep, full_v, ste, v_max,
                         spike_args)
            return y_all, v_all, f_all, i_base, ste, v_max
    fc = f_all = c_all = None
    if kind != 0:
        fc = _take((seq, batch, 2 * h), pre)
        f_all, c_all = fc[..., :h], fc[..., h:]
    if kern is not None:  # v2: the product and the gates in torch, frame by frame
        loop = parallel.FrameLoop(batch, 2 * h * h)
        maxima = parallel.RangeMaxima(v_max, loop.parts)

        def frames(b0: int, b1: int) -> None:
            # the library as for all rows, a buffer of this range's
            product = gemm.linear_adder(w_rec_t.t(), batch, pre, b1 - b0)
            frame = kern.v2_forward_frames(f_all, c_all, alpha, i_all, v_all, y_all,
                                           keep, full_v, ste, maxima[b0], spike_args,
                                           zero, (b0, b1))
            m = None if mask is None else mask[b0:b1]
            y_prev = zero[b0:b1]
            for n in range(t_len):
                a = product(y_prev, pre[n, b0:b1])
                s = n if keep else n % 2
                _gates(a, f_all[s, b0:b1], c_all[s, b0:b1], m, h)
                frame(n)
                y_prev = y_all[n, b0:b1]

        loop.run(frames)
        maxima.merge()
        return y_all, v_all, fc, i_base, ste, v_max
    if kind == 2:
        product = gemm.linear_adder(w_rec_t.t(), batch, pre, batch)
    tmp = pre.new_empty(batch, h)
    flag = pre.new_empty(batch, h)
    above = pre.new_empty(batch, h, dtype=torch.bool)
    i_prev, v_prev, y_prev = zero, zero, zero
    for n in range(t_len):
        s = n if keep else n % 2
        i = i_all[s]
        if kind == 0:
            torch.mul(beta, i_prev, out=i)
            i.add_(pre[n])
        else:
            if kind == 2:
                src = product(y_prev, pre[n])
            else:
                src = pre[n]
            f, c = f_all[s], c_all[s]
            torch.sigmoid(src[:, :h], out=f)
            torch.clamp(src[:, h:], min=0, out=c)
            if mask is not None:
                c.mul_(mask)
            torch.neg(f, out=tmp).add_(1).mul_(c)
            torch.mul(f, i_prev, out=i)
            i.add_(tmp)
        v = v_all[n if full_v else n % 2]
        torch.mul(alpha, v_prev, out=v)
        v.add_(i).sub_(y_prev)
        y = y_all[n]
        spike.apply_(v, y, flag)
        if ste is not None:
            spike.derivative_mask(v, ste[n], above)
        if v_max is not None:
            torch.maximum(v_max, v.amax(), out=v_max)
        i_prev, v_prev, y_prev = i, v, y
    return y_all, v_all, fc, i_base, ste, v_max


def _forget_gates(pre: Tensor, affine: tuple[Tensor, Tensor] | None, h: int) -> Tensor:
    """F = sigmoid(forget half of ``pre`` (``* a + s``)) for all frames, as a
    contiguous ``[T, B, H]`` buffer: torch's sigmoid runs about three times faster
    on it than on the strided half of ``[T, B, 2H]``."""
    t_len, batch, _ = pre.shape
    f_all = _take((t_len, batch, h), pre)
    flat = f_all.view(t_len * batch, h)
    half = pre.view(t_len * batch, 2 * h)[:, :h]
    if affine is None:
        flat.copy_(half)
    else:
        fast_bn.apply_into(half, affine[0][:h], affine[1][:h], flat, batch)
    return f_all.sigmoid_()


def _v1_gates(f_all: Tensor, pre: Tensor, affine: tuple[Tensor, Tensor] | None,
              mask: Tensor | None, **backward: Tensor) -> cstep.Gates:
    """Where v1's C kernels find F (``f_all``) and form C: from the candidate half
    of the projections ``pre``, with the batch norm's affine of that half."""
    h = f_all.shape[-1]
    half = None if affine is None else (affine[0][h:], affine[1][h:])
    return cstep.Gates(f_all, pre[..., h:], raw=True, affine=half, mask=mask,
                       **backward)


class _FusedSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, pre, w_rec_t, alpha, beta, mask, spike,  # type: ignore[override]
                kind, bn_weight, bn_bias, stats):
        need_alpha = ctx.needs_input_grad[2]
        affine = bn = None
        if stats is not None:  # batch norm in the C kernels (traditional, v1)
            a, shift, istd = stats.affine(bn_weight, bn_bias)
            affine, bn = (a, shift), (stats.mean, a, istd)
        with torch.no_grad():
            y, v, gates, i_base, ste, v_max = forward_sequence(
                kind, pre, w_rec_t, alpha, beta, spike, mask, keep=True,
                full_v=need_alpha, affine=affine)
        ctx.kind, ctx.bn, ctx.affine = kind, bn, affine
        # which implementation ran: the backward takes the same
        ctx.kern = _kernels(pre, alpha, beta, mask)
        # Private buffers are kept on ctx (nobody else can modify them; backward
        # overwrites them); tensors the caller sees go through save_for_backward.
        ctx.buffers = [v if need_alpha else None, gates, i_base, ste]
        keep_pre = stats is not None or (kind == 1 and ctx.kern is not None)
        ctx.save_for_backward(y, w_rec_t, alpha, beta, mask,
                              pre if keep_pre else None)
        ctx.mark_non_differentiable(v_max)
        return y, v_max

    @staticmethod
    def backward(ctx, g_out, _g_vmax):  # type: ignore[override]
        y, w_rec_t, alpha, beta, mask, pre = ctx.saved_tensors
        if ctx.buffers is None:
            raise RuntimeError("the fused spiking layer reuses its buffers in "
                               "backward: a second backward (retain_graph=True) is "
                               "not supported; "
                               "call layer.run(x) for that")
        v, gates, i_base, ste = ctx.buffers
        ctx.buffers = None  # let each buffer go back to the pool once used
        kind = ctx.kind
        need_pre, need_w, need_alpha, need_beta = ctx.needs_input_grad[:4]
        t_len, batch, h = y.shape
        if g_out is None:
            g_out = torch.zeros_like(y)
        v_prev = _previous(v, _take(tuple(y.shape), y)) if need_alpha else None
        del v
        i_prev = i_base[:-1] if need_beta else None  # traditional: I[n-1], unchanged
        g_v_seq = _Rolling(y, need_alpha)
        g_i_seq = _Rolling(y, kind == 0 or need_beta)
        if ctx.kern is not None:
            g_pre = _backward_in_c(ctx, g_out, ste, alpha, beta, gates, i_base, mask,
                                   pre, w_rec_t, g_v_seq, g_i_seq)
        else:
            g_pre = _backward_in_torch(kind, g_out, ste, alpha, beta, gates, i_base,
                                       mask, w_rec_t, g_v_seq, g_i_seq)
        del i_base
        g_w = g_alpha = g_beta = g_bn_w = g_bn_b = None
        if kind == 2 and need_w:
            g_w = torch.mm(y[:-1].reshape(-1, h).t(), g_pre[1:].reshape(-1, 2 * h))
        if need_alpha:
            g_alpha = (g_v_seq.buf * v_prev).sum((0, 1))
        if need_beta:
            g_beta = (g_i_seq.buf * i_prev).sum((0, 1))
        if ctx.bn is not None:  # through the batch norm the kernels applied
            rows = t_len * batch
            flat = g_pre.view(rows, -1)
            g_x, g_bn_w, g_bn_b = fast_bn.grad(
                pre.view(rows, -1), *ctx.bn, mask if kind == 0 else None, flat,
                batch, out=flat)
            g_pre = g_x.view(g_pre.shape)
        return ((g_pre if need_pre else None), g_w, g_alpha, g_beta, None, None, None,
                g_bn_w, g_bn_b, None)


def _recurrent_gradient(w_rec_t: Tensor, rows: int, out_rows: int):
    """``g_P[n] -> g_P[n] W_r`` (``[out_rows, 2H] -> [out_rows, H]``, v2's term of
    g_Y[n-1]) for both backward loops: oneDNN on a dense copy of W_r^T when the
    product over all ``rows`` of the batch reaches :data:`.gemm.MIN_MACS`, else
    ``torch.mm`` into one reused buffer."""
    h = w_rec_t.shape[0]
    if gemm.use_onednn(w_rec_t, rows * 2 * h * h):
        dense = w_rec_t.contiguous()
        return lambda g_p: gemm.linear(g_p, dense)
    w_rec, out = w_rec_t.t(), w_rec_t.new_empty(out_rows, h)
    return lambda g_p: torch.mm(g_p, w_rec, out=out)


def _backward_in_c(ctx, g_out, ste, alpha, beta, gates, i_base, mask, pre, w_rec_t,
                   g_v_seq, g_i_seq) -> Tensor:
    """The reverse-time recurrences in ``_fused.c``; returns g_P (for v2 written over
    FC, for traditional the g_I buffer)."""
    kind, kern = ctx.kind, ctx.kern
    t_len, batch, h = ste.shape
    beta_c = beta if kind == 0 else None
    full_v, full_i = g_v_seq.full, g_i_seq.full
    go_ok = g_out.is_contiguous() and g_out.dtype == g_v_seq.buf.dtype
    if kind == 0:
        src = None
        g_pre = g_i_seq.buf
    elif kind == 1:
        g_pre = _take((t_len, batch, 2 * h), pre)
        src = _v1_gates(gates, pre, ctx.affine, mask, i_base=i_base, gp=g_pre)
    else:
        g_pre = gates  # FC, overwritten by g_P frame by frame
        src = cstep.Gates(gates[..., :h], gates[..., h:], mask=mask, i_base=i_base,
                          gp=gates)
    if kind != 2:
        if not go_ok:
            g_out = _take(tuple(ste.shape), g_v_seq.buf).copy_(g_out)
        kern.backward(kind, 0, t_len, g_out, True, ste, alpha, beta_c, src, None,
                      None, None, g_v_seq.buf, g_i_seq.buf, full_v, full_i)
        return g_pre
    # one frame per call; a strided g_out's frame goes through a [B, H] buffer, each
    # range of the batch writing its own rows
    go_frame = None if go_ok else g_v_seq.buf.new_empty(batch, h)

    def frames(b0: int, b1: int) -> None:
        through_w_rec = _recurrent_gradient(w_rec_t, batch, b1 - b0)
        frame = kern.v2_backward_frames(g_out if go_ok else go_frame, go_ok, ste,
                                        alpha, src, g_v_seq.buf, g_i_seq.buf, full_v,
                                        full_i, (b0, b1))
        g_rec = None  # g_P[n+1] W_r of rows b0 <= b < b1
        for n in range(t_len - 1, -1, -1):
            if not go_ok:
                go_frame[b0:b1].copy_(g_out[n, b0:b1])
            frame(n, g_rec)
            if n == 0:
                break
            g_rec = through_w_rec(g_pre[n, b0:b1])

    parallel.FrameLoop(batch, 2 * h * h).run(frames)
    return g_pre


def _backward_in_torch(kind, g_out, ste, alpha, beta, fc, i_base, mask, w_rec_t,
                       g_v_seq, g_i_seq) -> Tensor:
    """The same recurrences tensor op by tensor op; returns g_P (over FC for v1, v2,
    the g_I buffer for traditional)."""
    t_len, batch, h = ste.shape
    y_like = g_v_seq.buf
    d_f = _gate_factors_(fc, i_base, mask) if kind != 0 else None
    zero = y_like.new_zeros(batch, h)
    g_y = y_like.new_empty(batch, h)
    g_v_next, g_i_next = zero, zero
    g_rec = None  # g_P[n+1] W_r (v2), set at the end of each frame
    if kind == 2:
        through_w_rec = _recurrent_gradient(w_rec_t, batch, batch)
    for n in range(t_len - 1, -1, -1):
        torch.sub(g_out[n], g_v_next, out=g_y)
        if kind == 2 and n + 1 < t_len:
            g_y.add_(g_rec)
        g_v = g_v_seq[n]
        torch.mul(g_y, ste[n], out=g_v)
        g_v.addcmul_(alpha, g_v_next)
        g_i = g_i_seq[n]
        if n + 1 >= t_len:
            g_i.copy_(g_v)
        elif kind == 0:
            torch.addcmul(g_v, beta, g_i_next, out=g_i)
        else:  # g_i_next holds K[n+1] = F[n+1] g_I[n+1]
            torch.add(g_v, g_i_next, out=g_i)
        if kind != 0:
            d_f[n].mul_(g_i)
            fc[n, :, h:].mul_(g_i)
            g_i.mul_(fc[n, :, :h])  # K[n], before F[n] is overwritten
            fc[n, :, :h].copy_(d_f[n])
            if kind == 2:
                g_rec = through_w_rec(fc[n])
        g_v_next, g_i_next = g_v, g_i
    return g_i_seq.buf if kind == 0 else fc


def _spike_params(layer: SpikingLayer, dtype: torch.dtype) -> SpikeParams:
    sp = layer.spike
    return SpikeParams(sp.range.to(dtype), sp.n_bits, sp.k)


def applicable(layer: SpikingLayer, x: Tensor) -> bool:
    """Whether the fused path reproduces the reference for this call."""
    return (
        type(layer.spike) is MultiBitSpike
        and x.device.type == "cpu"
        and x.dim() == 3
        and x.shape[-1] == layer.input_size
        and x.dtype in (torch.float32, torch.float64)
        and x.shape[0] > 0
        and x.shape[1] > 0
    )


def projections(layer: SpikingLayer, x: Tensor, kind: int, in_c: bool
                ) -> tuple[Tensor, Tensor | None, fast_bn.Statistics | None]:
    """:meth:`SpikingLayer.projections` with the products through :mod:`.gemm` and
    batch norm through :mod:`.fast_bn` when it applies, and the dropout mask of
    :meth:`SpikingLayer.dropout_mask` (drawn from the same random stream: nothing
    before it draws). Returns ``(P [T, B, G*H], mask, stats)``.

    ``in_c``: the C kernels will run this layer. Then a traditional or v1 layer
    leaves a training-mode batch norm to them: P is the projection before it and
    ``stats`` the batch statistics (the running ones already updated), and the
    traditional mask is returned for the kernel to apply (and its backward through
    the batch norm). Otherwise ``stats`` is None and the traditional P already
    carries its mask (mask None), as in the reference."""
    t_len, batch, _ = x.shape
    lin = gemm.linear_with_grad(x.reshape(t_len * batch, x.shape[-1]),
                                layer.w_in.weight, layer.w_in.bias)
    mask = layer.dropout_mask(batch, lin)
    shape = (t_len, batch, lin.shape[-1])
    if in_c and kind != 2 and layer.bn is not None:
        stats = fast_bn.statistics(layer.bn, lin)
        if stats is not None:
            return lin.reshape(shape), mask, stats
    if in_c and kind == 1 and layer.bn is None:
        return lin.reshape(shape), mask, None
    pre = lin
    if layer.bn is not None:
        pre = fast_bn.batch_norm(layer.bn, lin, mask if kind == 0 else None, batch)
        if pre is None:
            pre = layer.bn(lin)
        elif kind == 0:
            mask = None  # applied by the batch norm kernel
    pre = pre.reshape(shape)
    if kind == 0 and mask is not None:
        pre = pre * mask
        mask = None
    return pre, mask, None


def fused_run(layer: SpikingLayer, x: Tensor) -> Tensor:
    """Same result as ``layer.run(x)[0]`` (zero initial state), including the EMA."""
    kind = _KIND_CODE[layer.kind]
    alpha, beta = layer.decays()
    in_c = _kernels(x, alpha.to(x.dtype)) is not None
    pre, mask, stats = projections(layer, x, kind, in_c)
    w_rec_t = layer.w_rec.weight.t() if kind == 2 else None
    spike = _spike_params(layer, pre.dtype)
    alpha = alpha.to(pre.dtype)
    # beta only enters the traditional neuron (the reference leaves its grad None)
    beta = beta.to(pre.dtype) if kind == 0 else None
    bn_weight = bn_bias = None
    if stats is not None:
        bn_weight, bn_bias = layer.bn.weight, layer.bn.bias
    needs_grad = torch.is_grad_enabled() and (
        pre.requires_grad or alpha.requires_grad
        or (beta is not None and beta.requires_grad)
        or (w_rec_t is not None and w_rec_t.requires_grad)
        or (bn_weight is not None and (bn_weight.requires_grad
                                       or bn_bias.requires_grad)))
    if needs_grad:
        y, v_max = _FusedSequence.apply(pre, w_rec_t, alpha, beta, mask, spike, kind,
                                        bn_weight, bn_bias, stats)
    else:
        affine = None
        if stats is not None:
            a, shift, _ = stats.affine(bn_weight, bn_bias)
            affine = (a, shift)
        with torch.no_grad():
            y, _, _, _, _, v_max = forward_sequence(
                kind, pre, w_rec_t, alpha, beta, spike, mask, keep=False,
                track_max=layer.training, affine=affine)
    if layer.training:
        layer.spike.observe(v_max)
    return y


def fast_training_path(layer: SpikingLayer, x: Tensor) -> Tensor | None:
    """FAST_PATHS entry: the fused recurrence, or None to run the reference."""
    if not applicable(layer, x):
        return None
    return fused_run(layer, x)


if fast_training_path not in FAST_PATHS:
    FAST_PATHS.append(fast_training_path)
