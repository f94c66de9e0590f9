"""The demo recipe (recipes/demo/run.sh): options, and one whole run on the tiny
corpus."""

from __future__ import annotations

import csv
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "recipes" / "demo" / "run.sh"


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(["bash", str(RUN), *args], check=False, capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env=env)


def test_help_lists_the_options():
    r = _run("--help")
    assert r.returncode == 0
    for opt in ("--stage", "--stop-stage", "--size", "--arch", "--all", "--seeds",
                "--sweep", "--epochs"):
        assert opt in r.stdout


def test_bare_boolean_flag_and_nothing_to_do(tmp_path):
    """``--all`` alone means ``--all true``; stages past the last do nothing."""
    r = _run("--dir", str(tmp_path / "exp"), "--all", "--seeds", "2", "--stage", "7")
    assert r.returncode == 0, r.stderr
    assert "stage" not in r.stderr.replace("--stage", "")
    assert "finished in" in r.stderr


def test_refuses_to_mix_corpus_sizes_in_one_folder(tmp_path):
    (tmp_path / "corpus_size").write_text("small\n")
    r = _run("--dir", str(tmp_path), "--size", "tiny", "--stage", "1")
    assert r.returncode != 0 and "holds the small corpus" in r.stderr


@pytest.mark.parametrize("args, message", [
    (["--bogus", "1"], "unknown option --bogus"),
    (["--arch", "transformer"], "--arch must be"),
    (["--size", "huge"], "--size must be"),
    (["--epochs"], "needs a value"),
    (["--epochs", "two"], "--epochs must be"),
    (["--all", "yes"], "--all must be"),
    (["--sweep", "1,x"], "not a bit width"),
    (["--sweep", "1,40"], "not a bit width"),
    (["--ROOT", "/tmp"], "unknown option --ROOT"),
    (["--word-lmwts", "6;10"], "--word-lmwts must list numbers"),
    (["stray"], "unexpected argument"),
])
def test_bad_options_exit_non_zero_before_any_work(args, message, tmp_path):
    r = _run("--dir", str(tmp_path / "exp"), *args)
    assert r.returncode != 0
    assert message in r.stderr
    assert not (tmp_path / "exp").exists()


_PER = re.compile(r"^PER ([0-9.]+) % \(phone graph\)", re.MULTILINE)
_WER = re.compile(r"^WER ([0-9.]+) % \(word graph\)", re.MULTILINE)


@pytest.mark.slow
def test_demo_runs_end_to_end_on_tiny(tmp_path):
    out = tmp_path / "demo"
    args = ["--stage", "1", "--size", "tiny", "--epochs", "4", "--dir", str(out)]
    r = _run(*args, timeout=400)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    text = r.stdout + r.stderr
    per, wer = _PER.search(text), _WER.search(text)
    assert per and wer, text[-3000:]
    # Four epochs on 80 tiny utterances: the network has learned something (a model
    # that deletes everything scores 100 %) but is far from good.
    assert 0 <= float(per.group(1)) < 100
    assert 0 <= float(wer.group(1)) <= 100
    assert "Table-1 row" in text and "mults_vs_lstm" in text
    for stage in range(1, 7):
        assert re.search(rf"stage {stage} done in \d+ s", text), stage
    exp = out / "v2_seed1"
    res = (exp / "res.res").read_text().splitlines()
    assert sum(line.startswith("ep=") for line in res) == 4
    losses = [float(re.search(r"loss=([0-9.]+)", ln).group(1)) for ln in res
              if ln.startswith("ep=")]
    assert losses[-1] < losses[0]
    assert any(line.startswith("%WER") for line in res)
    assert (exp / "decode_word" / "best_wer").read_text().startswith("%WER")
    # word decoding settings come from dev, and the outputs say which
    chosen = (exp / "decode_word" / "dev_selected_wer").read_text()
    assert chosen.startswith("%WER") and "chosen on" in chosen
    assert "decode_word_dev" in chosen
    assert "chosen on" in [ln for ln in res if ln.startswith("%WER")][-1]
    for name in ("summary.md", "summary.csv", "curves.png"):
        assert (out / "results" / name).stat().st_size > 0
    rows = list(csv.DictReader((out / "results" / "summary.csv").open()))
    assert [r["model"] for r in rows] == ["SNN v2"]
    assert float(rows[0]["per"]) == pytest.approx(float(per.group(1)))
    # Rerun: every stage is marked finished, nothing is redone.
    r2 = _run(*args, "--stop-stage", "5", timeout=120)
    assert r2.returncode == 0
    assert "stage 4:" not in r2.stderr and "stage 1:" not in r2.stderr
    # A one-point precision sweep (2-bit spikes) beside the finished run. One epoch
    # gives nearly flat likelihoods (priors from the mean posterior), which the word
    # graph's default beam 9 barely prunes (over 150 s on dev alone): narrow beams.
    r3 = _run("--stage", "4", "--size", "tiny", "--epochs", "1", "--dir", str(out),
              "--sweep", "2", "--word-lmwts", "8", "--word-beam", "5",
              "--word-lattice-beam", "2", timeout=200)
    assert r3.returncode == 0, r3.stderr[-3000:]
    assert "stage 4: train v2_b2_seed1" in r3.stderr
    assert "stage 4: train v2_seed1" not in r3.stderr
    assert "architecture1,snn_n_bits=2" not in r3.stderr  # an override, not an error
    assert "snn_n_bits = 2" not in (out / "v2_b2_seed1" / "exp.cfg").read_text()
    sweep = list(csv.DictReader((out / "results" / "sweep.csv").open()))
    assert [r["model"] for r in sweep] == ["SNN v2, 2-bit spikes"]
    assert (out / "results" / "precision_sweep.png").stat().st_size > 0
