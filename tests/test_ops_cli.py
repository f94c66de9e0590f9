"""The count-ops subcommand: --arch, --feats, --cfg, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pytorch_kaldi_snn import cli
from pytorch_kaldi_snn.ops import costs

CFG = """
[architecture1]
arch_name = rnn
arch_library = neural_networks
arch_class = LSTM
lstm_lay = 8,6
lstm_drop = 0.0,0.0
lstm_use_laynorm_inp = False
lstm_use_batchnorm_inp = False
lstm_use_laynorm = False,False
lstm_use_batchnorm = True,True
lstm_bidir = False
lstm_act = tanh,tanh
lstm_orthinit = True

[architecture2]
arch_name = head
arch_library = neural_networks
arch_class = MLP
dnn_lay = N_out_lab_cd
dnn_drop = 0.0
dnn_use_laynorm_inp = False
dnn_use_batchnorm_inp = False
dnn_use_batchnorm = False
dnn_use_laynorm = False
dnn_act = softmax
"""


def test_arch_lstm_gru_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rc = cli.main(["count-ops", "--arch", "lstm,gru", "--layers", "8,8", "--input", "5",
                   "--utts", "2", "--frames", "10", "--out", str(tmp_path)])
    assert rc == 0
    data = json.loads((tmp_path / "ops.json").read_text())
    lstm, gru = data
    assert lstm["frames"] == 20
    expected = costs.stack_cost([(5, 8), (8, 8)], "lstm").mults
    assert lstm["totals"]["network"]["mults"] == expected
    assert gru["table1"]["mults_vs_lstm"] == pytest.approx(
        costs.stack_cost([(5, 8), (8, 8)], "gru").mults / expected)
    assert "| lstm | 0.00 |" in capsys.readouterr().out
    assert (tmp_path / "ops.csv").read_text().startswith("model,name,kind")


def test_feats_from_ark(tmp_path: Path) -> None:
    kaldiio = pytest.importorskip("kaldiio")
    ark = tmp_path / "feats.ark"
    mats = {"u1": np.ones((7, 3), np.float32), "u2": np.zeros((4, 3), np.float32)}
    kaldiio.save_ark(str(ark), mats)
    rc = cli.main(["count-ops", "--arch", "gru", "--layers", "4", "--feats",
                   f"ark:{ark}", "--out", str(tmp_path)])
    assert rc == 0
    (s,) = json.loads((tmp_path / "ops.json").read_text())
    layer = s["layers"][0]
    assert s["frames"] == 11 and layer["input_size"] == 3
    assert layer["in_events"] == 21  # only u1's ones are events


def test_cfg_with_pytorch_kaldi_baselines(tmp_path: Path) -> None:
    cfg = tmp_path / "model.cfg"
    cfg.write_text(CFG)
    out = tmp_path / "out"
    assert cli.main(["count-ops", "--cfg", str(cfg), "--input", "5", "--utts", "1",
                     "--frames", "9", "--out-dim", "11", "--out", str(out)]) == 0
    (s,) = json.loads((out / "ops.json").read_text())
    kinds = [(d["kind"], d["role"]) for d in s["layers"]]
    assert kinds == [("lstm", "recurrent"), ("lstm", "recurrent"), ("linear", "head")]
    assert s["totals"]["head"]["mults"] == 6 * 11
    assert s["totals"]["network"]["mults"] == costs.stack_cost(
        [(5, 8), (8, 6)], "lstm").mults
    assert s["authors_tally"]["model_vs_lstm"] == pytest.approx(1.0)


def test_bad_input_is_one_line_and_nonzero(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert cli.main(["count-ops", "--arch", "rnn"]) == 1
    assert "allowed: lstm, gru" in capsys.readouterr().err
    cfg = tmp_path / "model.cfg"
    cfg.write_text(CFG)
    assert cli.main(["count-ops", "--cfg", str(cfg)]) == 1
    assert "--out-dim" in capsys.readouterr().err
    assert cli.main(["count-ops", "--layers", "8,x"]) == 1


def test_checkpoint_of_our_runner_loads(tmp_path: Path) -> None:
    """A runner checkpoint (numpy objects beside the weights: torch.load's default
    weights_only refuses it) loads strictly; a wrong shape is one clear error."""
    from pytorch_kaldi_snn.ops.cli import build_from_cfg
    from pytorch_kaldi_snn.runner.checkpoint import save_checkpoint

    cfg = tmp_path / "model.cfg"
    cfg.write_text(CFG)
    net = build_from_cfg(str(cfg), 5, 11, {})
    paths = {}
    for i, part in enumerate(net.mods, start=1):
        paths[f"architecture{i}"] = str(tmp_path / f"a{i}.pkl")
        save_checkpoint(paths[f"architecture{i}"], part.state_dict(), {},
                        rng=np.random.get_state())
    loaded = build_from_cfg(str(cfg), 5, 11, paths)
    for a, b in zip(net.state_dict().values(), loaded.state_dict().values()):
        assert (a == b).all()
    out = tmp_path / "out"
    assert cli.main(["count-ops", "--cfg", str(cfg), "--input", "5", "--utts", "1",
                     "--frames", "9", "--out-dim", "11", "--out", str(out),
                     "--checkpoint", f"architecture1={paths['architecture1']}"]) == 0
    assert cli.main(["count-ops", "--cfg", str(cfg), "--input", "5", "--utts", "1",
                     "--frames", "9", "--out-dim", "12", "--out", str(out),
                     "--checkpoint", f"architecture2={paths['architecture2']}"]) == 1
