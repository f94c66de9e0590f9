r"""Batch-1 inference of a spiking stack in C: a whole utterance, or a stream of frames.

At batch 1 a layer's frame is little arithmetic and many tiny tensor operations; what
is left after the event-driven gather (``streaming.py``) is the fixed cost of Python and
``ctypes`` per layer and frame. :class:`Batch1Program` binds the folded weights of every
layer once for the kernels of ``_seq1.c`` and removes that cost:

- :meth:`Batch1Program.run` (offline, ``x [T, 1, F]``): per layer one product over all T
  frames for the dense part of the input, then **one** C call that runs the recurrence
  over all T frames, reading only the weight rows of non-zero events:

  .. math::  P = b' + X W_i' \quad (\text{one GEMM over } T),\qquad
             A[n] = P[n] + \sum_{j:\, y_j[n-1] \neq 0} y_j[n-1]\, W_{r\,j,:}

  The first layer's input is dense features (a GEMM); a later layer's input is the
  previous layer's spikes, and ``events`` chooses how its part of ``P`` is formed:
  ``"project"`` (default) a column-blocked C gather over all T frames of the rows of
  the non-zero spikes (a block of W_i' stays in cache across frames), ``"gemm"`` a
  dense GEMM over T, ``"gather"`` inside the recurrence frame by frame.
- :meth:`Batch1Program.frame` (streaming): one C call per frame for the whole stack,
  the state ``[3, H]`` per layer updated in place (:class:`Stream1`).

The eval batch norm is folded into the input weights (:math:`s = \gamma /
\sqrt{\sigma^2 + \epsilon}`, :math:`W_i' = W_i s`, :math:`b' = (b - \mu) s + \beta`),
as in the sparse streaming step. The neuron update is the one of
:mod:`pytorch_kaldi_snn.functional.neurons` (equations in ``_seq1.c``); results equal
the eval forward up to float rounding (a value on a quantisation level's edge may move
by one level in float32, and the recurrence carries the change on). Float32 and float64
CPU tensors only; :func:`build` returns None otherwise or without the C library
(``PYTORCH_KALDI_SNN_NO_C=1``, no compiler), and the callers fall back to torch.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

import torch
from torch import Tensor, nn

from pytorch_kaldi_snn.errors import DataError
from pytorch_kaldi_snn.nn import cstep
from pytorch_kaldi_snn.nn.layers import SNNStack, SpikingLayer
from pytorch_kaldi_snn.nn.spike import MultiBitSpike

EVENTS = ("project", "gemm", "gather")
_SUFFIX = {torch.float32: "f32", torch.float64: "f64"}
_BLOCK = 256  # columns per block of the projection (256 x 4 bytes per weight row)
_CHUNK = 2048  # frames per C call of the offline path (bounds the scratch)


class _Layer(ctypes.Structure):
    """``pks_layer`` of ``_seq1.c``."""

    _fields_ = [("kind", ctypes.c_int), ("n_x", ctypes.c_int), ("h", ctypes.c_int),
                ("levels", ctypes.c_int), ("w_in", ctypes.c_void_p),
                ("w_rec", ctypes.c_void_p), ("bias", ctypes.c_void_p),
                ("alpha", ctypes.c_void_p), ("beta", ctypes.c_void_p),
                ("step", ctypes.c_double), ("thr", ctypes.c_double),
                ("top", ctypes.c_double)]


def stack_of(model: nn.Module) -> SNNStack:
    """The :class:`SNNStack` of ``model`` (itself, or a PyTorch-Kaldi module's
    ``.snn``); DataError otherwise."""
    if isinstance(model, SNNStack):
        return model
    inner = getattr(model, "snn", None)
    if isinstance(inner, SNNStack):
        return inner
    raise DataError(f"streaming needs an SNNStack or a module with .snn, got "
                    f"{type(model).__name__}")


def fold(layer: SpikingLayer) -> tuple[Tensor, Tensor | None, Tensor]:
    """``(W_i'^T [F, W], W_r^T [H, W] or None, b' [W])`` with the eval BN folded."""
    w = layer.w_in.weight.detach()  # [W, F]
    bias = (layer.w_in.bias.detach() if layer.w_in.bias is not None
            else w.new_zeros(w.shape[0]))
    if layer.bn is not None:
        bn = layer.bn
        scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
        bias = (bias - bn.running_mean) * scale + bn.bias.detach()
        w = w * scale[:, None]
    w_rec = (None if layer.w_rec is None
             else layer.w_rec.weight.detach().t().contiguous())
    return w.t().contiguous(), w_rec, bias.contiguous()


class Batch1Program:
    """The layers of one stack bound for ``_seq1.c`` in one dtype; see the module doc.

    Keeps every tensor the library reads alive. Build it with :func:`build`.
    """

    def __init__(self, lib: ctypes.CDLL, stack: SNNStack, dtype: torch.dtype,
                 events: str = "project") -> None:
        if events not in EVENTS:
            raise DataError(f"events must be one of {', '.join(EVENTS)}, got "
                            f"{events!r}")
        suffix = _SUFFIX[dtype]
        self.dtype, self.events, self.stack = dtype, events, stack
        self._layer_fn = getattr(lib, f"pks_seq1_layer_{suffix}")
        self._frame_fn = getattr(lib, f"pks_seq1_frame_{suffix}")
        self._project_fn = getattr(lib, f"pks_seq1_project_{suffix}")
        self.encoder = stack.encoder
        self.input_size = stack.input_size
        self.sizes = [layer.hidden_size for layer in stack.layers]
        self._keep: list[tuple[Tensor, ...]] = []
        self.structs = (_Layer * len(stack.layers))()
        with torch.no_grad():
            for n, layer in enumerate(stack.layers):
                self._bind(self.structs[n], layer)
        self.structs_ptr = ctypes.addressof(self.structs)

    def _bind(self, st: _Layer, layer: SpikingLayer) -> None:
        w_in, w_rec, bias = (t if t is None else t.to(self.dtype).contiguous()
                             for t in fold(layer))
        alpha, beta = (t.detach().to(self.dtype).contiguous() for t in layer.decays())
        sp = layer.spike
        levels = 0 if sp.n_bits is None else 2**sp.n_bits
        step = sp.range.detach().to(self.dtype) / max(levels, 1)
        st.kind = {"traditional": 0, "v1": 1, "v2": 2}[layer.kind]
        st.n_x, st.h, st.levels = layer.input_size, layer.hidden_size, levels
        st.w_in, st.bias = w_in.data_ptr(), bias.data_ptr()
        st.w_rec = None if w_rec is None else w_rec.data_ptr()
        st.alpha, st.beta = alpha.data_ptr(), beta.data_ptr()
        st.step, st.thr = float(step), float(sp.k * step)
        st.top = float(max(levels - 1, 0))
        self._keep.append((w_in, bias, alpha, beta, *(() if w_rec is None
                                                       else (w_rec,))))

    def _check(self, rc: int, name: str) -> None:
        if rc != 0:
            raise RuntimeError(f"pks_seq1_{name} returned {rc}")

    def run(self, x: Tensor) -> Tensor:
        """``x [T, 1, F]`` -> ``[T, 1, H_last]`` from the zero state (one C call per
        layer; no autograd)."""
        if (x.dim() != 3 or x.shape[1] != 1 or x.shape[2] != self.input_size
                or x.device.type != "cpu"):
            raise DataError(f"batch-1 forward expects [T, 1, {self.input_size}], got "
                            f"{list(x.shape)} on {x.device}")
        with torch.no_grad():
            h = x.to(self.dtype)
            events = self.encoder is not None
            if events:
                h = self.encoder(h)
            h = h[:, 0].contiguous()
            for n, size in enumerate(self.sizes):
                h = self._run_layer(n, h, events or n > 0, size)
        return h[:, None]

    def _run_layer(self, n: int, h: Tensor, events: bool, size: int) -> Tensor:
        """All frames of layer n, in chunks of ``_CHUNK`` frames (the state carries
        over), so the scratch stays bounded for long recordings."""
        st, (w_in, bias) = self.structs[n], self._keep[n][:2]
        t_len, n_x, width = h.shape[0], h.shape[1], bias.shape[0]
        state = h.new_zeros(3, size)
        y = h.new_empty(t_len, size)
        if self.events == "project" and events:
            idx = torch.empty(min(t_len, _CHUNK) * n_x, dtype=torch.int32)
            cnt = torch.empty(min(t_len, _CHUNK), dtype=torch.int32)
        for t0 in range(0, t_len, _CHUNK):
            x = h[t0:t0 + _CHUNK]
            x_arg: int | None = None
            pre: Tensor | None = None
            if not events or self.events == "gemm":
                pre = torch.addmm(bias, x, w_in)
            elif self.events == "project":
                pre = x.new_empty(x.shape[0], width)
                self._check(self._project_fn(
                    x.shape[0], n_x, width, x.data_ptr(), w_in.data_ptr(),
                    bias.data_ptr(), pre.data_ptr(), _BLOCK, idx.data_ptr(),
                    cnt.data_ptr()), "project")
            else:
                x_arg = x.data_ptr()
            self._check(self._layer_fn(
                ctypes.byref(st), x.shape[0], None if pre is None else pre.data_ptr(),
                x_arg, state.data_ptr(), y[t0:].data_ptr()), "layer")
        return y

    def new_state(self) -> Tensor:
        """All-zero stream state: each layer's ``[3, H]`` block (I, V, Y) in turn."""
        return torch.zeros(3 * sum(self.sizes), dtype=self.dtype)

    def frame(self, x_t: Tensor, state: Tensor) -> Tensor:
        """One frame ``x_t`` (contiguous, ``input_size`` values of the program's dtype)
        of the whole stack; ``state`` (:meth:`new_state`) is updated in place. Returns
        ``[1, H_last]``. No encoder (the caller checks)."""
        y = torch.empty(1, self.sizes[-1], dtype=self.dtype)
        self._check(self._frame_fn(len(self.sizes), self.structs_ptr, x_t.data_ptr(),
                                   state.data_ptr(), y.data_ptr()), "frame")
        return y


def build(stack: SNNStack, dtype: torch.dtype, events: str = "project"
          ) -> Batch1Program | None:
    """A :class:`Batch1Program`, or None where it does not apply (no C library, a
    dtype other than float32/float64, a spike other than ``MultiBitSpike``, CUDA)."""
    if dtype not in _SUFFIX or events not in EVENTS:
        return None
    for layer in stack.layers:
        if (type(layer.spike) is not MultiBitSpike
                or layer.w_in.weight.device.type != "cpu"
                or (layer.bn is not None and not layer.bn.track_running_stats)):
            return None
    lib = cstep.library()
    if lib is None:
        return None
    return Batch1Program(lib, stack, dtype, events)


class Stream1:
    """One stream (batch 1), frame after frame, its state held inside.

    ``push(x_t [1, F]) -> y_t [1, H_last]``; :meth:`reset` starts a new utterance. With
    a program (and no input encoder) each frame is one C call for the whole stack;
    otherwise ``step(x_t, state) -> (y_t, state)`` runs (the torch step).
    """

    def __init__(self, input_size: int, program: Batch1Program | None,
                 step: Callable[[Tensor, object], tuple[Tensor, object]]) -> None:
        self.input_size = input_size
        self._program = program if program is not None and program.encoder is None \
            else None
        self._step = step
        self._shape = (1, input_size)
        self.reset()

    @property
    def native(self) -> bool:
        """True when frames run in one C call each."""
        return self._program is not None

    def reset(self) -> None:
        """Back to the all-zero state."""
        self._state = None if self._program is None else self._program.new_state()

    def push(self, x_t: Tensor) -> Tensor:
        """Feed one frame ``[1, F]``; returns the last layer's output ``[1, H]``."""
        if tuple(x_t.shape) != self._shape:
            raise DataError(f"a batch-1 stream takes frames [1, {self.input_size}], "
                            f"got {list(x_t.shape)}")
        program = self._program
        if program is None:
            y, self._state = self._step(x_t, self._state)
            return y
        if x_t.device.type != "cpu":
            raise DataError(f"the model is on the CPU, the frame on {x_t.device}")
        if x_t.dtype is not program.dtype or not x_t.is_contiguous():
            x_t = x_t.to(program.dtype).contiguous()
        return program.frame(x_t, self._state)
