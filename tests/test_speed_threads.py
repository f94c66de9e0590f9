"""The runner's default thread count (choice logic only, no timing)."""

from __future__ import annotations

import os
import subprocess
import sys

import torch

from pytorch_kaldi_snn.runner import distributed
from pytorch_kaldi_snn.runner.distributed import choose_cpu_threads


def test_explicit_request_and_omp_num_threads_win():
    assert choose_cpu_threads(3, {"OMP_NUM_THREADS": "2"}, 8) == 3
    assert choose_cpu_threads(0, {"OMP_NUM_THREADS": "2"}, 8) == 2
    env = {"OMP_NUM_THREADS": "4", "OMP_WAIT_POLICY": "PASSIVE"}
    assert choose_cpu_threads(0, env, 8) == 4


def test_all_cores_only_with_sleeping_openmp_workers():
    assert choose_cpu_threads(0, {"OMP_WAIT_POLICY": "PASSIVE"}, 2) == 2
    assert choose_cpu_threads(0, {"OMP_WAIT_POLICY": " passive "}, 16) == 16
    # libgomp's default (and ACTIVE) spins at barriers: one thread
    assert choose_cpu_threads(0, {}, 2) == 1
    assert choose_cpu_threads(0, {"OMP_WAIT_POLICY": "ACTIVE"}, 2) == 1
    # unusable values fall through
    assert choose_cpu_threads(0, {"OMP_NUM_THREADS": "0"}, 4) == 1
    assert choose_cpu_threads(0, {"OMP_NUM_THREADS": "x",
                                  "OMP_WAIT_POLICY": "PASSIVE"}, 4) == 4
    assert choose_cpu_threads(0, {"OMP_WAIT_POLICY": "PASSIVE"}, 0) == 1


def test_torchrun_ranks_share_the_cores():
    env = {"OMP_WAIT_POLICY": "PASSIVE", "LOCAL_WORLD_SIZE": "2"}
    assert choose_cpu_threads(0, env, 8) == 4
    assert choose_cpu_threads(0, env, 3) == 1
    assert choose_cpu_threads(0, {**env, "LOCAL_WORLD_SIZE": "4"}, 2) == 1
    assert choose_cpu_threads(0, {"LOCAL_WORLD_SIZE": "2"}, 8) == 1


def test_set_cpu_threads_applies_the_choice(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(distributed, "available_cores", lambda: 2)
    try:
        assert distributed.set_cpu_threads() == 2
        assert torch.get_num_threads() == 2
        assert distributed.set_cpu_threads(1) == 1
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert distributed.available_cores() >= 1


def test_console_script_sets_the_passive_policy_before_torch_loads():
    code = ("import os, sys\n"
            "from pytorch_kaldi_snn import cli\n"
            "cli._passive_omp_wait()\n"
            "print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)\n")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    assert out == ["PASSIVE", "False"]
    # an explicit setting is kept
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    assert out == ["ACTIVE", "False"]
    # once torch is loaded it is too late: nothing is set
    code_late = "import torch\n" + code
    env.pop("OMP_WAIT_POLICY")
    out = subprocess.run([sys.executable, "-c", code_late], capture_output=True,
                         text=True, env=env, check=True).stdout.split()
    assert out == ["None", "True"]
