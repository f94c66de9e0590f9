"""Spiking neural networks with improved inherent recurrence dynamics for speech.

Reference implementation of Ponghiran & Roy, "Spiking Neural Networks with Improved
Inherent Recurrence Dynamics for Sequential Learning" (AAAI 2022), packaged as drop-in
PyTorch-Kaldi architectures plus a pip-only Kaldi pipeline.
"""

__version__ = "0.1.0"
