r"""Neuron dynamics as pure step functions (paper notation; n is the frame index).

Each step maps ``(input_t, state) -> (y_t, new_state)``; ``state`` is a
:class:`NeuronState` of ``[B, H]`` tensors and ``spike`` any callable ``v -> y`` (for
example a bound :class:`pytorch_kaldi_snn.nn.MultiBitSpike`). The input projections
``X[n] W`` are computed outside, for all frames at once.

Membrane equation, shared by every kind (Eq. 8; reset by subtracting what was emitted):

.. math::  V[n] = \alpha V[n-1] + I[n] - Y[n-1], \qquad Y[n] = \mathrm{spike}(V[n])

Synaptic current:

- traditional LIF (Eq. 7): :math:`I[n] = \beta I[n-1] + X[n] W`
- improved v1 (Eq. 16-18): :math:`F[n] = \sigma(X[n] W_{fi})`,
  :math:`C[n] = \mathrm{relu}(X[n] W_{ci})`,
  :math:`I[n] = F[n] I[n-1] + (1 - F[n]) C[n]`
- improved v2 (Eq. 19-21): as v1 with :math:`F[n] = \sigma(X[n] W_{fi} + Y[n-1] W_{fr})`
  and :math:`C[n] = \mathrm{relu}(X[n] W_{ci} + Y[n-1] W_{cr})`.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch
from torch import Tensor

SpikeFn = Callable[[Tensor], Tensor]


class NeuronState(NamedTuple):
    """Layer state: synaptic current, membrane potential and last output."""

    i: Tensor
    v: Tensor
    y: Tensor


def zero_state(batch: int, hidden: int, like: Tensor) -> NeuronState:
    """All-zero state on ``like``'s device and dtype."""
    z = like.new_zeros(batch, hidden)
    return NeuronState(z, z, z)


def _membrane(i: Tensor, state: NeuronState, alpha: Tensor, spike: SpikeFn):
    v = alpha * state.v + i - state.y
    y = spike(v)
    return y, NeuronState(i, v, y)


def traditional_step(
    xw_t: Tensor, state: NeuronState, beta: Tensor, alpha: Tensor, spike: SpikeFn
) -> tuple[Tensor, NeuronState]:
    """One frame of the traditional LIF neuron (Eq. 7-9).

    >>> s = NeuronState(torch.zeros(1, 1), torch.zeros(1, 1), torch.zeros(1, 1))
    >>> one, half = torch.ones(1, 1), torch.tensor(0.5)
    >>> binary = lambda v: (v > 1).float()
    >>> y, s = traditional_step(one, s, half, torch.tensor(1.0), binary)
    >>> y, s = traditional_step(one, s, half, torch.tensor(1.0), binary)
    >>> s.i.item(), s.v.item(), y.item()
    (1.5, 2.5, 1.0)
    """
    i = beta * state.i + xw_t
    return _membrane(i, state, alpha, spike)


def improved_v1_step(
    f_pre_t: Tensor,
    c_pre_t: Tensor,
    state: NeuronState,
    alpha: Tensor,
    spike: SpikeFn,
    mask: Tensor | None = None,
) -> tuple[Tensor, NeuronState]:
    """One frame of the improved v1 neuron (Eq. 16-18); ``mask`` drops out C[n]."""
    f = torch.sigmoid(f_pre_t)
    c = torch.relu(c_pre_t)
    if mask is not None:
        c = c * mask
    i = f * state.i + (1 - f) * c
    return _membrane(i, state, alpha, spike)


def improved_v2_step(
    f_pre_t: Tensor,
    c_pre_t: Tensor,
    state: NeuronState,
    w_rec: Tensor,
    alpha: Tensor,
    spike: SpikeFn,
    mask: Tensor | None = None,
) -> tuple[Tensor, NeuronState]:
    """One frame of the improved v2 neuron (Eq. 19-21).

    ``w_rec`` is ``[H, 2H]``: ``Y[n-1] @ w_rec`` gives the forget-gate half first, then
    the candidate half. Zeros in ``Y[n-1]`` are what an event-driven chip skips.
    """
    rec_f, rec_c = (state.y @ w_rec).chunk(2, dim=-1)
    return improved_v1_step(f_pre_t + rec_f, c_pre_t + rec_c, state, alpha, spike, mask)


def run_sequence(
    step: Callable[..., tuple[Tensor, NeuronState]],
    inputs: tuple[Tensor, ...],
    state: NeuronState,
    *args,
    track_max: bool = False,
    **kwargs,
) -> tuple[Tensor, NeuronState, Tensor | None]:
    """Apply ``step`` over the time axis of each tensor in ``inputs`` (``[T, B, ...]``).

    Returns ``(y [T, B, H], final state, max of V over the sequence or None)``. Frames
    are taken with ``unbind(0)``: indexing a tensor that needs gradients inside the loop
    would make every step's backward allocate a full ``[T, B, ...]`` zero tensor.
    """
    outs = []
    v_max = None
    for frame in zip(*(t.unbind(0) for t in inputs)):
        y, state = step(*frame, state, *args, **kwargs)
        outs.append(y)
        if track_max:
            m = state.v.detach().amax()
            v_max = m if v_max is None else torch.maximum(v_max, m)
    return torch.stack(outs), state, v_max
