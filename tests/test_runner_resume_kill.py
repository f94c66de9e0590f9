"""A training process killed with SIGKILL mid-run, then started again, ends with the
same weights and res.res as an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import torch
from test_runner_synth import write_split

SCRIPT = r"""
import os, sys, time
sys.path.insert(0, {tests!r})
import kaldiio
from pytorch_kaldi_snn.runner import experiment, labels
from pytorch_kaldi_snn.runner.distributed import DistContext
from test_runner_synth import make_plan

labels._find_reader = lambda name: (
    lambda folder: dict(kaldiio.load_ark(os.path.join(folder, "ali.ark"))))
real = experiment.run_pass
calls = [0]

def slow_pass(*args, **kwargs):
    if kwargs.get("optimizers"):
        calls[0] += 1
        if calls[0] == 4:  # the 4th training chunk: wait here to be killed
            open(os.path.join({out!r}, "READY"), "w").close()
            time.sleep(60)
    return real(*args, **kwargs)

experiment.run_pass = slow_pass if {slow} else real
experiment.train_experiment(make_plan({root!r}, {out!r}, 3, 2, drop="0.2"),
                            DistContext())
"""


def _run(root: str, out: str, slow: bool) -> subprocess.Popen:
    os.makedirs(out, exist_ok=True)
    code = SCRIPT.format(tests=os.path.dirname(__file__), root=root, out=out, slow=slow)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def test_sigkill_then_rerun_matches_uninterrupted(tmp_path):
    root = str(tmp_path / "data")
    for split, n, seed in (("train", 16, 1), ("dev", 4, 2), ("test", 2, 3)):
        write_split(os.path.join(root, split), n, seed)
    ref, out = str(tmp_path / "ref"), str(tmp_path / "killed")
    proc = _run(root, ref, slow=False)
    assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()

    proc = _run(root, out, slow=True)
    deadline = time.time() + 120
    while not os.path.exists(os.path.join(out, "READY")):
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.time() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    exp = os.path.join(out, "exp_files")
    assert os.path.exists(os.path.join(exp, "train_synth_train_ep1_ck0.info"))
    assert not os.path.exists(os.path.join(exp, "train_synth_train_ep1_ck1.info"))

    proc = _run(root, out, slow=False)
    assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()
    for arch in ("architecture1", "architecture2"):
        a = torch.load(os.path.join(ref, "exp_files", f"final_{arch}.pkl"),
                       weights_only=False)
        b = torch.load(os.path.join(exp, f"final_{arch}.pkl"), weights_only=False)
        for key, value in a["model_par"].items():
            assert torch.equal(value, b["model_par"][key]), key

    def lines(folder):
        with open(os.path.join(folder, "res.res")) as fh:
            return [line.rsplit(" time(s)=", 1)[0] for line in fh]

    assert lines(ref) == lines(out) and len(lines(ref)) == 3
