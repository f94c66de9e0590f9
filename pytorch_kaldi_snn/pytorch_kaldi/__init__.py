"""Drop-in PyTorch-Kaldi architecture classes.

Use ``arch_library=pytorch_kaldi_snn.pytorch_kaldi`` in a cfg.

The only package code that reads cfg sections (through :mod:`.options`).
"""

from pytorch_kaldi_snn.pytorch_kaldi.authors import (
    ImprovedSpikingModelV1,
    ImprovedSpikingModelV2,
    TraditionalSpikingModel,
)
from pytorch_kaldi_snn.pytorch_kaldi.snn import SNN_traditional, SNN_v1, SNN_v2

try:  # PyTorch-Kaldi's own LSTM/GRU/MLP option sets, for our runner
    from pytorch_kaldi_snn.pytorch_kaldi.baselines import GRU, LSTM, MLP  # noqa: F401
except ImportError:  # pragma: no cover
    pass

__all__ = [
    "ImprovedSpikingModelV1",
    "ImprovedSpikingModelV2",
    "SNN_traditional",
    "SNN_v1",
    "SNN_v2",
    "TraditionalSpikingModel",
]
