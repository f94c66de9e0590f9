"""Training that turns a loss, gradient, weight or buffer non-finite stops at once and
keeps the last good checkpoint; a full disk while saving reads as such (issue 9)."""

from __future__ import annotations

import errno
import os
import re

import pytest
import torch
from state_demo import REPO, SMALL, demo_dirs, render_demo
from torch import nn

from pytorch_kaldi_snn.cli import main
from pytorch_kaldi_snn.runner.guard import DivergedError, FiniteGuard


@pytest.fixture(scope="module")
def dirs(tiny_aligned, tmp_path_factory):
    return demo_dirs(tiny_aligned, tmp_path_factory)


def _files(folder):
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def test_a_diverging_learning_rate_stops_training_and_keeps_the_last_good_checkpoint(
        dirs, tmp_path, monkeypatch, capsys):
    """Epoch 0 at the demo's rate, epoch 1 at arch_lr=10: today's silent NaN weights."""
    out = tmp_path / "exp"
    cfg = render_demo(dirs, tmp_path / "exp.cfg", out, n_epochs=2)
    monkeypatch.chdir(REPO)
    rc = main(["run", cfg, *SMALL, "--architecture1,arch_lr=0.002*1|10*1"])
    err = capsys.readouterr().err
    assert rc == 1
    (line,) = err.strip().splitlines()
    assert "training diverged at epoch 1, chunk 0 of demo_train" in line
    assert "non-finite" in line and "of [architecture1] (SNN_layers)" in line
    assert "snn.layers." in line  # the parameter
    assert "try a lower arch_lr in [architecture1] (now 10)" in line
    assert "kept the last good checkpoint (train_demo_train_ep0_ck0_*.pkl)" in line
    exp = out / "exp_files"
    assert _files(exp) == ["train_demo_train_ep0_ck0.info",
                           "train_demo_train_ep0_ck0_architecture1.pkl",
                           "train_demo_train_ep0_ck0_architecture2.pkl",
                           "valid_demo_dev_ep0_ck0.info"]
    for arch in ("architecture1", "architecture2"):
        state = torch.load(exp / f"train_demo_train_ep0_ck0_{arch}.pkl",
                           weights_only=False)["model_par"]
        assert all(torch.isfinite(v).all() for v in state.values()
                   if v.is_floating_point())
    with open(out / "res.res") as fh:  # epoch 0 only, no %WER line
        lines = fh.read().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ep=0 ")
    assert not [f for f in _files(out) if f.startswith(("decode_", "table1"))]


def _guard(net):
    return FiniteGuard(nets={"net": net}, sections={"net": "architecture1"},
                       lrs={"net": 0.5}, where="epoch 2, chunk 1 of tr",
                       kept="kept X")


def test_the_guard_names_the_first_non_finite_tensor():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    loss = net(torch.randn(5, 3)).square().mean()
    loss.backward()
    guard = _guard(net)
    guard(loss, 0)  # all finite: nothing happens
    with pytest.raises(DivergedError, match=r"training loss is nan.*\[architecture1\] "
                       r"0\.5"):
        guard(torch.tensor(float("nan")), 0)
    net[0].weight.grad[1, 2] = float("inf")
    expected = ("at epoch 2, chunk 1 of tr, batch 4: non-finite gradient of 0.weight "
                "of [architecture1] (net); kept X; try a lower arch_lr in "
                "[architecture1] (now 0.5), e.g. --architecture1,arch_lr=0.05")
    with pytest.raises(DivergedError, match=re.escape(expected)):
        guard(loss, 3)
    net[0].weight.grad = None
    with torch.no_grad():
        net[0].bias[0] = float("nan")
    with pytest.raises(DivergedError, match=r"non-finite parameter 0\.bias"):
        guard(loss, 0)
    with torch.no_grad():
        net[0].bias[0] = 0.0
    net[1].running_var[2] = float("inf")
    with pytest.raises(DivergedError, match=r"non-finite buffer 1\.running_var"):
        guard(loss, 0)


def test_huge_but_finite_weights_pass_the_guard():
    """Sums that overflow float32 are checked tensor by tensor, not reported."""
    net = nn.Linear(4, 4)
    with torch.no_grad():
        net.weight.fill_(3e38)
    _guard(net)(torch.tensor(1.0), 0)


def test_disk_full_while_saving_a_checkpoint(dirs, tmp_path, monkeypatch, capsys):
    from pytorch_kaldi_snn.runner import checkpoint

    real = checkpoint.atomic_write_bytes

    def full(path, writer):
        def half_then_full(fh):
            fh.write(b"\0" * 1000)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(path, half_then_full)

    monkeypatch.setattr(checkpoint, "atomic_write_bytes", full)
    out = tmp_path / "exp"
    cfg = render_demo(dirs, tmp_path / "exp.cfg", out)
    monkeypatch.chdir(REPO)
    rc = main(["run", cfg, *SMALL])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and len(err.splitlines()) == 1
    ckpt = out / "exp_files" / "train_demo_train_ep0_ck0_architecture1.pkl"
    assert f"error: no space left on device while writing {ckpt}" in err
    assert _files(out / "exp_files") == []  # no checkpoint, no .info, no temp file
    assert not os.path.exists(out / "res.res")
