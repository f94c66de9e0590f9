"""Operation and sparsity counting with forward hooks (no patching, no buffers).

>>> import torch
>>> lstm = torch.nn.LSTM(40, 8)
>>> with count_ops(lstm) as counter:
...     _ = lstm(torch.randn(5, 2, 40))
>>> layer = counter.layers["l0"]
>>> layer.frames, layer.mults // layer.frames == 4 * 8 * (40 + 8) + 3 * 8
(10, True)

:func:`count_ops` attaches hooks to every unit it recognises inside ``model``:

* spiking layers (``SpikingLayer``, recognised by ``kind`` in traditional/v1/v2,
  ``w_in`` and ``hidden_size``): event-driven costs, see :mod:`.costs`;
* the sigma-delta input encoder (class name ``SigmaDeltaEncoder``);
* ``torch.nn.LSTM`` / ``torch.nn.GRU`` (every layer and direction);
* PyTorch-Kaldi's own ``LSTM``/``GRU`` (upstream's ``wfx/ufh/...`` and ``wh/uh/wz/wr``
  module lists, or this package's ``wx/uh`` lists), recognised by structure;
* any other ``torch.nn.Linear`` (MLP heads, readouts), counted dense.

Modules inside a recognised unit are not counted again. Each hook adds, per layer,
the frames seen, non-zero input/output events and multiplications/additions; the
counter object never touches the model's parameters, buffers or state_dict.
"""

from __future__ import annotations

import logging
from dataclasses import fields
from typing import Any, Callable

import torch
from torch import nn

from pytorch_kaldi_snn.ops import costs
from pytorch_kaldi_snn.ops.costs import Cost
from pytorch_kaldi_snn.ops.records import LayerCount

logger = logging.getLogger(__name__)

SPIKING_KINDS = ("traditional", "v1", "v2")
__all__ = ["LayerCount", "OpCounter", "count_ops", "is_encoder", "is_spiking_layer"]


def _tensor(x: Any) -> torch.Tensor | None:
    """The data tensor of a hook argument (tensor, PackedSequence, or a tuple)."""
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, nn.utils.rnn.PackedSequence):
        return x.data
    if isinstance(x, (tuple, list)) and x:
        return _tensor(x[0])
    return None


def _mask_like(mask: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor | None:
    """``mask`` reshaped to ``x``'s frame dimensions, or None if it does not fit."""
    if mask is None or mask.numel() != x.numel() // max(x.shape[-1], 1):
        return None
    return mask.reshape(x.shape[:-1]).to(device=x.device, dtype=torch.bool)


def _nnz(x: torch.Tensor, mask: torch.Tensor | None = None) -> int:
    """Non-zero values of ``x`` on the frames where ``mask`` holds."""
    nz = x.detach() != 0
    if mask is not None:
        nz = nz & mask.unsqueeze(-1)
    return int(nz.sum())


def _frames(x: torch.Tensor, mask: torch.Tensor | None = None) -> int:
    if mask is not None:
        return int(mask.sum())
    return x.numel() // max(x.shape[-1], 1)


def _slots(x: torch.Tensor, mask: torch.Tensor | None = None) -> int:
    return _frames(x, mask) * x.shape[-1]


def _not_one(t: Any) -> int:
    """Number of decay constants different from 1 (products with 1 are free)."""
    if t is None:
        return 0
    t = torch.as_tensor(t.detach() if isinstance(t, torch.Tensor) else t)
    return int((t != 1).sum())


def is_spiking_layer(m: nn.Module) -> bool:
    """A ``SpikingLayer`` (docs/internals.md), recognised by its attributes."""
    return (
        getattr(m, "kind", None) in SPIKING_KINDS
        and isinstance(getattr(m, "w_in", None), nn.Linear)
        and hasattr(m, "hidden_size")
    )


def is_encoder(m: nn.Module) -> bool:
    """The sigma-delta input encoder (``nn.SigmaDeltaEncoder``)."""
    return type(m).__name__ == "SigmaDeltaEncoder"


def _is_quantised(spike: Any) -> bool:
    """False for full precision (``n_bits`` None); True for the multi-bit spike."""
    if spike is None:
        return False
    return getattr(spike, "n_bits", 1) is not None


StackPlan = tuple[str, list[tuple[int, int, nn.Module]], int, int]


def _pk_stack(m: nn.Module) -> StackPlan | None:
    """Recognise a PyTorch-Kaldi style LSTM/GRU stack by its module lists.

    Returns ``(cell, [(input, hidden, tap)], directions, duplicate)``, where ``tap`` is
    the Linear that receives each layer's input and ``duplicate`` how many times that
    input is repeated along the batch (upstream concatenates the reversed sequence).
    """
    lists = {k: v for k, v in m.named_children() if isinstance(v, nn.ModuleList)}
    bidir = getattr(m, "bidir", None)
    if bidir is None:
        bidir = getattr(getattr(m, "opts", None), "bidir", False)
    ndir = 2 if bidir else 1
    if "wfx" in lists and "ufh" in lists and len(lists["ufh"]):
        layers = [(w.in_features, u.in_features, w) for w, u in zip(m.wfx, m.ufh)]
        return "lstm", layers, ndir, ndir
    if all(k in lists for k in ("wh", "uh", "wz", "wr")) and len(lists["uh"]):
        layers = [(w.in_features, u.in_features, w) for w, u in zip(m.wh, m.uh)]
        return "gru", layers, ndir, ndir
    if "wx" in lists and "uh" in lists and len(lists["uh"]):
        u0 = m.uh[0]
        gates = u0.out_features // u0.in_features
        if gates not in (3, 4):
            return None
        layers = [(w.in_features, u.in_features, w) for w, u in zip(m.wx, m.uh)]
        return ("lstm" if gates == 4 else "gru"), layers, ndir, 1
    return None


class OpCounter:
    """Forward-hook operation counter; see the module docstring.

    ``torch.nn.GRU`` layers are counted in their own element-wise form ("torch"),
    PyTorch-Kaldi GRUs in theirs ("pytorch-kaldi"), see :mod:`.costs`.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.layers: dict[str, LayerCount] = {}
        self._handles: list[Any] = []
        self._plan: list[tuple[nn.Module, Callable]] = []
        self._frame_mask: torch.Tensor | None = None
        self._build_plan()

    def set_frame_mask(self, mask: torch.Tensor | None) -> None:
        """Count only the frames where ``mask`` (``[T, B]`` bool) holds, for the
        following forward calls; None counts every frame.

        Padded frames of a batch are not real frames: set the batch's mask before
        each forward call. A hook whose tensor has another frame layout (e.g. the
        doubled batch of upstream's bidirectional LSTM) counts all its frames.
        """
        self._frame_mask = None if mask is None else mask.detach()

    def _mask(self, x: torch.Tensor) -> torch.Tensor | None:
        return _mask_like(self._frame_mask, x)

    # -- plan: which module gets which hook -----------------------------------------
    def _claim(self, name: str, module: nn.Module, hook: Callable) -> None:
        self._plan.append((module, hook))

    def _build_plan(self) -> None:
        claimed: list[str] = []
        for name, m in self.model.named_modules():
            if any(name == c or name.startswith(c + ".") or c == "" for c in claimed):
                continue
            label = name or type(m).__name__
            if is_spiking_layer(m):
                self._plan_spiking(label, m)
            elif is_encoder(m):
                self._plan_encoder(label, m)
            elif isinstance(m, (nn.LSTM, nn.GRU)):
                self._plan_torch_rnn(label, m)
            elif (stack := _pk_stack(m)) is not None:
                self._plan_pk_stack(label, m, stack)
            elif isinstance(m, nn.Linear):
                self._plan_linear(label, m)
            else:
                continue
            claimed.append(name)
        if not self._plan:
            logger.warning(
                "count_ops: no countable layer found in %s", type(self.model)
            )

    def _new(self, name: str, **kw: Any) -> LayerCount:
        rec = LayerCount(name=name, **kw)
        self.layers[name] = rec
        return rec

    def _plan_spiking(self, name: str, m: nn.Module) -> None:
        kind = m.kind
        gates = 1 if kind == "traditional" else 2
        h = int(m.hidden_size)
        rec = self._new(
            name, kind=kind, role="recurrent", input_size=int(m.w_in.in_features),
            hidden_size=h,
        )

        def hook(mod: nn.Module, inp: Any, out: Any) -> None:
            x, y = _tensor(inp), _tensor(out)
            mx, my = self._mask(x), self._mask(y)
            frames = _frames(x, mx)
            rec.frames += frames
            rec.calls += 1
            n_in = _nnz(x, mx)
            rec.in_events += n_in
            rec.in_slots += _slots(x, mx)
            rec.out_events += _nnz(y, my)
            rec.out_slots += _slots(y, my)
            rec.add_cost("input", Cost(n_in * gates * h, n_in * gates * h, 0))
            if kind == "v2":
                # y[t-1] feeds frame t (if t is a real frame); y[-1] feeds nothing
                n_rec = _nnz(y[:-1], None if my is None else my[1:])
                rec.rec_events += n_rec
                rec.add_cost("recurrent", Cost(n_rec * 2 * h, n_rec * 2 * h, 0))
            per_frame = costs.spiking_elementwise_cost(
                kind, h,
                n_alpha=_not_one(getattr(mod, "alpha", None)),
                n_beta=_not_one(getattr(mod, "beta", None)) if gates == 1 else 0,
                quantised=_is_quantised(getattr(mod, "spike", None)),
                bias_add=(
                    getattr(mod, "bn", None) is not None or mod.w_in.bias is not None
                ),
            )
            rec.add_cost("elementwise", per_frame.scale(frames))

        self._claim(name, m, hook)

    def _plan_encoder(self, name: str, m: nn.Module) -> None:
        rec = self._new(
            name, kind="encoder", role="encoder", input_size=0, hidden_size=0
        )

        def hook(mod: nn.Module, inp: Any, out: Any) -> None:
            x, y = _tensor(inp), _tensor(out)
            rec.input_size = rec.hidden_size = int(x.shape[-1])
            mx, my = self._mask(x), self._mask(y)
            frames = _frames(x, mx)
            rec.frames += frames
            rec.calls += 1
            rec.in_events += _nnz(x, mx)
            rec.in_slots += _slots(x, mx)
            rec.out_events += _nnz(y, my)
            rec.out_slots += _slots(y, my)
            quantised = _is_quantised(getattr(mod, "spike", mod))
            per_frame = costs.encoder_elementwise_cost(int(x.shape[-1]), quantised)
            rec.add_cost("elementwise", per_frame.scale(frames))

        self._claim(name, m, hook)

    def _plan_torch_rnn(self, name: str, m: nn.Module) -> None:
        cell = "lstm" if isinstance(m, nn.LSTM) else "gru"
        ndir = 2 if m.bidirectional else 1
        proj = int(getattr(m, "proj_size", 0) or 0)
        out_size = proj or m.hidden_size
        recs = []
        for k in range(m.num_layers):
            f = m.input_size if k == 0 else ndir * out_size
            recs.append(self._new(
                f"{name}.l{k}" if name != type(m).__name__ else f"l{k}",
                kind=cell, role="recurrent", input_size=f, hidden_size=m.hidden_size,
                directions=ndir, observed_in=k == 0,
                observed_out=k == m.num_layers - 1,
            ))

        def hook(mod: nn.Module, inp: Any, out: Any) -> None:
            x, y = _tensor(inp), _tensor(out)
            mx, my = self._mask(x), self._mask(y)
            frames = _frames(x, mx)
            for k, rec in enumerate(recs):
                _add_dense(rec, _dense_parts(rec, proj, "torch"), frames, ndir)
                if k == 0:
                    rec.in_events += _nnz(x, mx)
                    rec.in_slots += _slots(x, mx)
                if k == len(recs) - 1:
                    rec.out_events += _nnz(y, my)
                    rec.out_slots += _slots(y, my)

        self._claim(name, m, hook)

    def _plan_pk_stack(self, name: str, m: nn.Module, stack: tuple) -> None:
        cell, layers, ndir, dup = stack
        recs = [
            self._new(
                f"{name}.l{k}" if name != type(m).__name__ else f"l{k}", kind=cell,
                role="recurrent", input_size=f, hidden_size=h, directions=ndir,
            )
            for k, (f, h, _) in enumerate(layers)
        ]

        def tap_hook(k: int) -> Callable:
            def hook(mod: nn.Module, inp: Any, out: Any) -> None:
                x = _tensor(inp)
                mx = self._mask(x)
                n, slots = _nnz(x, mx) // dup, _slots(x, mx) // dup
                recs[k].in_events += n
                recs[k].in_slots += slots
                if k > 0:
                    recs[k - 1].out_events += n
                    recs[k - 1].out_slots += slots
            return hook

        for k, (_, _, tap) in enumerate(layers):
            self._claim(f"{name}.tap{k}", tap, tap_hook(k))

        def hook(mod: nn.Module, inp: Any, out: Any) -> None:
            x, y = _tensor(inp), _tensor(out)
            my = self._mask(y)
            frames = _frames(x, self._mask(x))
            for rec in recs:
                _add_dense(rec, _dense_parts(rec), frames, ndir)
            recs[-1].out_events += _nnz(y, my)
            recs[-1].out_slots += _slots(y, my)

        self._claim(name, m, hook)

    def _plan_linear(self, name: str, m: nn.Linear) -> None:
        rec = self._new(
            name, kind="linear", role="head", input_size=m.in_features,
            hidden_size=m.out_features,
        )

        def hook(mod: nn.Module, inp: Any, out: Any) -> None:
            x, y = _tensor(inp), _tensor(out)
            mx, my = self._mask(x), self._mask(y)
            frames = _frames(x, mx)
            rec.frames += frames
            rec.calls += 1
            rec.in_events += _nnz(x, mx)
            rec.in_slots += _slots(x, mx)
            rec.out_events += _nnz(y, my)
            rec.out_slots += _slots(y, my)
            dense = costs.linear_cost(m.in_features, m.out_features)
            rec.add_cost("input", dense.scale(frames))

        self._claim(name, m, hook)

    # -- life cycle --------------------------------------------------------------------
    def attach(self) -> OpCounter:
        """Register the forward hooks (idempotent)."""
        if not self._handles:
            self._handles = [m.register_forward_hook(h) for m, h in self._plan]
        return self

    def detach(self) -> None:
        """Remove every hook this counter registered."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def reset(self) -> None:
        """Zero all counts (hooks stay attached)."""
        for name, rec in list(self.layers.items()):
            fresh = LayerCount(
                name=rec.name, kind=rec.kind, role=rec.role, input_size=rec.input_size,
                hidden_size=rec.hidden_size, directions=rec.directions,
                observed_in=rec.observed_in, observed_out=rec.observed_out,
            )
            for f in fields(rec):
                setattr(rec, f.name, getattr(fresh, f.name))

    def records(self) -> list[LayerCount]:
        """The layer records in model order."""
        return list(self.layers.values())

    def __enter__(self) -> OpCounter:  # noqa: PYI034 - no typing_extensions dependency
        return self.attach()

    def __exit__(self, *exc: object) -> None:
        self.detach()


def _add_dense(
    rec: LayerCount, parts: dict[str, Cost], frames: int, directions: int
) -> None:
    """Accumulate a dense layer's per-frame ``parts`` over ``frames`` frames."""
    rec.frames += frames
    rec.calls += 1
    for part, cost in parts.items():
        rec.add_cost(part, cost.scale(frames * directions))


def _dense_parts(rec: LayerCount, proj: int = 0, gru_variant: str = "pytorch-kaldi"):
    if rec.kind == "lstm":
        return costs.lstm_layer_parts(rec.input_size, rec.hidden_size, proj)
    return costs.gru_layer_parts(rec.input_size, rec.hidden_size, gru_variant)


def count_ops(model: nn.Module) -> OpCounter:
    """Attach an :class:`OpCounter` to ``model``; use as ``with count_ops(m) as c:``."""
    return OpCounter(model).attach()
