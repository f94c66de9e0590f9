"""grad-flow: the traditional current forgets like beta^d, the gated ones do not."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from pytorch_kaldi_snn import cli
from pytorch_kaldi_snn.analysis import gradflow

SMALL = {"input_size": 6, "hidden_size": 16, "frames": 32, "batch": 4}


@pytest.mark.parametrize("beta", [0.9, 0.7])
def test_traditional_decays_exactly_like_beta_power(beta: float) -> None:
    curve = gradflow.gradient_flow("traditional", beta=beta, n_bits=6, **SMALL)
    d = curve.distance[:25]
    np.testing.assert_allclose(curve.normalised()[:25], beta ** d, rtol=1e-3)


@pytest.mark.parametrize("model", ["v1", "v2"])
def test_gated_currents_do_not_follow_beta_power(model: str) -> None:
    d = np.arange(20)
    plain = gradflow.gradient_flow(model, **SMALL).normalised()[:20]
    assert np.max(np.abs(np.log(plain / 0.9 ** d))) > 0.5
    held = gradflow.gradient_flow(model, forget_bias=4.0, **SMALL).normalised()
    assert held[30] > 5 * 0.9 ** 30  # a saturated forget gate keeps the gradient


@pytest.mark.parametrize("model", ["lstm", "gru"])
def test_dense_cells_give_finite_decaying_curves(model: str) -> None:
    curve = gradflow.gradient_flow(model, **SMALL)
    norm = curve.normalised()
    assert norm[0] == 1.0 and np.all(np.isfinite(norm)) and norm[-1] < norm[1]
    assert np.all(curve.p10 <= curve.mean + 1e-12)


def test_cli_writes_csv_and_png(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rc = cli.main(["grad-flow", "--out", str(tmp_path), "--hidden", "8", "--frames",
                   "12", "--batch", "2", "--bits", "4"])
    assert rc == 0
    rows = list(csv.DictReader((tmp_path / "gradflow.csv").open()))
    assert {r["model"] for r in rows} == set(gradflow.MODELS)
    assert len(rows) == 12 * len(gradflow.MODELS)
    assert (tmp_path / "gradflow.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "traditional" in capsys.readouterr().out
    assert cli.main(["grad-flow", "--out", str(tmp_path), "--models", "rnn"]) == 1



def _exp(tiny_aligned, tmp_path: Path, template: str, lay: str) -> Path:
    """An experiment folder as run_exp leaves it: exp.cfg and a final checkpoint of
    architecture1 (weights from the cfg's own initialisation, saved the runner's
    way, with numpy objects in the pickle)."""
    import os

    from pytorch_kaldi_snn.analysis.gradflow_trained import _first_arch
    from pytorch_kaldi_snn.runner.checkpoint import save_checkpoint
    from pytorch_kaldi_snn.runner.render import render_file

    repo = Path(__file__).resolve().parents[1]
    data, exp = tiny_aligned["data"], tiny_aligned["exp"]
    out = tmp_path / template
    (out / "exp_files").mkdir(parents=True)
    render_file(os.path.join(repo, "cfg", f"{template}.cfg"), str(out / "exp.cfg"), {
        "DATA": str(data), "ALI_TRAIN": str(exp / "mono"),
        "ALI_DEV": str(exp / "mono_dev"), "ALI_TEST": str(exp / "mono_dev"),
        "ALI_HELDOUT": str(exp / "mono_dev"),
        "GRAPH": str(exp / "graph_phone"), "OUT_FOLDER": str(out), "SEED": "1",
        "N_EPOCHS": "1", "USE_CUDA": "False"})
    text = (out / "exp.cfg").read_text()
    text = text.replace("_lay = 128,128", f"_lay = {lay}")
    (out / "exp.cfg").write_text(text)
    import configparser

    from pytorch_kaldi_snn.runner.archs import build_arch, resolve_arch_class

    cp = configparser.ConfigParser(interpolation=None)
    cp.read(out / "exp.cfg")
    sec = cp["architecture1"]
    sec["to_do"], sec["use_cuda"] = "train", "False"
    cls = resolve_arch_class(sec["arch_library"], sec["arch_class"],
                             section="architecture1", file="x")
    # the DEMO cfgs read fbank 40 + deltas + delta-deltas, 3 frames of look-ahead
    net = build_arch(cls, sec, 480, section="architecture1", file="x")
    save_checkpoint(str(out / "exp_files" / "final_architecture1.pkl"),
                    net.state_dict(), {}, lr=np.float64(0.002))
    assert _first_arch(str(out)).training is False
    return out


def test_trained_traditional_forgets_like_beta_on_real_features(tiny_aligned,
                                                                tmp_path):
    from pytorch_kaldi_snn.analysis.gradflow_trained import trained_gradient_flow

    exp = _exp(tiny_aligned, tmp_path, "DEMO_SNN_traditional", "16,16")
    curve = trained_gradient_flow(str(exp), frames=20, batch=3)
    # I[n] = beta I[n-1] + x[n] W for any input: the real features change nothing
    np.testing.assert_allclose(curve.normalised(), 0.9 ** curve.distance, rtol=1e-3)
    assert curve.model == "traditional trained (DEMO_SNN_traditional)"


def test_cli_on_trained_lstm_and_v2(tiny_aligned, tmp_path, capsys):
    lstm = _exp(tiny_aligned, tmp_path, "DEMO_LSTM", "8,8")
    v2 = _exp(tiny_aligned, tmp_path, "DEMO_SNN_v2", "8,8")
    out = tmp_path / "gf"
    assert cli.main(["grad-flow", "--out", str(out), "--exp", str(lstm), "--exp",
                     str(v2), "--frames", "15", "--batch", "2"]) == 0
    rows = list(csv.DictReader((out / "gradflow.csv").open()))
    assert {r["model"] for r in rows} == {"lstm trained (DEMO_LSTM)",
                                          "v2 trained (DEMO_SNN_v2)"}
    for name in ("lstm trained (DEMO_LSTM)", "v2 trained (DEMO_SNN_v2)"):
        norm = [float(r["normalised"]) for r in rows if r["model"] == name]
        assert norm[0] == 1.0 and all(np.isfinite(norm)) and norm[-1] < norm[1]
    assert "v2 trained" in capsys.readouterr().out
    assert cli.main(["grad-flow", "--out", str(out), "--exp", str(tmp_path)]) == 1
    assert cli.main(["grad-flow", "--out", str(out), "--models", ""]) == 1
