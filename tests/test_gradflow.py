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

