"""Drop-in PyTorch-Kaldi architectures following the paper's text.

``SNN_traditional``, ``SNN_v1`` and ``SNN_v2`` take ``(options, inp_dim)`` like every
PyTorch-Kaldi class, read ``snn_*`` keys (see proto/SNN_*.proto and
:mod:`.options`), and return the spike trains ``[T, B, H_last]`` of the last layer, so a
PyTorch-Kaldi MLP softmax head follows them exactly as it follows the LSTM/GRU
baselines.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from pytorch_kaldi_snn.nn import (
    MultiBitSpike,
    SigmaDeltaEncoder,
    SNNStack,
    SymmetricSpike,
)
from pytorch_kaldi_snn.pytorch_kaldi.options import (
    check_input,
    parse_inp_dim,
    parse_snn_options,
)


def _attach_ops_hook(net: nn.Module, options: Mapping[str, str]) -> None:
    """Operation counts in upstream's forward stage (a no-op otherwise)."""
    try:
        from pytorch_kaldi_snn.ops.hostlog import maybe_attach
    except ImportError:  # pragma: no cover - ops is part of the package
        return
    maybe_attach(net, options)


class _SNNBase(nn.Module):
    kind = ""

    def __init__(self, options: Mapping[str, str], inp_dim: int) -> None:
        super().__init__()
        owner = type(self).__name__
        self.inp_dim = parse_inp_dim(inp_dim, owner)
        opts = parse_snn_options(options, owner, self.kind)
        self.opts = opts

        def make_spike() -> nn.Module:
            if opts.quantizer == "paper":
                return MultiBitSpike(opts.n_bits, opts.threshold_k, opts.ema_momentum)
            return SymmetricSpike(opts.n_bits, opts.threshold_k, opts.ema_momentum)

        encoder = None
        if opts.input_encoding == "sigma_delta":
            # CMVN'd features are signed: the encoder uses the signed quantiser.
            encoder = SigmaDeltaEncoder(
                SymmetricSpike(opts.input_bits, 0, opts.ema_momentum)
            )
        self.snn = SNNStack(
            self.inp_dim,
            opts.layers,
            self.kind,
            make_spike,
            use_batchnorm=opts.use_batchnorm,
            dropout=opts.dropout,
            alpha=opts.alpha,
            beta=opts.beta,
            learn_decay=opts.learn_decay,
            encoder=encoder,
        )
        self.out_dim = opts.layers[-1]
        _attach_ops_hook(self, options)

    def forward(self, x: Tensor) -> Tensor:
        x = check_input(x, self.inp_dim, type(self).__name__)
        return self.snn(x).contiguous()


class SNN_traditional(_SNNBase):
    """Traditional LIF spiking layers (Eq. 7-9) with multi-bit spikes (Eq. 22)."""

    kind = "traditional"


class SNN_v1(_SNNBase):
    """Spiking layers with improved dynamics v1 (Eq. 16-18)."""

    kind = "v1"


class SNN_v2(_SNNBase):
    """Spiking layers with improved dynamics v2 (Eq. 19-21)."""

    kind = "v2"
