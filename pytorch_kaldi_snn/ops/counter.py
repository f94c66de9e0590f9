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
from dataclasses import asdict, dataclass, fields
from typing import Any, Callable

import torch
from torch import nn
from typing_extensions import Self

from pytorch_kaldi_snn.ops import costs
from pytorch_kaldi_snn.ops.costs import Cost

logger = logging.getLogger(__name__)

SPIKING_KINDS = ("traditional", "v1", "v2")


@dataclass
class LayerCount:
    """Accumulated counts of one layer (sums over all frames seen).

    ``in_slots``/``out_slots`` are the numbers of input/output values seen, so
    ``1 - out_events / out_slots`` is the fraction of zero outputs. ``observed_in`` /
    ``observed_out`` are False when a hook cannot see that tensor (the inner layers of
    a multi-layer ``torch.nn.LSTM``).
    """

    name: str
    kind: str
    role: str
    input_size: int
    hidden_size: int
    directions: int = 1
    frames: int = 0
    calls: int = 0
    in_events: int = 0
    in_slots: int = 0
    out_events: int = 0
    out_slots: int = 0
    rec_events: int = 0
    mults_input: int = 0
    mults_recurrent: int = 0
    mults_elementwise: int = 0
    adds_input: int = 0
    adds_recurrent: int = 0
    adds_elementwise: int = 0
    nonlin: int = 0
    observed_in: bool = True
    observed_out: bool = True

    @property
    def mults(self) -> int:
        return self.mults_input + self.mults_recurrent + self.mults_elementwise

    @property
    def adds(self) -> int:
        return self.adds_input + self.adds_recurrent + self.adds_elementwise

    def zero_output_fraction(self) -> float | None:
        """Fraction of output values that are exactly zero (None if unseen)."""
        if not self.observed_out or self.out_slots == 0:
            return None
        return 1.0 - self.out_events / self.out_slots

    def add_cost(self, part: str, cost: Cost) -> None:
        """Accumulate ``cost`` into the ``input``/``recurrent``/``elementwise`` part."""
        setattr(self, f"mults_{part}", getattr(self, f"mults_{part}") + cost.mults)
        setattr(self, f"adds_{part}", getattr(self, f"adds_{part}") + cost.adds)
        self.nonlin += cost.nonlin

    def merge(self, other: LayerCount) -> None:
        """Add the counts of ``other`` (same layer seen in another run or chunk)."""
        for f in fields(self):
            value = getattr(other, f.name)
            if f.type in ("int", int) and f.name not in (
                "input_size", "hidden_size", "directions"
            ):
                setattr(self, f.name, getattr(self, f.name) + value)
        self.observed_in = self.observed_in and other.observed_in
        self.observed_out = self.observed_out and other.observed_out

    def to_dict(self) -> dict[str, Any]:
        """Raw sums (for merging) plus per-frame values and the zero-output percent."""
        d = asdict(self)
        d["mults"] = self.mults
        d["adds"] = self.adds
        n = max(self.frames, 1)
        d["per_frame"] = {
            "mults": self.mults / n,
            "adds": self.adds / n,
            "nonlin": self.nonlin / n,
            "in_events": self.in_events / n if self.observed_in else None,
            "out_events": self.out_events / n if self.observed_out else None,
            "rec_events": self.rec_events / n,
        }
        zero = self.zero_output_fraction()
        d["zero_outputs_pct"] = None if zero is None else 100.0 * zero
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LayerCount:
        """Inverse of :meth:`to_dict` (derived keys are ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def _tensor(x: Any) -> torch.Tensor | None:
    """The data tensor of a hook argument (tensor, PackedSequence, or a tuple)."""
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, nn.utils.rnn.PackedSequence):
        return x.data
    if isinstance(x, (tuple, list)) and x:
        return _tensor(x[0])
    return None


def _nnz(x: torch.Tensor) -> int:
    return int(torch.count_nonzero(x.detach()))


def _frames(x: torch.Tensor) -> int:
    return x.numel() // max(x.shape[-1], 1)


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
        self._build_plan()

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
            frames = _frames(x)
            rec.frames += frames
            rec.calls += 1
            n_in = _nnz(x)
            rec.in_events += n_in
            rec.in_slots += x.numel()
            rec.out_events += _nnz(y)
            rec.out_slots += y.numel()
            rec.add_cost("input", Cost(n_in * gates * h, n_in * gates * h, 0))
            if kind == "v2":
                n_rec = _nnz(y[:-1])  # y[t-1] feeds frame t; y[-1] feeds nothing
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
            frames = _frames(x)
            rec.frames += frames
            rec.calls += 1
            rec.in_events += _nnz(x)
            rec.in_slots += x.numel()
            rec.out_events += _nnz(y)
            rec.out_slots += y.numel()
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
            frames = _frames(x)
            for k, rec in enumerate(recs):
                _add_dense(rec, _dense_parts(rec, proj, "torch"), frames, ndir)
                if k == 0:
                    rec.in_events += _nnz(x)
                    rec.in_slots += x.numel()
                if k == len(recs) - 1:
                    rec.out_events += _nnz(y)
                    rec.out_slots += y.numel()

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
                n, slots = _nnz(x) // dup, x.numel() // dup
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
            frames = _frames(x)
            for rec in recs:
                _add_dense(rec, _dense_parts(rec), frames, ndir)
            recs[-1].out_events += _nnz(y)
            recs[-1].out_slots += y.numel()

        self._claim(name, m, hook)

    def _plan_linear(self, name: str, m: nn.Linear) -> None:
        rec = self._new(
            name, kind="linear", role="head", input_size=m.in_features,
            hidden_size=m.out_features,
        )

        def hook(mod: nn.Module, inp: Any, out: Any) -> None:
            x, y = _tensor(inp), _tensor(out)
            frames = _frames(x)
            rec.frames += frames
            rec.calls += 1
            rec.in_events += _nnz(x)
            rec.in_slots += x.numel()
            rec.out_events += _nnz(y)
            rec.out_slots += y.numel()
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

    def __enter__(self) -> Self:
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
