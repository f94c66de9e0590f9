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


def test_snn_v2_from_cfg_writes_counts_in_forward_stage(tmp_path) -> None:
    import configparser
    import json
    from pathlib import Path

    from pytorch_kaldi_snn.pytorch_kaldi import SNN_v2

    cfg = Path(__file__).resolve().parents[1] / "cfg" / "TIMIT_SNN_v2.cfg"
    cp = configparser.ConfigParser(interpolation=None)
    cp.read(cfg)
    info = tmp_path / "exp_files" / "forward_TIMIT_test_ep23_ck0.info"
    cp["exp"]["out_folder"], cp["exp"]["out_info"] = str(tmp_path), str(info)
    section = cp["architecture1"]
    section["to_do"], section["use_cuda"] = "forward", "False"
    net = SNN_v2(section, 40).eval()
    with torch.no_grad():
        y = net(torch.randn(30, 1, 40))
    data = json.loads((tmp_path / "exp_files" / "forward_TIMIT_test_ep23_ops.json")
                      .read_text())
    summary = data["sections"]["architecture1"]["summary"]
    assert summary["frames"] == 30
    last = [d for d in summary["layers"] if d["role"] == "recurrent"][-1]
    assert last["out_events"] == int((y != 0).sum())
