"""The repository stays ruff clean (docs/STYLE.md): ``ruff check --select E,F,W,I``."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RULES = "E,F,W,I"


def _ruff() -> list[str]:
    """The ruff of this environment (the ``test`` extra pins it), else ruff on PATH."""
    if importlib.util.find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    exe = shutil.which("ruff")
    if exe is None:
        pytest.skip("ruff is not installed (pip install -e .[test])")
    return [exe]


def test_ruff_check_is_clean():
    proc = subprocess.run(
        [*_ruff(), "check", "--no-cache", "--select", RULES, str(ROOT)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, (
        f"ruff check --select {RULES} exited {proc.returncode}:\n"
        f"{proc.stdout}{proc.stderr}"
    )
