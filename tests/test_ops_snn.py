"""The counter on the package's own spiking layers (nn.SpikingLayer, SNN classes)."""

from __future__ import annotations

import pytest
import torch

from pytorch_kaldi_snn.ops import count_ops, summarize

snn = pytest.importorskip("pytorch_kaldi_snn.nn")
if not hasattr(snn, "SpikingLayer"):
    pytest.skip("nn.SpikingLayer not available", allow_module_level=True)


@pytest.mark.parametrize("kind", ["traditional", "v1", "v2"])
def test_spiking_layer_counts_follow_its_events(kind: str) -> None:
    torch.manual_seed(0)
    f, h = 6, 5
    layer = snn.SpikingLayer(f, h, kind, snn.MultiBitSpike(n_bits=3, k=1)).eval()
    x = torch.randn(9, 2, f)
    x[:, :, :2] = 0.0
    with torch.no_grad(), count_ops(layer) as counter:
        y = layer(x)
    (rec,) = counter.records()
    gates = 1 if kind == "traditional" else 2
    assert rec.frames == 18 and rec.in_events == int((x != 0).sum())
    assert rec.mults_input == rec.in_events * gates * h
    assert rec.out_events == int((y != 0).sum())
    expected_rec = int((y[:-1] != 0).sum()) * 2 * h if kind == "v2" else 0
    assert rec.mults_recurrent == expected_rec
    assert rec.mults_elementwise % 18 == 0 and rec.adds_elementwise % 18 == 0


def test_stack_table1_row() -> None:
    stack = snn.SNNStack(6, [5, 4], "v2").eval()
    with torch.no_grad(), count_ops(stack) as counter:
        stack(torch.randn(7, 1, 6))
    s = summarize(counter.records(), "v2")
    assert [d["kind"] for d in s["layers"] if d["role"] == "recurrent"] == ["v2", "v2"]
    assert 0.0 <= s["table1"]["zero_outputs_pct"] <= 100.0
    assert 0.0 < s["table1"]["mults_vs_lstm"] < 2.0
