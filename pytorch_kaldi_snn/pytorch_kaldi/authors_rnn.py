r"""The authors' modified uni-GRU / uni-LSTM baselines (their ``neural_networks.py``).

Their cfgs ``*_uniGRU_*`` / ``*_uniLSTM_*`` name ``arch_class=GRU`` / ``LSTM`` with
PyTorch-Kaldi's ``gru_*`` / ``lstm_*`` keys minus the layer-norm ones, plus
``momentum`` and ``output_size``: the recurrent stack of
:mod:`.baselines` (same equations, no layer norm), every batch norm with
``momentum``, and a readout inside, as in their spiking models:

.. math::

    \text{out} = \log\mathrm{softmax}(\mathrm{BN}(h W_o)), \qquad
    W_o \sim U\left(\pm\sqrt{0.01 / (H_L d + O)}\right)

(d = 2 when bidirectional). Their recurrent dropout is the classic one: a Bernoulli(1 -
p) mask m per sequence, unscaled, in training, and the constant 1 - p in eval::

    GRU:  h[n] = z * h[n-1] + (1 - z) * act(x W_h + (r * h[n-1]) U_h) * m
    LSTM: c[n] = f * c[n-1] + i * act(x W_c + h[n-1] U_c) * m

Use ``arch_library=pytorch_kaldi_snn.pytorch_kaldi.authors`` (which exports these
as ``GRU`` and ``LSTM``); :data:`PROTOS` holds the keys their proto files list.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import torch
from torch import nn

from pytorch_kaldi_snn.pytorch_kaldi.baselines import GRU as _GRU
from pytorch_kaldi_snn.pytorch_kaldi.baselines import LSTM as _LSTM
from pytorch_kaldi_snn.pytorch_kaldi.options import OptionReader, check_input


def _proto(prefix: str) -> dict[str, str]:
    return {
        f"{prefix}_lay": "str_list", f"{prefix}_drop": "str_list",
        f"{prefix}_use_batchnorm_inp": "bool", f"{prefix}_use_batchnorm": "bool_list",
        f"{prefix}_bidir": "bool", f"{prefix}_act": "str_list",
        f"{prefix}_orthinit": "bool",
    }


# The keys of the authors' proto/GRU.proto and proto/LSTM.proto (a subset of
# upstream's: no layer-norm keys); shipped as proto/authors/{GRU,LSTM}.proto.
PROTOS = {"GRU": _proto("gru"), "LSTM": _proto("lstm")}


class _Defaults(Mapping):
    """A cfg section with the layer-norm keys their cfgs lack set to False."""

    def __init__(self, options: Mapping[str, str], prefix: str) -> None:
        self._options = options
        self.name = getattr(options, "name", None)
        self.parser = getattr(options, "parser", None)
        n = len(str(options.get(f"{prefix}_lay", "")).split(","))
        self._extra = {f"{prefix}_use_laynorm_inp": "False",
                       f"{prefix}_use_laynorm": ",".join(["False"] * n)}

    def __getitem__(self, key: str) -> str:
        if key in self._options:
            return self._options[key]
        return self._extra[key]

    def __iter__(self) -> Iterator[str]:
        yield from self._options
        yield from (k for k in self._extra if k not in self._options)

    def __len__(self) -> int:
        return len(list(iter(self)))


class _AuthorsRecurrent(nn.Module):
    """Mixin: their option set, their dropout, batch-norm momentum and readout."""

    allow_fused = False
    prefix = ""

    def __init__(self, options: Mapping[str, str], inp_dim: int) -> None:
        super().__init__(_Defaults(options, self.prefix), inp_dim)  # type: ignore[call-arg]
        r = OptionReader(options, type(self).__name__)
        momentum = r.float("momentum", 0.0, 1.0)
        out = r.int("output_size", 1, 10000000)
        for m in self.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.momentum = momentum
        hidden = self.out_dim
        self.readout = nn.Linear(hidden, out, bias=False)
        bound = (0.01 / (hidden + out)) ** 0.5
        nn.init.uniform_(self.readout.weight, -bound, bound)
        self.readout_bn = nn.BatchNorm1d(out, momentum=momentum)
        self.hidden_dim = hidden
        self.out_dim = out

    def _mask(self, drop: float, batch: int, size: int, like: torch.Tensor):
        if self.training:
            return torch.bernoulli(like.new_full((batch, size), 1.0 - drop))
        return like.new_full((1,), 1.0 - drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = check_input(x, self.input_dim, type(self).__name__)
        h = super().forward(x)  # type: ignore[misc]
        out = self.readout_bn(self.readout(h.reshape(-1, h.shape[-1])))
        return torch.log_softmax(out, dim=-1).contiguous()


class AuthorsGRU(_AuthorsRecurrent, _GRU):
    """The authors' uni-GRU baseline (``arch_class=GRU`` in their cfgs)."""

    prefix = "gru"
    proto_table = PROTOS["GRU"]


class AuthorsLSTM(_AuthorsRecurrent, _LSTM):
    """The authors' uni-LSTM baseline (``arch_class=LSTM`` in their cfgs)."""

    prefix = "lstm"
    proto_table = PROTOS["LSTM"]
