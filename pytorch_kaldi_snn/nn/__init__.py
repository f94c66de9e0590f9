"""Torch modules: spike activations, the input encoder and spiking layers."""

from pytorch_kaldi_snn.nn.encoder import SigmaDeltaEncoder
from pytorch_kaldi_snn.nn.layers import FAST_PATHS, KINDS, SNNStack, SpikingLayer
from pytorch_kaldi_snn.nn.spike import MultiBitSpike, SymmetricSpike, spike_ranges

__all__ = [
    "FAST_PATHS",
    "KINDS",
    "MultiBitSpike",
    "SNNStack",
    "SigmaDeltaEncoder",
    "SpikingLayer",
    "SymmetricSpike",
    "spike_ranges",
]
from pytorch_kaldi_snn.nn import fast_train  # noqa: F401  (registers FAST_PATHS)
