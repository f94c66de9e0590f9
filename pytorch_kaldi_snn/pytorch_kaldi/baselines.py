"""PyTorch-Kaldi's ``MLP``, ``LSTM`` and ``GRU`` option sets, implemented here.

Upstream's ``neural_networks.py`` cannot be imported without its checkout; these classes
read the same ``dnn_*``, ``lstm_*`` and ``gru_*`` keys with the same
``(options, inp_dim)`` signature, so the baseline cfg files run with our runner. The
runner maps ``arch_library=neural_networks`` here when upstream's module is not
importable.

LSTM layer (per time step n, ``*`` elementwise, act = ``lstm_act``)::

    f = sigmoid(x W_f + h[n-1] U_f)      i = sigmoid(x W_i + h[n-1] U_i)
    o = sigmoid(x W_o + h[n-1] U_o)      c~ = act(x W_c + h[n-1] U_c)
    c[n] = f * c[n-1] + i * c~ * m       h[n] = o * act(c[n])

GRU layer::

    z = sigmoid(x W_z + h[n-1] U_z)      r = sigmoid(x W_r + h[n-1] U_r)
    h~ = act(x W_h + (r * h[n-1]) U_h)   h[n] = z * h[n-1] + (1 - z) * h~ * m

``m`` is the recurrent dropout mask: one Bernoulli draw per sequence and unit, scaled by
1/(1-p) in training and absent in evaluation (upstream multiplies by (1-p) at test time
instead; the expectation is the same). Batch norm (momentum 0.05) and layer norm act on
the input projections x W over all T*B rows, as upstream. When a whole stack uses tanh
with no batch/layer norm and no dropout, torch's fused ``nn.LSTM``/``nn.GRU`` runs
instead (parameter names then are torch's; the choice depends on options only, so
state_dict keys are identical in train, valid and forward). Otherwise the loop over
frames runs in :mod:`.recurrence` (no autograd recording, a hand-written backward; the
same values as the ``_cell`` loop, which stays as the reference and runs for
``softmax``).

>>> import configparser
>>> cp = configparser.ConfigParser(); cp.read_dict({"a": {"lstm_lay": "8,8",
...     "lstm_drop": "0,0", "lstm_use_laynorm_inp": "False",
...     "lstm_use_batchnorm_inp": "False", "lstm_use_laynorm": "False,False",
...     "lstm_use_batchnorm": "False,False", "lstm_bidir": "False",
...     "lstm_act": "tanh,tanh", "lstm_orthinit": "True"}})
>>> net = LSTM(cp["a"], 5)
>>> net(torch.zeros(7, 3, 5)).shape, net.out_dim
(torch.Size([7, 3, 8]), 8)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from pytorch_kaldi_snn.errors import ConfigError
from pytorch_kaldi_snn.pytorch_kaldi import recurrence

logger = logging.getLogger(__name__)

_TRUE = {"True", "true", "1"}
_FALSE = {"False", "false", "0"}
_ACTS = ("relu", "tanh", "sigmoid", "leaky_relu", "elu", "softmax", "linear")


def _act(name: str) -> nn.Module:
    """Upstream's activation names; ``softmax`` is a log-softmax (feeds
    ``cost_nll``)."""
    table = {
        "relu": nn.ReLU,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
        "leaky_relu": lambda: nn.LeakyReLU(0.2),
        "elu": nn.ELU,
        "softmax": lambda: nn.LogSoftmax(dim=-1),
        "linear": nn.Identity,
    }
    return table[name]()


def _section_name(options: Mapping[str, str]) -> str:
    return getattr(options, "name", None) or "architecture"


def _get(options: Mapping[str, str], key: str) -> str:
    if key not in options:
        raise ConfigError(
            "missing key", section=_section_name(options), key=key,
        )
    return str(options[key]).strip()


def _bool(options: Mapping[str, str], key: str, text: str) -> bool:
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(
        "not a boolean", section=_section_name(options), key=key, value=text,
        allowed="True/true/1/False/false/0",
    )


def _list(options: Mapping[str, str], key: str, n: int | None = None) -> list[str]:
    items = [s.strip() for s in _get(options, key).split(",")]
    if n is not None and len(items) != n:
        raise ConfigError(
            f"expected {n} comma-separated values (one per layer)",
            section=_section_name(options), key=key, value=_get(options, key),
        )
    return items


def _drop_value(options: Mapping[str, str], key: str, text: str) -> float:
    """A dropout rate; a per-epoch schedule ``0.2*3|0.1`` contributes its first value
    (the runner substitutes the current epoch's value before building the net)."""
    first = text.split("|")[0].split("*")[0]
    try:
        value = float(first)
    except ValueError:
        raise ConfigError(
            "not a number", section=_section_name(options), key=key, value=text,
        ) from None
    if not 0.0 <= value < 1.0:
        raise ConfigError(
            "dropout must be in [0, 1)", section=_section_name(options), key=key,
            value=text,
        )
    return value


@dataclass(frozen=True)
class StackOptions:
    """The typed per-layer options shared by ``dnn_*``, ``lstm_*`` and ``gru_*``."""

    sizes: tuple[int, ...]
    drops: tuple[float, ...]
    acts: tuple[str, ...]
    use_batchnorm: tuple[bool, ...]
    use_laynorm: tuple[bool, ...]
    use_batchnorm_inp: bool
    use_laynorm_inp: bool
    bidir: bool = False
    orthinit: bool = False


def parse_stack_options(
    options: Mapping[str, str], prefix: str, recurrent: bool
) -> StackOptions:
    """Read ``<prefix>_lay``, ``_drop``, ``_act``, ... from a cfg section into types."""
    lay_key = f"{prefix}_lay"
    sizes = []
    for item in _list(options, lay_key):
        try:
            size = int(item)
        except ValueError:
            raise ConfigError(
                "layer sizes must be integers (N_out_<lab> is replaced by the runner)",
                section=_section_name(options), key=lay_key, value=item,
            ) from None
        if size < 1:
            raise ConfigError(
                "layer size must be >= 1", section=_section_name(options),
                key=lay_key, value=item,
            )
        sizes.append(size)
    n = len(sizes)
    drop_key = f"{prefix}_drop"
    drops = [_drop_value(options, drop_key, d) for d in _list(options, drop_key, n)]
    acts = _list(options, f"{prefix}_act", n)
    for a in acts:
        if a not in _ACTS:
            raise ConfigError(
                "unknown activation", section=_section_name(options),
                key=f"{prefix}_act", value=a, allowed=", ".join(_ACTS),
            )
    bn = [
        _bool(options, f"{prefix}_use_batchnorm", t)
        for t in _list(options, f"{prefix}_use_batchnorm", n)
    ]
    ln = [
        _bool(options, f"{prefix}_use_laynorm", t)
        for t in _list(options, f"{prefix}_use_laynorm", n)
    ]
    bn_inp = _bool(
        options, f"{prefix}_use_batchnorm_inp",
        _get(options, f"{prefix}_use_batchnorm_inp")
    )
    ln_inp = _bool(
        options, f"{prefix}_use_laynorm_inp", _get(options, f"{prefix}_use_laynorm_inp")
    )
    bidir = orth = False
    if recurrent:
        bidir = _bool(options, f"{prefix}_bidir", _get(options, f"{prefix}_bidir"))
        orth = _bool(options, f"{prefix}_orthinit", _get(options, f"{prefix}_orthinit"))
    return StackOptions(
        tuple(sizes), tuple(drops), tuple(acts), tuple(bn), tuple(ln), bn_inp, ln_inp,
        bidir, orth,
    )


def _rows(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply a per-feature module over all leading dimensions (T*B rows)."""
    shape = x.shape
    return module(x.reshape(-1, shape[-1])).reshape(shape)


class _InputNorm(nn.Module):
    def __init__(self, dim: int, batchnorm: bool, laynorm: bool) -> None:
        super().__init__()
        self.ln0 = nn.LayerNorm(dim) if laynorm else None
        self.bn0 = nn.BatchNorm1d(dim, momentum=0.05) if batchnorm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.ln0 is not None:
            x = self.ln0(x)
        if self.bn0 is not None:
            x = _rows(self.bn0, x)
        return x


class MLP(nn.Module):
    """PyTorch-Kaldi's ``MLP`` (keys ``dnn_*``): per layer Linear, batch/layer norm,
    activation, dropout. Accepts ``[N, F]`` or time-major ``[T, B, F]`` input."""

    def __init__(self, options: Mapping[str, str], inp_dim: int) -> None:
        super().__init__()
        self.opts = parse_stack_options(options, "dnn", recurrent=False)
        o = self.opts
        self.inp = _InputNorm(inp_dim, o.use_batchnorm_inp, o.use_laynorm_inp)
        self.wx = nn.ModuleList()
        self.bn = nn.ModuleList()
        self.ln = nn.ModuleList()
        self.act = nn.ModuleList()
        current = inp_dim
        for size, bn, ln, act in zip(o.sizes, o.use_batchnorm, o.use_laynorm, o.acts):
            lin = nn.Linear(current, size, bias=not (bn or ln))
            bound = (0.01 / (current + size)) ** 0.5  # upstream's small uniform init
            nn.init.uniform_(lin.weight, -bound, bound)
            self.wx.append(lin)
            self.bn.append(nn.BatchNorm1d(size, momentum=0.05) if bn else nn.Identity())
            self.ln.append(nn.LayerNorm(size) if ln else nn.Identity())
            self.act.append(_act(act))
            current = size
        self.out_dim = current

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        for i, drop in enumerate(self.opts.drops):
            x = self.ln[i](self.wx[i](x))
            x = _rows(self.bn[i], x)
            x = self.act[i](x)
            if drop > 0.0:
                x = nn.functional.dropout(x, drop, self.training)
        return x.contiguous()


class _Recurrent(nn.Module):
    """Shared code of the LSTM and GRU stacks (G = gates per layer)."""

    prefix = ""
    gates = 1
    fused_cls: type = nn.Module
    allow_fused = True
    #: run :mod:`.recurrence` (hand-written backward) where the activation allows;
    #: False keeps the autograd loop over :meth:`_cell`, the reference
    hand_backward = True
    run_recurrence: Callable[..., torch.Tensor]

    def __init__(self, options: Mapping[str, str], inp_dim: int) -> None:
        super().__init__()
        self.opts = parse_stack_options(options, self.prefix, recurrent=True)
        o = self.opts
        self.input_dim = inp_dim
        self.fused = self.allow_fused and (
            all(a == "tanh" for a in o.acts)
            and not any(o.use_batchnorm) and not any(o.use_laynorm)
            and all(d == 0.0 for d in o.drops)
        )
        self.inp = _InputNorm(inp_dim, o.use_batchnorm_inp, o.use_laynorm_inp)
        ndir = 2 if o.bidir else 1
        self.fused_layers = nn.ModuleList()
        self.wx = nn.ModuleList()
        self.uh = nn.ModuleList()
        self.bn = nn.ModuleList()
        self.ln = nn.ModuleList()
        self.act = nn.ModuleList()
        current = inp_dim
        g = self.gates
        for size, bn, ln, act in zip(o.sizes, o.use_batchnorm, o.use_laynorm, o.acts):
            if self.fused:
                # one module per layer: sizes may differ between layers
                layer = self.fused_cls(current, size, bidirectional=o.bidir)
                if o.orthinit:
                    for name, p in layer.named_parameters():
                        if name.startswith("weight_hh"):
                            for k in range(g):
                                nn.init.orthogonal_(p.data[k * size:(k + 1) * size])
                self.fused_layers.append(layer)
            else:
                self.wx.append(nn.Linear(current, g * size, bias=not (bn or ln)))
                uh = nn.Linear(size, g * size, bias=False)
                if o.orthinit:
                    for k in range(g):
                        nn.init.orthogonal_(uh.weight.data[k * size:(k + 1) * size])
                self.uh.append(uh)
                self.bn.append(
                    nn.BatchNorm1d(g * size, momentum=0.05) if bn else nn.Identity()
                )
                self.ln.append(nn.LayerNorm(g * size) if ln else nn.Identity())
                self.act.append(_act(act))
            current = ndir * size
        self.out_dim = current

    def _cell(self, i: int, wx_t, h, c, mask):  # pragma: no cover - overridden
        raise NotImplementedError

    def _mask(self, drop: float, batch: int, size: int, like: torch.Tensor):
        """Recurrent dropout mask ``[B, H]`` (one per sequence) or None."""
        if not (self.training and drop > 0.0):
            return None
        return torch.bernoulli(like.new_full((batch, size), 1.0 - drop)) / (1.0 - drop)

    def _direction(self, i: int, wx: torch.Tensor, size: int) -> torch.Tensor:
        batch = wx.shape[1]
        mask = self._mask(self.opts.drops[i], batch, size, wx)
        act = self.opts.acts[i]
        if self.hand_backward and act in recurrence.ACTIVATIONS:
            return self.run_recurrence(wx, self.uh[i].weight, mask, act)
        h = wx.new_zeros(batch, size)
        c = wx.new_zeros(batch, size)
        outs = []
        # unbind, not wx[t]: each indexed frame's backward would fill a zero
        # gradient of the whole [T, B, G*H] tensor (quadratic in T); unbind's
        # backward stacks the frames' gradients once
        for wx_t in wx.unbind(0):
            h, c = self._cell(i, wx_t, h, c, mask)
            outs.append(h)
        return torch.stack(outs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        for i, size in enumerate(self.opts.sizes):
            if self.fused:
                x, _ = self.fused_layers[i](x)
                continue
            wx = self.wx[i](x)
            wx = _rows(self.bn[i], self.ln[i](wx))
            y = self._direction(i, wx, size)
            if self.opts.bidir:
                back = self._direction(i, wx.flip(0), size).flip(0)
                y = torch.cat([y, back], dim=-1)
            x = y
        return x.contiguous()


class LSTM(_Recurrent):
    """PyTorch-Kaldi's ``LSTM`` (keys ``lstm_*``); input and output ``[T, B, F]``."""

    prefix = "lstm"
    gates = 4
    fused_cls = nn.LSTM
    run_recurrence = staticmethod(recurrence.lstm_recurrence)

    def _cell(self, i, wx_t, h, c, mask):
        size = h.shape[-1]
        pre = torch.addmm(wx_t, h, self.uh[i].weight.t())
        gates = torch.sigmoid(pre[:, : 3 * size])
        f, g_in, o = gates[:, :size], gates[:, size:2 * size], gates[:, 2 * size:]
        cand = self.act[i](pre[:, 3 * size:])
        if mask is not None:
            cand = cand * mask
        c = f * c + g_in * cand
        h = o * self.act[i](c)
        return h, c


class GRU(_Recurrent):
    """PyTorch-Kaldi's ``GRU`` (keys ``gru_*``); input and output ``[T, B, F]``."""

    prefix = "gru"
    gates = 3
    fused_cls = nn.GRU
    run_recurrence = staticmethod(recurrence.gru_recurrence)

    def _cell(self, i, wx_t, h, c, mask):
        size = h.shape[-1]
        w = self.uh[i].weight
        wz, wr, wh = wx_t.chunk(3, dim=-1)
        zr = torch.sigmoid(torch.cat([wz, wr], -1) + h @ w[: 2 * size].t())
        z, r = zr.chunk(2, dim=-1)
        cand = self.act[i](wh + (r * h) @ w[2 * size:].t())
        if mask is not None:
            cand = cand * mask
        h = z * h + (1.0 - z) * cand
        return h, c
