"""End to end on a synthetic Kaldi data set: training curves, res.res, checkpoints,
resume after a crash, forward arks."""

from __future__ import annotations

import os

import kaldiio
import numpy as np
import pytest
import torch
from test_runner_synth import N_CLASSES, install_label_reader, make_plan, write_split

from pytorch_kaldi_snn.runner import experiment as experiment_mod
from pytorch_kaldi_snn.runner.decoding import forward_experiment
from pytorch_kaldi_snn.runner.distributed import DistContext
from pytorch_kaldi_snn.runner.experiment import train_experiment
from pytorch_kaldi_snn.runner.results import parse_res_line


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("synth"))
    write_split(os.path.join(root, "train"), 24, 1)
    write_split(os.path.join(root, "dev"), 8, 2)
    write_split(os.path.join(root, "test"), 6, 3)
    return root


def _res(out):
    with open(os.path.join(out, "res.res")) as fh:
        return [parse_res_line(line) for line in fh if line.strip()]


def test_training_learns_and_writes_pytorch_kaldi_files(synth_root, tmp_path,
                                                        monkeypatch):
    install_label_reader(monkeypatch)
    out = str(tmp_path / "exp")
    plan = make_plan(synth_root, out, n_epochs=4, n_chunks=2)
    final = train_experiment(plan, DistContext())
    lines = _res(out)
    assert [r["ep"] for r in lines] == [0, 1, 2, 3] and all(lines)
    assert lines[-1]["loss"] < 0.6 * lines[0]["loss"]
    assert lines[-1]["err"] < lines[0]["err"] and lines[-1]["err"] < 0.3
    assert lines[-1]["valid"]["synth_dev"][1] < 0.3
    assert set(lines[0]["lr"]) == {"architecture1", "architecture2"}
    exp = os.path.join(out, "exp_files")
    for ck in (0, 1):
        for arch in ("architecture1", "architecture2"):
            ckpt = torch.load(
                os.path.join(exp, f"train_synth_train_ep3_ck{ck}_{arch}.pkl"),
                weights_only=False)
            assert {"model_par", "optimizer_par"} <= set(ckpt)
        assert os.path.exists(os.path.join(exp, f"train_synth_train_ep3_ck{ck}.info"))
    assert not [f for f in os.listdir(exp) if f.startswith(".tmp_")]
    result = forward_experiment(plan, DistContext(), final)["synth_test"]
    (path,) = result.arks["out_dnn2"]
    assert result.frame_err is not None and result.frame_err < 0.3
    # the operation counter saw a dense LSTM: its multiplications are those of an LSTM
    assert result.ops["table1"]["mults_vs_lstm"] == pytest.approx(1.0)
    assert os.path.exists(os.path.join(out, "ops_synth_test.json"))
    mats = dict(kaldiio.load_ark(path))
    scp = kaldiio.load_scp(os.path.join(synth_root, "test", "feats.scp"))
    assert set(mats) == set(scp)
    for utt, m in mats.items():
        assert m.shape == (scp[utt].shape[0], N_CLASSES)
        # log-posterior minus log-prior: softmax of the rows recovers the posteriors'
        # argmax only up to the prior shift, but the values are finite and not
        # normalised
        assert np.isfinite(m).all()
        assert not np.allclose(np.exp(m).sum(1), 1.0)


def test_resume_after_crash_matches_uninterrupted(synth_root, tmp_path, monkeypatch):
    install_label_reader(monkeypatch)
    ref_out = str(tmp_path / "ref")
    train_experiment(make_plan(synth_root, ref_out, 2, 2, drop="0.2"), DistContext())

    out = str(tmp_path / "crash")
    calls = {"n": 0}
    real = experiment_mod.run_pass

    def crashing(*args, **kwargs):
        if kwargs.get("optimizers"):
            calls["n"] += 1
            if calls["n"] == 3:  # epoch 1, chunk 0: after two finished chunks
                raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(experiment_mod, "run_pass", crashing)
    with pytest.raises(KeyboardInterrupt):
        train_experiment(make_plan(synth_root, out, 2, 2, drop="0.2"), DistContext())
    assert os.path.exists(os.path.join(out, "exp_files",
                                       "train_synth_train_ep0_ck1.info"))
    monkeypatch.setattr(experiment_mod, "run_pass", real)
    train_experiment(make_plan(synth_root, out, 2, 2, drop="0.2"), DistContext())

    for arch in ("architecture1", "architecture2"):
        a = torch.load(os.path.join(ref_out, "exp_files", f"final_{arch}.pkl"),
                       weights_only=False)
        b = torch.load(os.path.join(out, "exp_files", f"final_{arch}.pkl"),
                       weights_only=False)
        for key, value in a["model_par"].items():
            assert torch.equal(value, b["model_par"][key]), key
    strip = [{k: v for k, v in r.items() if k != "time"} for r in _res(ref_out)]
    assert strip == [{k: v for k, v in r.items() if k != "time"} for r in _res(out)]


def test_run_plan_writes_table1_and_forward_stage_needs_training(synth_root, tmp_path,
                                                                  monkeypatch):
    from pytorch_kaldi_snn.errors import DataError
    from pytorch_kaldi_snn.runner.pipeline import run_plan

    install_label_reader(monkeypatch)
    out = str(tmp_path / "exp")
    with pytest.raises(DataError, match="no final checkpoint"):
        run_plan(make_plan(synth_root, out, n_epochs=1), stage="forward")
    run_plan(make_plan(synth_root, out, n_epochs=1))
    with open(os.path.join(out, "table1.md")) as fh:
        text = fh.read()
    assert "| rnn+out | synth_test |" in text and "100 - frame error %" in text


def test_pretrain_file_and_freeze(synth_root, tmp_path, monkeypatch):
    """arch_pretrain_file loads weights before the first chunk; arch_freeze keeps
    them."""
    install_label_reader(monkeypatch)
    first = str(tmp_path / "first")
    final = train_experiment(make_plan(synth_root, first, n_epochs=1), DistContext())
    plan = make_plan(synth_root, str(tmp_path / "second"), n_epochs=1)
    plan.archs[0].pretrain_file = final["rnn"]
    plan.archs[0].freeze = True
    again = train_experiment(plan, DistContext())
    a = torch.load(final["rnn"], weights_only=False)["model_par"]
    b = torch.load(again["rnn"], weights_only=False)["model_par"]
    for key, value in a.items():  # frozen: eval mode, batch-norm statistics included
        assert torch.equal(value, b[key]), key
    head_a = torch.load(final["out"], weights_only=False)["model_par"]
    head_b = torch.load(again["out"], weights_only=False)["model_par"]
    assert not torch.equal(head_a["wx.0.weight"], head_b["wx.0.weight"])
