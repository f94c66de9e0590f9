"""The demo's benchmark mode is reachable from run.sh and checks its options
(the full run is a benchmark, not a test: see docs/benchmark.md)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(REPO / "recipes" / "demo" / "run.sh"), *args],
                          capture_output=True, text=True, cwd=REPO, timeout=60)


@pytest.mark.parametrize("flags", [["--mode", "benchmark"], ["--mode=benchmark"],
                                   ["--benchmark"], ["--benchmark", "true"],
                                   ["--size", "tiny", "--benchmark=true"]])
def test_benchmark_mode_is_selected(flags: list[str]) -> None:
    r = _run(*flags, "--help")
    assert r.returncode == 0
    assert "--mode benchmark [options]" in r.stdout and "--sweep-seeds" in r.stdout


def test_default_mode_stays_the_demo() -> None:
    for flags in (["--help"], ["--benchmark", "false", "--help"]):
        r = _run(*flags)
        assert r.returncode == 0 and "--arch A" in r.stdout
        assert "--mode M" in r.stdout


@pytest.mark.parametrize("flags,message", [
    (["--mode", "fast"], "--mode must be default or benchmark"),
    (["--mode", "benchmark", "--archs", "rnn"], "--archs: rnn is not"),
    (["--mode", "benchmark", "--seeds", "0"], "--seeds must be a positive integer"),
    (["--mode", "benchmark", "--widths", "2"], "--widths: 2 is not like"),
    (["--mode", "benchmark", "--arch", "v2"], "unknown option --arch"),
])
def test_bad_options_exit_1(flags: list[str], message: str, tmp_path) -> None:
    r = _run(*flags, "--dir", str(tmp_path / "d"))
    assert r.returncode == 1 and message in r.stderr
    assert not (tmp_path / "d").exists()
