"""Pure functions: spike activations and neuron step functions."""

from pytorch_kaldi_snn.functional import neurons, spike
from pytorch_kaldi_snn.functional.neurons import (
    NeuronState,
    improved_v1_step,
    improved_v2_step,
    run_sequence,
    traditional_step,
    zero_state,
)
from pytorch_kaldi_snn.functional.spike import multibit_spike, symmetric_spike

__all__ = [
    "NeuronState",
    "improved_v1_step",
    "improved_v2_step",
    "multibit_spike",
    "neurons",
    "run_sequence",
    "spike",
    "symmetric_spike",
    "traditional_step",
    "zero_state",
]
