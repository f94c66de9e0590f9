r"""Frame-by-frame inference of a trained spiking stack: ``step(x_t, state)``.

:class:`StreamingSNN` wraps an :class:`~pytorch_kaldi_snn.nn.SNNStack` (or a
PyTorch-Kaldi ``SNN_*`` module, through its ``snn`` attribute) in eval mode and offers

- ``step(x_t [B, F], state) -> (y_t [B, H], state)``, the online form of the stack;
- ``forward(x [T, B, F])``, the same loop over a whole sequence.

Two modes:

``sparse=False`` (exact): each frame goes through the layer's own ``w_in`` and ``bn``
(running statistics) and the reference step functions of
:mod:`pytorch_kaldi_snn.functional.neurons`, so the outputs equal the full-sequence
eval forward (float64: identical; float32: up to the last bit of X W, see tests).

``sparse=True`` (event-driven): a layer's input events and its own previous output are
mostly zeros; only the weight rows of non-zero entries are read:

.. math::  A[n] = b' + \sum_{j:\, x_j[n] \neq 0} x_j[n]\, W'_{j,:}
                 + \sum_{j:\, y_j[n-1] \neq 0} y_j[n-1]\, W_{r\,j,:}

computed by ``embedding_bag`` (sum mode with per-sample weights) over one table
``[W_i'; W_r]`` (input rows, then recurrent rows). The eval batch norm is folded into
``W_i'`` and ``b'`` (:math:`s = \gamma / \sqrt{\sigma^2 + \epsilon}`, :math:`W_i' = W_i
s`, :math:`b' = (b - \mu) s + \beta`); the first layer, whose input is dense features
(unless a sigma-delta encoder feeds it events), uses a dense product for its input.
Results equal the exact mode up to float rounding (a value at a quantisation level's
edge may move by one level in float32, and the recurrence carries the change on).
Call :meth:`StreamingSNN.refresh` after changing the wrapped model's weights.

At batch 1 (float32 or float64 on the CPU, with the C kernels) the sparse mode runs
through :mod:`pytorch_kaldi_snn.nn.batch1` (``_seq1.c``): :meth:`StreamingSNN.forward`
runs a whole utterance in one C call per layer (first layer's input: one GEMM over
all T frames), :meth:`StreamingSNN.step` one C call per frame for the whole stack, and
:meth:`StreamingSNN.open` gives a stateful stream (``push(x_t) -> y_t``) without the
cost of building a new state per frame. Batched float32 streams take one call into
``_step1.c`` (:mod:`pytorch_kaldi_snn.nn.cstep`) per layer and frame. ``native=False``,
other dtypes or no C compiler: batch 1 runs the step as about twenty eager tensor ops,
larger batches the scripted :func:`_event_step`. At batch 1 the fixed cost of each
tensor op and Python call, not arithmetic, bounds the speed, so the C paths are what
turn the zeros into wall time (``bench/bench_batch1.py``, ``bench/bench_streaming.py``).
"""

from __future__ import annotations

import logging
from typing import NamedTuple, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pytorch_kaldi_snn.errors import DataError
from pytorch_kaldi_snn.functional import neurons
from pytorch_kaldi_snn.functional.neurons import NeuronState
from pytorch_kaldi_snn.nn import batch1, cstep
from pytorch_kaldi_snn.nn.layers import SpikingLayer
from pytorch_kaldi_snn.nn.spike import MultiBitSpike

log = logging.getLogger(__name__)

_F32 = torch.float32


class StreamState(NamedTuple):
    """Encoder accumulator and last event (or empty tensors) + one state per layer."""

    enc_u: Tensor
    enc_e: Tensor
    layers: tuple[NeuronState, ...]


_stack_of = batch1.stack_of


class _SparseLayer:
    """Folded weights of one layer for the event-driven step."""

    def __init__(self, layer: SpikingLayer, events_in: bool, native: bool = True
                 ) -> None:
        w_t, w_rec_t, bias = batch1.fold(layer)  # [F, G*H], [H, G*H] or None, [G*H]
        self.kind = layer.kind
        self.h = layer.hidden_size
        self.bias = bias
        self.events_in = events_in
        rows = [w_t] if events_in else []
        if w_rec_t is not None:
            rows.append(w_rec_t)
        self.table = torch.cat(rows).contiguous() if rows else None
        self.w_dense_t = None if events_in else w_t
        alpha, beta = layer.decays()
        self.alpha, self.beta = alpha.detach(), beta.detach()
        sp = layer.spike

        self.levels = 0 if sp.n_bits is None else 2**sp.n_bits
        self.step_size = sp.range.detach() / max(self.levels, 1)
        self.thr = sp.k * self.step_size
        self.code = {"traditional": 0, "v1": 1, "v2": 2}[layer.kind]
        # Batch 1: one table [W_i'; W_r; b'] read by one embedding_bag per frame (the
        # dense input rows of the first layer and a constant 1 for the bias included).
        rows = [w_t] + ([] if w_rec_t is None else [w_rec_t]) + [bias[None]]
        self.table1 = torch.cat(rows).contiguous()
        self.one = bias.new_ones(1, 1)
        self.offset0 = torch.zeros(1, dtype=torch.long, device=bias.device)
        self.step_f = float(self.step_size)
        self.thr_f = float(self.thr)
        self.top_f = float(max(self.levels - 1, 0))
        self.cstep: cstep.Step1 | None = None
        if (native and self.table1.dtype == torch.float32
                and self.table1.device.type == "cpu"):
            lib = cstep.library()
            if lib is not None:
                self.cstep = cstep.Step1(
                    lib, self.code, w_t.shape[0], self.table1,
                    self.alpha.to(torch.float32), self.beta.to(torch.float32),
                    self.step_f, self.thr_f, self.top_f, self.levels)

    def _c_step(self, x: Tensor, s: NeuronState) -> tuple[Tensor, NeuronState] | None:
        """The C step for float32 streams (any batch); None when it does not apply."""
        if (self.cstep is None or x.dtype is not _F32 or s.i.dtype is not _F32
                or s.v.dtype is not _F32 or s.y.dtype is not _F32):
            return None
        i, v, y = self.cstep(x.contiguous(), s.i.contiguous(), s.v.contiguous(),
                             s.y.contiguous())
        return y, NeuronState(i, v, y)

    def step1(self, x: Tensor, s: NeuronState) -> tuple[Tensor, NeuronState]:
        """Batch-1 event-driven frame: the C step, else eager torch ops (no
        interpreter between ops).

        Same arithmetic as :func:`_event_step` except that the input rows and the bias
        join the gathered sum (float rounding of the sum may differ).
        """
        done = self._c_step(x, s)
        if done is not None:
            return done
        if self.code == 2:
            vec = torch.cat((x, s.y, self.one), 1)[0]
        else:
            vec = torch.cat((x, self.one), 1)[0]
        idx = vec.nonzero().squeeze(1)
        a = F.embedding_bag(idx, self.table1, self.offset0, mode="sum",
                            per_sample_weights=vec[idx])
        if self.code == 0:
            i = torch.mul(self.beta, s.i).add_(a)
        else:
            h = self.h
            f = torch.sigmoid(a[:, :h])
            c = a[:, h:].clamp_(min=0)
            i = torch.mul(f, s.i)
            i.add_(f.neg_().add_(1).mul_(c))
        v = torch.mul(self.alpha, s.v).add_(i).sub_(s.y)
        if self.levels == 0:
            y = torch.relu(v)
        else:  # v <= thr -> 0; else floor(v / step) clamped to the top level, * step
            y = torch.threshold(v, self.thr_f, 0.0).div_(self.step_f).floor_()
            y.clamp_(max=self.top_f).mul_(self.step_f)
        return y, NeuronState(i, v, y)

    def step(self, x: Tensor, s: NeuronState) -> tuple[Tensor, NeuronState]:
        """Event-driven frame of B streams: the C step, else :func:`_event_step`."""
        done = self._c_step(x, s)
        if done is not None:
            return done
        i, v, y = _event_step(
            self.code, x, s.i, s.v, s.y, self.table, self.events_in, self.w_dense_t,
            self.bias, self.alpha, self.beta, self.step_size, self.thr, self.levels,
            self.h)
        return y, NeuronState(i, v, y)


@torch.jit.script
def _event_step(kind: int, x: Tensor, i: Tensor, v: Tensor, y: Tensor,
                table: Optional[Tensor], events_in: bool,  # noqa: UP045
                w_dense_t: Optional[Tensor],  # noqa: UP045 (TorchScript)
                bias: Tensor, alpha: Tensor, beta: Tensor, step: Tensor, thr: Tensor,
                levels: int, h: int) -> tuple[Tensor, Tensor, Tensor]:
    """One event-driven frame of a layer (scripted: per-op Python overhead rules)."""
    vec: Optional[Tensor] = None  # noqa: UP045
    if events_in:
        vec = torch.cat([x, y], 1) if kind == 2 else x
    elif kind == 2:
        vec = y
    batch = x.size(0)
    if vec is not None and table is not None:
        if batch == 1:
            idx = vec[0].nonzero().squeeze(1)
            vals = vec[0][idx]
            offsets = torch.zeros(1, dtype=torch.long, device=x.device)
        else:
            nz = vec.nonzero()
            rows, idx = nz[:, 0], nz[:, 1]
            vals = vec[rows, idx]
            counts = torch.bincount(rows, minlength=batch)
            offsets = counts.cumsum(0) - counts
        a = F.embedding_bag(idx, table, offsets, mode="sum",
                            per_sample_weights=vals) + bias
    else:
        a = bias.expand(batch, bias.size(0))
    if w_dense_t is not None:
        a = torch.addmm(a, x, w_dense_t)
    if kind == 0:
        i = beta * i + a
    else:
        f = torch.sigmoid(a[:, :h])
        c = torch.relu(a[:, h:])
        i = f * i + (1 - f) * c
    v = alpha * v + i - y
    if levels == 0:
        y = torch.relu(v)
    else:
        q = torch.floor(v / step).clamp_(0, levels - 1)
        y = q.mul_(step).mul_(v > thr)
    return i, v, y


class StreamingSNN(nn.Module):
    """Online (frame-by-frame) eval form of a spiking stack; see the module doc."""

    def __init__(self, model: nn.Module, *, sparse: bool = False,
                 native: bool = True) -> None:
        super().__init__()
        self.stack = _stack_of(model)
        self.sparse = bool(sparse)
        self.native = bool(native)
        for layer in self.stack.layers:
            if type(layer.spike) is not MultiBitSpike and self.sparse:
                raise DataError("the sparse streaming path supports the paper's "
                                "MultiBitSpike only; use sparse=False")
            if layer.bn is not None and not layer.bn.track_running_stats:
                raise DataError("streaming needs batch norm with running statistics")
        self._sparse_layers: list[_SparseLayer] = []
        self._program: batch1.Batch1Program | None = None
        self.refresh()

    def refresh(self) -> None:
        """Re-read the wrapped model's weights (after training or loading)."""
        self.stack.eval()
        self._program = None
        if not self.sparse:
            return
        if self.native:
            dtype = next(self.stack.parameters()).dtype
            self._program = batch1.build(self.stack, dtype)
            self._split_sizes = [layer.hidden_size for layer in self.stack.layers
                                 for _ in range(3)]
            self._flat_width = sum(self._split_sizes)
        with torch.no_grad():
            enc = self.stack.encoder is not None
            self._sparse_layers = [
                _SparseLayer(layer, events_in=(n > 0 or enc), native=self.native)
                for n, layer in enumerate(self.stack.layers)
            ]

    def initial_state(self, batch: int = 1, like: Tensor | None = None) -> StreamState:
        """All-zero state for ``batch`` streams (dtype/device of ``like``)."""
        like = like if like is not None else next(self.stack.parameters())
        layers = tuple(neurons.zero_state(batch, layer.hidden_size, like)
                       for layer in self.stack.layers)
        if self.stack.encoder is not None:
            u = like.new_zeros(batch, self.stack.input_size)
            return StreamState(u, u, layers)
        empty = like.new_zeros(0)
        return StreamState(empty, empty, layers)

    @torch.inference_mode()
    def step(self, x_t: Tensor, state: StreamState | None = None
             ) -> tuple[Tensor, StreamState]:
        """One frame ``x_t [B, F]`` -> ``(y_t [B, H_last], new state)``."""
        if x_t.dim() != 2 or x_t.shape[1] != self.stack.input_size:
            raise DataError(f"streaming step expects [B, {self.stack.input_size}], "
                            f"got {list(x_t.shape)}")
        if state is None:
            state = self.initial_state(x_t.shape[0], x_t)
        enc_u, enc_e = state.enc_u, state.enc_e
        h = x_t
        if self.stack.encoder is not None:
            enc_u = enc_u + x_t - enc_e
            enc_e = self.stack.encoder.spike(enc_u)
            h = enc_e
        if self.sparse and h.shape[0] == 1:
            done = self._program_step(h, state)
            if done is not None:
                return done[0], StreamState(enc_u, enc_e, done[1])
        new_states = []
        if self.sparse and h.shape[0] == 1:
            for n, sl in enumerate(self._sparse_layers):
                h, s = sl.step1(h, state.layers[n])
                new_states.append(s)
            return h, StreamState(enc_u, enc_e, tuple(new_states))
        for n, layer in enumerate(self.stack.layers):
            if self.sparse:
                h, s = self._sparse_layers[n].step(h, state.layers[n])
            else:
                h, s = _exact_step(layer, h, state.layers[n])
            new_states.append(s)
        return h, StreamState(enc_u, enc_e, tuple(new_states))

    def _program_step(self, h: Tensor, state: StreamState
                      ) -> tuple[Tensor, tuple[NeuronState, ...]] | None:
        """Batch 1: the whole stack's frame in one C call (the state is copied into
        one new buffer, updated there, and returned as views of it); None when the
        program does not apply."""
        program = self._program
        if program is None or h.dtype is not program.dtype or h.device.type != "cpu":
            return None
        flat = torch.cat([t for s in state.layers for t in s], 1)
        if flat.dtype is not program.dtype or flat.shape != (1, self._flat_width):
            return None
        y = program.frame(h.contiguous(), flat)
        parts = flat.split(self._split_sizes, 1)
        return y, tuple(NeuronState(*parts[3 * n:3 * n + 3])
                        for n in range(len(self._split_sizes) // 3))

    def open(self) -> batch1.Stream1:
        """A stateful batch-1 stream: ``push(x_t [1, F]) -> y_t [1, H]``, one C call
        per frame for the whole stack where :mod:`~pytorch_kaldi_snn.nn.batch1`
        applies (sparse, native, no encoder), else :meth:`step`."""
        return batch1.Stream1(self.stack.input_size, self._program, self.step)

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        """Run :meth:`step` over ``x [T, B, F]`` from the zero state; a sparse native
        stream at batch 1 runs the whole utterance in one C call per layer
        (:meth:`~pytorch_kaldi_snn.nn.batch1.Batch1Program.run`)."""
        program = self._program
        if (program is not None and x.dim() == 3 and x.shape[1] == 1
                and x.dtype is program.dtype and x.device.type == "cpu"):
            return program.run(x)
        state = self.initial_state(x.shape[1], x)
        outs = []
        for x_t in x.unbind(0):
            y, state = self.step(x_t, state)
            outs.append(y)
        return torch.stack(outs)


def _exact_step(layer: SpikingLayer, x: Tensor, s: NeuronState
                ) -> tuple[Tensor, NeuronState]:
    """One frame through the layer's own modules and the reference step functions."""
    pre = layer.w_in(x)
    if layer.bn is not None:
        pre = layer.bn(pre)
    alpha, beta = layer.decays()
    if layer.kind == "traditional":
        return neurons.traditional_step(pre, s, beta, alpha, layer.spike)
    f_pre, c_pre = pre.chunk(2, dim=-1)
    if layer.kind == "v1":
        return neurons.improved_v1_step(f_pre, c_pre, s, alpha, layer.spike)
    return neurons.improved_v2_step(f_pre, c_pre, s, layer.w_rec.weight.t(), alpha,
                                    layer.spike)
