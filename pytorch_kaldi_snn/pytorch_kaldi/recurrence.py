"""The LSTM and GRU recurrences of :mod:`.baselines` with a hand-written backward.

PyTorch-Kaldi's recurrent layers run a Python loop over frames. Under autograd every
frame records about a dozen nodes, and the backward replays them one by one, each with
its own allocation and dispatch, plus a weight-gradient product per frame. Here the
forward loop runs without recording (the input projections ``x W`` arrive precomputed
for all frames), keeps the post-activation gates, and the backward runs the reverse
recurrence by hand: the factors that do not depend on the incoming gradient are formed
for all frames at once, each frame is a few element-wise operations and one or two
small products, and the recurrent weights' gradient is one product over all T*B rows.
The values are those of :meth:`.baselines.LSTM._cell` and :meth:`.baselines.GRU._cell`
(tests compare both, values and gradients, in float64).

LSTM (gate columns ``[f | i | o | c~]``, ``a = act(pre_c)``, ``m`` the dropout mask)::

    pre[n] = wx[n] + h[n-1] U^T
    c[n] = f * c[n-1] + i * (a * m)          h[n] = o * act(c[n])
    backward, g_h[n] = g_out[n] + g_pre[n+1] U:
    g_c[n] = g_c[n+1] * f[n+1] + g_h[n] * o * act'(c[n])
    g_pre[n] = [g_c c[n-1] f(1-f), g_c a m i(1-i), g_h act(c) o(1-o), g_c i m act'(a)]
    g_U = sum_n g_pre[n]^T h[n-1]

GRU (``[z | r | h~]``, ``q = r * h[n-1]``)::

    [z, r] = sigmoid(wx_zr[n] + h[n-1] U_zr^T)    a = act(wx_h[n] + q U_h^T)
    h[n] = z * h[n-1] + (1 - z) * (a * m)
    backward, g_h[n] = g_out[n] + (recurrent terms of frame n+1):
    g_pre_h = g_h (1-z) m act'(a)      g_q = g_pre_h U_h
    g_pre_z = g_h (h[n-1] - a m) z(1-z)      g_pre_r = g_q h[n-1] r(1-r)
    g_h[n-1] += g_h z + g_q r + g_pre_zr U_zr
    g_U_zr = sum_n g_pre_zr[n]^T h[n-1]      g_U_h = sum_n g_pre_h[n]^T q[n]

``act'`` is taken from the activation's output (tanh: 1 - y^2, sigmoid: y(1 - y), relu:
[y > 0], leaky_relu: 1 or 0.2, elu: 1 or y + 1, linear: 1); :data:`ACTIVATIONS` lists
the names handled here (``softmax`` is not element-wise and keeps the autograd loop).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def _leaky_(x: Tensor) -> Tensor:
    return torch.nn.functional.leaky_relu_(x, 0.2)


def _elu_(x: Tensor) -> Tensor:
    return torch.nn.functional.elu_(x)


def _identity_(x: Tensor) -> Tensor:
    return x


def _tanh_grad(y: Tensor) -> Tensor:
    return 1.0 - y * y


def _sigmoid_grad(y: Tensor) -> Tensor:
    return y * (1.0 - y)


def _relu_grad(y: Tensor) -> Tensor:
    return (y > 0).to(y.dtype)


def _leaky_grad(y: Tensor) -> Tensor:
    return torch.where(y > 0, torch.ones_like(y), torch.full_like(y, 0.2))


def _elu_grad(y: Tensor) -> Tensor:
    return torch.where(y > 0, torch.ones_like(y), y + 1.0)


def _one_grad(y: Tensor) -> Tensor:
    return torch.ones_like(y)


_Elementwise = Callable[[Tensor], Tensor]

#: activation name -> (in-place forward, derivative from the output)
ACTIVATIONS: dict[str, tuple[_Elementwise, _Elementwise]] = {
    "tanh": (torch.tanh_, _tanh_grad),
    "sigmoid": (torch.sigmoid_, _sigmoid_grad),
    "relu": (torch.relu_, _relu_grad),
    "leaky_relu": (_leaky_, _leaky_grad),
    "elu": (_elu_, _elu_grad),
    "linear": (_identity_, _one_grad),
}


def _previous(states: Tensor) -> Tensor:
    """``[s[-1] = 0, s[0], ..., s[T-2]]``: the state each frame starts from."""
    return torch.cat([states.new_zeros((1, *states.shape[1:])), states[:-1]])


class _LSTMRecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, wx: Tensor, weight: Tensor, mask: Tensor | None, act: str):
        act_, _ = ACTIVATIONS[act]
        steps, batch = wx.shape[0], wx.shape[1]
        size = weight.shape[1]
        gates = torch.empty_like(wx)
        cells = wx.new_empty(steps, batch, size)
        hs = wx.new_empty(steps, batch, size)
        h = wx.new_zeros(batch, size)
        c = wx.new_zeros(batch, size)
        weight_t = weight.t()
        for n in range(steps):
            g = torch.addmm(wx[n], h, weight_t, out=gates[n])
            g[:, : 3 * size].sigmoid_()
            act_(g[:, 3 * size:])
            f, i, o = g[:, :size], g[:, size:2 * size], g[:, 2 * size:3 * size]
            cand = g[:, 3 * size:] if mask is None else g[:, 3 * size:] * mask
            c = torch.mul(f, c, out=cells[n])
            c.add_(i * cand)
            h = act_(hs[n].copy_(c)).mul_(o)  # act(c) * o, no temporary per frame
        ctx.act = act
        ctx.save_for_backward(weight, mask, gates, cells, hs)
        return hs

    @staticmethod
    def backward(ctx, g_out: Tensor):
        weight, mask, gates, cells, hs = ctx.saved_tensors
        act_, act_grad = ACTIVATIONS[ctx.act]
        steps, size = cells.shape[0], cells.shape[2]
        f, i, o, a = gates.split(size, dim=-1)
        tc = act_(cells.clone())
        cand = a if mask is None else a * mask
        c_prev = _previous(cells)
        # factors that do not depend on the incoming gradient, all frames at once
        o_dtc = o * act_grad(tc)
        d_f, d_i, d_o = f * (1.0 - f), i * (1.0 - i), o * (1.0 - o)
        d_a = act_grad(a) * i
        if mask is not None:
            d_a = d_a * mask
        k_f, k_i, k_o = c_prev * d_f, cand * d_i, tc * d_o
        g_pre = torch.empty_like(gates)
        g_rec = None
        g_c = None
        for n in range(steps - 1, -1, -1):
            g_h = g_out[n] if g_rec is None else g_out[n] + g_rec
            g_c = g_h * o_dtc[n] if g_c is None else torch.addcmul(g_c, g_h, o_dtc[n])
            gp = g_pre[n]
            torch.mul(g_c, k_f[n], out=gp[:, :size])
            torch.mul(g_c, k_i[n], out=gp[:, size:2 * size])
            torch.mul(g_h, k_o[n], out=gp[:, 2 * size:3 * size])
            torch.mul(g_c, d_a[n], out=gp[:, 3 * size:])
            g_c = g_c * f[n]
            g_rec = gp @ weight
        g_weight = g_pre.reshape(-1, 4 * size).t() @ _previous(hs).reshape(-1, size)
        return g_pre, g_weight, None, None


class _GRURecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, wx: Tensor, weight: Tensor, mask: Tensor | None, act: str):
        act_, _ = ACTIVATIONS[act]
        steps, batch = wx.shape[0], wx.shape[1]
        size = weight.shape[1]
        w_zr_t, w_h_t = weight[: 2 * size].t(), weight[2 * size:].t()
        gates = torch.empty_like(wx)
        rh = wx.new_empty(steps, batch, size)
        hs = wx.new_empty(steps, batch, size)
        h = wx.new_zeros(batch, size)
        for n in range(steps):
            g = gates[n]
            zr = torch.addmm(wx[n, :, : 2 * size], h, w_zr_t, out=g[:, : 2 * size])
            zr.sigmoid_()
            z, r = g[:, :size], g[:, size:2 * size]
            q = torch.mul(r, h, out=rh[n])
            a = act_(torch.addmm(wx[n, :, 2 * size:], q, w_h_t, out=g[:, 2 * size:]))
            cand = a if mask is None else a * mask
            h = torch.add(z * h, (1.0 - z) * cand, out=hs[n])
        ctx.act = act
        ctx.save_for_backward(weight, mask, gates, rh, hs)
        return hs

    @staticmethod
    def backward(ctx, g_out: Tensor):
        weight, mask, gates, rh, hs = ctx.saved_tensors
        _, act_grad = ACTIVATIONS[ctx.act]
        steps, size = hs.shape[0], hs.shape[2]
        w_zr, w_h = weight[: 2 * size], weight[2 * size:]
        z, r, a = gates.split(size, dim=-1)
        cand = a if mask is None else a * mask
        h_prev = _previous(hs)
        k_z = (h_prev - cand) * (z * (1.0 - z))
        k_h = (1.0 - z) * act_grad(a)
        if mask is not None:
            k_h = k_h * mask
        k_r = h_prev * (r * (1.0 - r))
        g_pre = torch.empty_like(gates)
        g_rec = None
        for n in range(steps - 1, -1, -1):
            g_h = g_out[n] if g_rec is None else g_out[n] + g_rec
            gp = g_pre[n]
            g_zr = gp[:, : 2 * size]
            torch.mul(g_h, k_z[n], out=gp[:, :size])
            g_a = torch.mul(g_h, k_h[n], out=gp[:, 2 * size:])
            g_q = g_a @ w_h
            torch.mul(g_q, k_r[n], out=gp[:, size:2 * size])
            g_rec = torch.addmm(torch.addcmul(g_h * z[n], g_q, r[n]), g_zr, w_zr)
        flat = g_pre.reshape(-1, 3 * size)
        g_weight = torch.cat([
            flat[:, : 2 * size].t() @ h_prev.reshape(-1, size),
            flat[:, 2 * size:].t() @ rh.reshape(-1, size),
        ])
        return g_pre, g_weight, None, None


def lstm_recurrence(
    wx: Tensor, weight: Tensor, mask: Tensor | None, act: str
) -> Tensor:
    """All hidden states ``[T, B, H]`` of one LSTM direction from zero state.

    ``wx``: input projections ``[T, B, 4H]`` (columns f, i, o, c~); ``weight``: the
    recurrent weights ``[4H, H]``; ``mask``: ``[B, H]`` dropout mask or None; ``act``: a
    key of :data:`ACTIVATIONS`.
    """
    return _LSTMRecurrence.apply(wx.contiguous(), weight, mask, act)


def gru_recurrence(
    wx: Tensor, weight: Tensor, mask: Tensor | None, act: str
) -> Tensor:
    """All hidden states ``[T, B, H]`` of one GRU direction from zero state (``wx``:
    ``[T, B, 3H]``, columns z, r, h~; ``weight``: ``[3H, H]``; as
    :func:`lstm_recurrence` otherwise)."""
    return _GRURecurrence.apply(wx.contiguous(), weight, mask, act)
