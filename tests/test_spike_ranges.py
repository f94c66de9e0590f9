"""Tracked spike ranges in the training log, and the warning for a silent layer."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import torch

from pytorch_kaldi_snn.nn import MultiBitSpike, SNNStack, SymmetricSpike, spike_ranges
from pytorch_kaldi_snn.runner.decoding import _warn_silent
from pytorch_kaldi_snn.runner.experiment import _log_ranges


def _trained_stack(n_bits):
    torch.manual_seed(0)
    stack = SNNStack(6, [5, 4], "v2",
                     make_spike=lambda: MultiBitSpike(n_bits, 0, init_range=1.0))
    stack.train()
    stack(3 * torch.randn(12, 2, 6))
    return stack


def test_ranges_are_the_buffers_the_layers_track():
    stack = _trained_stack(2)
    ranges = spike_ranges(stack)
    assert set(ranges) == {"layers.0.spike", "layers.1.spike"}
    for i, layer in enumerate(stack.layers):
        assert ranges[f"layers.{i}.spike"] == layer.spike.range.item() != 1.0
    assert spike_ranges(_trained_stack(None)) == {}
    sym = SymmetricSpike(4, 0)
    sym.train()
    sym(torch.tensor([-3.0, 1.0]))
    assert spike_ranges(torch.nn.Sequential(sym)) == {"0": sym.max_abs().item()}


def test_runner_logs_the_ranges_after_a_chunk(caplog):
    stack = _trained_stack(2)
    head = torch.nn.Linear(4, 3)
    nets = SimpleNamespace(nets={"SNN_layers": stack, "MLP_head": head})
    with caplog.at_level(logging.INFO, "pytorch_kaldi_snn.runner.experiment"):
        _log_ranges(nets, 3, 1)
    (msg,) = [r.getMessage() for r in caplog.records]
    b0 = stack.layers[0].spike.range.item()
    assert msg.startswith("epoch 3 chunk 1: spike ranges SNN_layers.layers.0.spike ")
    assert f"{b0:.4g}" in msg and "MLP_head" not in msg


def test_a_silent_layer_is_named_in_a_warning(caplog):
    summary = {"label": "SNN_v2", "layers": [
        {"name": "snn.layers.0", "role": "recurrent", "zero_outputs_pct": 99.995},
        {"name": "snn.layers.1", "role": "recurrent", "zero_outputs_pct": 93.4}]}
    with caplog.at_level(logging.WARNING, "pytorch_kaldi_snn.runner.decoding"):
        _warn_silent(summary, "demo_test")
        _warn_silent(None, "demo_dev")
    (rec,) = caplog.records
    msg = rec.getMessage()
    assert rec.levelno == logging.WARNING
    assert msg.startswith(
        "demo_test: layer snn.layers.0 of SNN_v2 output 99.995 % zeros")
    assert "snn.layers.1" not in msg
