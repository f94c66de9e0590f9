r"""The authors' class names and options (wponghiran/imp-snns-for-sl), re-implemented.

``TraditionalSpikingModel``, ``ImprovedSpikingModelV1`` and ``ImprovedSpikingModelV2``
accept the options of the authors' cfg files (hidden_size, num_layers, dropout, use_bn,
do_edat, n_bits, threshold, momentum, output_size, learn_tau), so those cfgs run with
only ``arch_library`` changed, and compute what the authors' code computes (tested to
float64 rounding in tests/test_authors_equivalence.py). Per layer, frame n, with
:math:`Q` the signed quantiser of :class:`~pytorch_kaldi_snn.nn.SymmetricSpike`
(updated at every call in training) and :math:`m` one Bernoulli(1 - p) / (1 - p)
dropout mask per sequence, drawn on the CPU at the start of the layer in training:

.. math::

    \text{traditional:}\quad I[n] = \tau \odot I[n-1] + m \odot \mathrm{BN}(X[n] W)
    \quad (\tau \text{ learnt when learn\_tau, never clamped})

    \text{v1:}\quad F = \sigma(\mathrm{BN}(X[n] W_f)), \;
    C = \mathrm{relu}(\mathrm{BN}(X[n] W_c)), \;
    I[n] = F \odot I[n-1] + (1 - F) \odot C \odot m

    \text{v2:}\quad \text{as v1 with } + Y[n-1] U_f, \; + Y[n-1] U_c
    \text{ inside } \sigma, \mathrm{relu}

    V[n] = V[n-1] + I[n] - Y[n-1], \qquad Y[n] = Q(V[n])

The input is sigma-delta encoded by its own quantiser, :math:`U[n] = U[n-1] + X[n] -
E[n-1]`, :math:`E[n] = Q_x(U[n])`; the readout is ``log_softmax(BN(Y W_o))``. Without
``do_edat`` v1/v2 emit :math:`I[n]` itself (no quantiser; here ``relu(V) = I``); the
traditional model ignores ``do_edat`` and always quantises. Initialisation as theirs:
Kaiming-uniform (sigmoid gain) for W, one orthogonal matrix (ReLU gain) over the
stacked ``[2H, H]`` U, readout uniform in :math:`\pm\sqrt{0.01 / (H + O)}`.

``arch_library=pytorch_kaldi_snn.pytorch_kaldi.authors`` runs every cfg of their
release with nothing else changed: this module also exports their modified uni-GRU and
uni-LSTM baselines as ``GRU`` and ``LSTM`` (:mod:`.authors_rnn`).

Their checkpoints (``model_par`` of their ``.pkl``) load strictly: a load hook renames
their keys (:func:`from_authors_state_dict`); :func:`to_authors_state_dict` goes back.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from pytorch_kaldi_snn.nn import SigmaDeltaEncoder, SNNStack, SymmetricSpike
from pytorch_kaldi_snn.nn.layers import SpikingLayer
from pytorch_kaldi_snn.nn.spike import MultiBitSpike
from pytorch_kaldi_snn.pytorch_kaldi.authors_rnn import AuthorsGRU, AuthorsLSTM
from pytorch_kaldi_snn.pytorch_kaldi.options import (
    check_input,
    parse_authors_options,
    parse_inp_dim,
)
from pytorch_kaldi_snn.pytorch_kaldi.snn import _attach_ops_hook

GRU = AuthorsGRU  # their arch_class names
LSTM = AuthorsLSTM

# their quantiser buffer -> ours (zero_point is always 0 and has no counterpart)
QUANT_KEYS = {
    "ema_momentum": "ema_momentum",
    "tracked_min_biased": "min_biased",
    "tracked_min": "min_tracked",
    "tracked_max_biased": "max_biased",
    "tracked_max": "max_tracked",
    "iter_count": "iter_count",
    "scale": "q_scale",
}
BN_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


class AuthorsSpikingLayer(SpikingLayer):
    """:class:`SpikingLayer` with the authors' init, dropout draw, unclamped decay."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        with torch.no_grad():
            nn.init.kaiming_uniform_(self.w_in.weight, nonlinearity="sigmoid")
            if self.w_in.bias is not None:  # torch's Linear default, as theirs
                bound = 1 / math.sqrt(self.input_size)
                nn.init.uniform_(self.w_in.bias, -bound, bound)
            if self.w_rec is not None:
                gain = nn.init.calculate_gain("relu")
                nn.init.orthogonal_(self.w_rec.weight, gain=gain)

    def decays(self) -> tuple[Tensor, Tensor]:
        return self.alpha, self.beta

    def dropout_mask(self, batch: int, like: Tensor) -> Tensor | None:
        """Their draw: ``bernoulli(full(1 - p)) / (1 - p)`` on the CPU generator, in
        every training call (also with p = 0), so one seed gives their masks."""
        if not self.training:
            return None
        keep = 1.0 - self.dropout
        probs = torch.full((batch, self.hidden_size), keep, dtype=like.dtype)
        return (torch.bernoulli(probs) / keep).to(like.device)


class _AuthorsBase(nn.Module):
    kind = ""

    def __init__(self, options: Mapping[str, str], inp_dim: int) -> None:
        super().__init__()
        owner = type(self).__name__
        self.inp_dim = parse_inp_dim(inp_dim, owner)
        o = parse_authors_options(options, owner, self.kind)
        self.opts = o
        quantise = o.do_edat or self.kind == "traditional"
        self.quantised = quantise

        def make_spike() -> nn.Module:
            if quantise:
                return SymmetricSpike(o.n_bits, o.threshold, o.momentum)
            return MultiBitSpike(None)

        encoder = SigmaDeltaEncoder(make_spike()) if quantise else None
        learn = self.kind == "traditional" and o.learn_tau
        self.snn = SNNStack(
            self.inp_dim,
            [o.hidden_size] * o.num_layers,
            self.kind,
            make_spike,
            use_batchnorm=[o.use_bn] * o.num_layers,
            dropout=[o.dropout] * o.num_layers,
            alpha=1.0,
            beta=1.0,
            learn_decay=learn,
            encoder=encoder,
            layer_cls=AuthorsSpikingLayer,
        )
        for layer in self.snn.layers:
            if layer.bn is not None:  # the authors' batch norms use their momentum
                layer.bn.momentum = o.momentum
            if learn:  # only the synaptic decay is learnt; the membrane never leaks
                layer.alpha.requires_grad_(False)
        self.readout = nn.Linear(o.hidden_size, o.output_size, bias=not o.use_bn)
        bound = math.sqrt(0.01 / (o.hidden_size + o.output_size))
        nn.init.uniform_(self.readout.weight, -bound, bound)
        self.readout_bn = (
            nn.BatchNorm1d(o.output_size, momentum=o.momentum) if o.use_bn else None
        )
        self.out_dim = o.output_size
        self._register_load_state_dict_pre_hook(self._authors_keys)
        _attach_ops_hook(self, options)

    def forward(self, x: Tensor) -> Tensor:
        x = check_input(x, self.inp_dim, type(self).__name__)
        y = self.snn(x)
        out = self.readout(y.reshape(-1, y.shape[-1]))
        if self.readout_bn is not None:
            out = self.readout_bn(out)
        return torch.log_softmax(out, dim=-1).contiguous()

    def _authors_keys(self, state_dict, prefix, local_metadata, strict, missing_keys,
                      unexpected_keys, error_msgs) -> None:
        """Rename the authors' keys in place (their checkpoints load strictly)."""
        ours = [k[len(prefix):] for k in state_dict if k.startswith(prefix)]
        if not any(k.startswith(("final_linear.", "linear_ws.")) for k in ours):
            return
        theirs = {k: state_dict.pop(prefix + k) for k in ours}
        try:
            converted = from_authors_state_dict(self, theirs)
        except ValueError as exc:
            error_msgs.append(str(exc))
            converted = theirs
        for k, v in converted.items():
            state_dict[prefix + k] = v


class TraditionalSpikingModel(_AuthorsBase):
    """The authors' traditional LIF model (learnable synaptic decay, init 1)."""

    kind = "traditional"


class ImprovedSpikingModelV1(_AuthorsBase):
    """The authors' improved-dynamics v1 model."""

    kind = "v1"


class ImprovedSpikingModelV2(_AuthorsBase):
    """The authors' improved-dynamics v2 model."""

    kind = "v2"


def _layer_index(key: str, name: str) -> tuple[int, str] | None:
    m = re.fullmatch(rf"{name}\.(\d+)(?:\.(.+))?", key)
    return None if m is None else (int(m.group(1)), m.group(2) or "")


def from_authors_state_dict(
    model: _AuthorsBase, theirs: Mapping[str, Tensor]
) -> dict[str, Tensor]:
    """Their ``state_dict`` (keys of their modules) as ours; ValueError on a key
    that has no counterpart here (e.g. a model of another kind)."""
    out: dict[str, Tensor] = {}
    halves: dict[tuple[int, str], dict[str, Tensor]] = {}
    for key, value in theirs.items():
        if key.startswith(("fsq_x.", "fsq_hs.")):
            if key.startswith("fsq_x."):
                base, leaf = "snn.encoder.spike.", key[len("fsq_x."):]
            else:
                i, leaf = _layer_index(key, "fsq_hs")
                base = f"snn.layers.{i}.spike."
            if leaf == "zero_point":
                if torch.any(value != 0):
                    raise ValueError(f"{key} is not 0: not the authors' quantiser")
                continue
            if leaf not in QUANT_KEYS:
                raise ValueError(f"unexpected key {key!r} in the authors' checkpoint")
            out[base + QUANT_KEYS[leaf]] = value
        elif key.startswith("final_linear."):
            out["readout." + key[len("final_linear."):]] = value
        elif key.startswith("final_bn."):
            out["readout_bn." + key[len("final_bn."):]] = value
        elif (hit := _layer_index(key, "linear_ws")) is not None:
            out[f"snn.layers.{hit[0]}.w_in.{hit[1]}"] = value
        elif (hit := _layer_index(key, "linear_us")) is not None:
            out[f"snn.layers.{hit[0]}.w_rec.{hit[1]}"] = value
        elif (hit := _layer_index(key, "bn_ws")) is not None:
            out[f"snn.layers.{hit[0]}.bn.{hit[1]}"] = value
        elif (hit := _layer_index(key, "taus")) is not None:
            out[f"snn.layers.{hit[0]}.beta"] = value
        elif (hit := (_layer_index(key, "bn_zs") or _layer_index(key, "bn_cs"))):
            half = 0 if key.startswith("bn_zs") else 1
            halves.setdefault(hit, {})[half] = value
        else:
            raise ValueError(f"unexpected key {key!r} in the authors' checkpoint")
    for (i, leaf), parts in halves.items():
        if len(parts) != 2:
            raise ValueError(f"bn_zs.{i}.{leaf} needs bn_cs.{i}.{leaf} and back")
        if leaf == "num_batches_tracked":
            out[f"snn.layers.{i}.bn.{leaf}"] = parts[0]
        else:
            out[f"snn.layers.{i}.bn.{leaf}"] = torch.cat([parts[0], parts[1]])
    own = model.state_dict()
    for i, layer in enumerate(model.snn.layers):
        # keys theirs has no counterpart for: alpha (= 1, never learnt), and the
        # unused range of the full-precision activation
        names = ["alpha", "spike.range"] + ([] if model.kind == "traditional"
                                             else ["beta"])
        for name in names:
            key = f"snn.layers.{i}.{name}"
            if key in own and key not in out:
                out[key] = own[key].clone()
    return out


def to_authors_state_dict(model: _AuthorsBase) -> dict[str, Tensor]:
    """Our ``state_dict`` in the authors' key names (loads into their classes)."""
    inverse = {v: k for k, v in QUANT_KEYS.items()}
    out: dict[str, Tensor] = {}
    for key, value in model.state_dict().items():
        m = re.fullmatch(r"snn\.layers\.(\d+)\.(.+)", key)
        if key.startswith("snn.encoder.spike."):
            leaf = key.rsplit(".", 1)[1]
            out[f"fsq_x.{inverse[leaf]}"] = value
            if leaf == "q_scale":
                out["fsq_x.zero_point"] = torch.zeros_like(value)
        elif key.startswith("readout."):
            out["final_linear." + key[len("readout."):]] = value
        elif key.startswith("readout_bn."):
            out["final_bn." + key[len("readout_bn."):]] = value
        elif m is not None:
            i, rest = m.group(1), m.group(2)
            if rest.startswith("spike."):
                leaf = rest[len("spike."):]
                if leaf in inverse:
                    out[f"fsq_hs.{i}.{inverse[leaf]}"] = value
                    if leaf == "q_scale":
                        out[f"fsq_hs.{i}.zero_point"] = torch.zeros_like(value)
            elif rest.startswith("w_in."):
                out[f"linear_ws.{i}.{rest[5:]}"] = value
            elif rest.startswith("w_rec."):
                out[f"linear_us.{i}.{rest[6:]}"] = value
            elif rest == "beta" and model.kind == "traditional":
                out[f"taus.{i}"] = value
            elif rest.startswith("bn."):
                leaf = rest[3:]
                if model.kind == "traditional":
                    out[f"bn_ws.{i}.{leaf}"] = value
                elif leaf == "num_batches_tracked":
                    out[f"bn_zs.{i}.{leaf}"] = value
                    out[f"bn_cs.{i}.{leaf}"] = value.clone()
                else:
                    z, c = value.chunk(2)
                    out[f"bn_zs.{i}.{leaf}"] = z
                    out[f"bn_cs.{i}.{leaf}"] = c
    return out
