"""The experiment folder's state on real runs (issue 9): one run at a time, the
effective cfg recorded and compared on resume, temp files of a killed run removed."""

from __future__ import annotations

import configparser
import os
import signal
import subprocess
import sys
import time

import pytest
from state_demo import REPO, SMALL, demo_dirs, render_demo

from pytorch_kaldi_snn.cli import main
from pytorch_kaldi_snn.runner.folder import changed_keys

HOLDER = r"""
import os, sys, time
from pytorch_kaldi_snn.fileio import atomic_path
from pytorch_kaldi_snn.runner.folder import hold_folder
out = sys.argv[1]
with hold_folder(out):
    with atomic_path(os.path.join(out, "exp_files", "train_x_architecture1.pkl")) as t:
        open(t, "wb").write(b"half a checkpoint")
        open(os.path.join(out, "READY"), "w").close()
        time.sleep(120)  # killed here, mid-write, lock held
"""


@pytest.fixture(scope="module")
def dirs(tiny_aligned, tmp_path_factory):
    return demo_dirs(tiny_aligned, tmp_path_factory)


def _cfg(path):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path)
    return parser


def _res(out):
    with open(os.path.join(out, "res.res")) as fh:
        return fh.read()


def test_one_run_per_folder_and_a_killed_holder_never_blocks(dirs, tmp_path,
                                                             monkeypatch, capsys):
    out = tmp_path / "exp"
    cfg = render_demo(dirs, tmp_path / "exp.cfg", out)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)],
                              stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while not os.path.exists(out / "READY"):
        assert holder.poll() is None, holder.stderr.read().decode()
        assert time.time() < deadline
        time.sleep(0.05)
    monkeypatch.chdir(REPO)
    rc = main(["run", cfg, *SMALL, "--stage", "train"])
    err = capsys.readouterr().err
    assert rc == 1
    assert f"another run is using this out_folder (PID {holder.pid}" in err
    assert not os.path.exists(out / "res.res") and not os.path.exists(out / "conf.cfg")
    (part,) = [n for n in os.listdir(out / "exp_files") if n.endswith(".part")]
    assert part.startswith(".train_x_architecture1.pkl.")

    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    (out / "exp_files" / "notes.part").write_text("not ours")
    rc = main(["run", cfg, *SMALL, "--stage", "train"])
    assert rc == 0, capsys.readouterr().err
    names = os.listdir(out / "exp_files")
    assert part not in names and "notes.part" in names
    assert _res(out).startswith("ep=0 ")


def test_the_folder_records_what_trained_and_forward_uses_exactly_that(
        dirs, tmp_path, monkeypatch, capsys):
    """The precision sweep: a 1-bit run from a 6-bit cfg plus overrides."""
    out = tmp_path / "b1"
    cfg = render_demo(dirs, tmp_path / "exp.cfg", out)
    bits = ["--architecture1,snn_n_bits=1", "--architecture1,snn_threshold_k=0"]
    monkeypatch.chdir(REPO)
    assert main(["run", cfg, *SMALL, *bits, "--stage", "train"]) == 0
    conf = _cfg(out / "conf.cfg")
    assert conf["architecture1"]["snn_n_bits"] == "1"
    assert conf["architecture1"]["snn_lay"] == "16,16"
    assert conf["batches"]["batch_size_train"] == "4"
    # defaults the class filled in are recorded too
    assert conf["architecture1"]["snn_quantizer"] == "paper"
    assert conf["architecture1"]["snn_input_bits"] == "8"
    capsys.readouterr()

    rc = main(["run", cfg, "--stage", "forward"])  # the template's 6 bits
    err = capsys.readouterr().err
    assert rc == 1 and len(err.strip().splitlines()) == 1
    assert "[architecture1] snn_n_bits: '1' -> '6'" in err
    assert "[architecture1] snn_lay: '16,16' -> '128,128'" in err
    assert "new out_folder" in err and "--restart" in err
    assert not os.path.exists(out / "exp_files" / "final_architecture1.pkl.part")
    assert "%WER" not in _res(out)

    rc = main(["run", str(out / "conf.cfg"), "--stage", "forward"])
    assert rc == 0, capsys.readouterr().err
    assert "%WER" in _res(out)


def test_a_changed_learning_rate_refuses_to_resume_until_restart(dirs, tmp_path,
                                                                 monkeypatch, capsys):
    out = tmp_path / "exp"
    cfg = render_demo(dirs, tmp_path / "exp.cfg", out)
    monkeypatch.chdir(REPO)
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["run", cfg, *SMALL, "--stage", "train"]) == 0
    before = _res(out)
    assert main(["run", cfg, *SMALL, "--stage", "train"]) == 0  # same cfg: resumes
    assert _res(out) == before
    capsys.readouterr()

    rc = main(["run", cfg, *SMALL, "--architecture1,arch_lr=0.004", "--stage",
               "train"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "changed: [architecture1] arch_lr: '0.002' -> '0.004';" in err
    assert _res(out) == before

    rc = main(["run", cfg, "--stage", "forward", "--restart"])
    assert rc == 1 and "--restart deletes the trained model" in capsys.readouterr().err
    assert _res(out) == before
    rc = main(["run", cfg, *SMALL, "--architecture1,arch_lr=0.004", "--stage",
               "train", "--restart"])
    assert rc == 0, capsys.readouterr().err
    lines = _res(out).splitlines()
    assert len(lines) == 1 and "lr_architecture1=0.004 " in lines[0]
    assert _cfg(out / "conf.cfg")["architecture1"]["arch_lr"] == "0.004"
    assert (out / "notes.txt").read_text() == "mine"  # not ours: kept


def test_keys_that_only_say_where_to_write_are_not_compared():
    old = "[exp]\nout_folder = a\ncmd = \nseed = 1\n[x]\nfea = a\n\tb\n"
    new = "[exp]\nout_folder = /abs/a\ncmd = srun\nseed = 2\n[x]\nfea = a\n  b\n"
    assert changed_keys(old, new) == [("exp", "seed", "1", "2")]


def test_docstring_examples():
    import doctest

    from pytorch_kaldi_snn.runner import folder

    result = doctest.testmod(folder)
    assert result.attempted > 0 and result.failed == 0
