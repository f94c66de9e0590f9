"""The authors' class names and options (wponghiran/imp-snns-for-sl), re-implemented.

``TraditionalSpikingModel``, ``ImprovedSpikingModelV1`` and ``ImprovedSpikingModelV2``
accept the options of the authors' cfg files (hidden_size, num_layers, dropout, use_bn,
do_edat, n_bits, threshold, momentum, output_size, learn_tau), so those cfgs run with
only ``arch_library`` changed. Differences from our ``SNN_*`` classes follow the
authors' code (docs/DESIGN.md): signed quantiser with ``threshold`` counted in levels,
alpha = 1, learnable per-neuron synaptic decay initialised to 1 (traditional; trainable
when learn_tau), sigma-delta encoded input when ``do_edat``, and a Linear + BatchNorm +
LogSoftmax readout inside the model returning ``[T*B, output_size]`` log-probabilities.
``do_edat=False`` switches the v1/v2 quantisers off (full precision); the authors'
traditional model ignores it and always quantises. ``n_bits=32`` (their cfgs) is
practically full precision. Batch norms use ``momentum`` as in their code.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from pytorch_kaldi_snn.nn import SigmaDeltaEncoder, SNNStack, SymmetricSpike
from pytorch_kaldi_snn.nn.spike import MultiBitSpike
from pytorch_kaldi_snn.pytorch_kaldi.options import (
    check_input,
    parse_authors_options,
    parse_inp_dim,
)
from pytorch_kaldi_snn.pytorch_kaldi.snn import _attach_ops_hook


class _AuthorsBase(nn.Module):
    kind = ""

    def __init__(self, options: Mapping[str, str], inp_dim: int) -> None:
        super().__init__()
        owner = type(self).__name__
        self.inp_dim = parse_inp_dim(inp_dim, owner)
        o = parse_authors_options(options, owner)
        self.opts = o

        # The authors' traditional model quantises whatever do_edat says; v1/v2
        # without do_edat run full precision (relu of V equals their I, which is >= 0).
        quantise = o.do_edat or self.kind == "traditional"

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
        )
        for layer in self.snn.layers:
            if layer.bn is not None:  # the authors' batch norms use their momentum
                layer.bn.momentum = o.momentum
            if learn:  # only the synaptic decay is learnt; the membrane never leaks
                layer.alpha.requires_grad_(False)
        self.readout = nn.Linear(o.hidden_size, o.output_size, bias=not o.use_bn)
        self.readout_bn = (
            nn.BatchNorm1d(o.output_size, momentum=o.momentum) if o.use_bn else None
        )
        self.out_dim = o.output_size
        _attach_ops_hook(self, options)

    def forward(self, x: Tensor) -> Tensor:
        x = check_input(x, self.inp_dim, type(self).__name__)
        y = self.snn(x)
        out = self.readout(y.reshape(-1, y.shape[-1]))
        if self.readout_bn is not None:
            out = self.readout_bn(out)
        return torch.log_softmax(out, dim=-1).contiguous()


class TraditionalSpikingModel(_AuthorsBase):
    """The authors' traditional LIF model (learnable synaptic decay, init 1)."""

    kind = "traditional"


class ImprovedSpikingModelV1(_AuthorsBase):
    """The authors' improved-dynamics v1 model."""

    kind = "v1"


class ImprovedSpikingModelV2(_AuthorsBase):
    """The authors' improved-dynamics v2 model."""

    kind = "v2"
