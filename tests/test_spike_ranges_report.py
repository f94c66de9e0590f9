"""Tracked spike ranges per epoch read back from checkpoints, and the sweep report's
table and plot of them."""

from __future__ import annotations

import torch
from test_recipes_reports import _exp

from pytorch_kaldi_snn import reports
from pytorch_kaldi_snn.analysis.spike_ranges import epoch_ranges
from pytorch_kaldi_snn.runner.checkpoint import save_checkpoint


def _ckpt(exp, ep, ck, state, section="architecture1"):
    (exp / "exp_files").mkdir(parents=True, exist_ok=True)
    name = f"train_demo_train_ep{ep}_ck{ck}_{section}.pkl"
    save_checkpoint(str(exp / "exp_files" / name), state, {})


def test_the_last_chunk_of_each_epoch_gives_its_ranges(tmp_path):
    b = lambda x: torch.tensor(x)  # noqa: E731
    _ckpt(tmp_path, 0, 0, {"snn.layers.0.spike.range": b(5.0), "w": b(0.0)})
    _ckpt(tmp_path, 0, 1, {"snn.layers.0.spike.range": b(7.0)})
    _ckpt(tmp_path, 1, 0, {"snn.layers.0.spike.range": b(70.0)})
    _ckpt(tmp_path, 1, 0, {"head.weight": b(1.0)}, section="architecture2")
    # the authors' quantiser: max(|tracked min|, |tracked max|)
    _ckpt(tmp_path, 1, 0, {"layer.spike.min_tracked": b(-9.0),
                           "layer.spike.max_tracked": b(4.0)}, section="architecture3")
    assert epoch_ranges(tmp_path) == [
        {"architecture1.snn.layers.0": 7.0},
        {"architecture1.snn.layers.0": 70.0, "architecture3.layer": 9.0}]
    assert epoch_ranges(tmp_path / "missing") == []


def test_sweep_report_lists_final_ranges_and_plots_them(tmp_path):
    _exp(tmp_path, "v2_seed1", 30.0)
    for bits, per, b0 in ((0, 25.0, 1.0), (2, 98.0, 4564.0), (4, 28.0, 9.9)):
        _exp(tmp_path, f"v2_b{bits}_seed1", per)
        for ep in (0, 1):
            _ckpt(tmp_path / f"v2_b{bits}_seed1", ep, 0,
                  {"snn.layers.0.spike.range": torch.tensor(b0 * (ep + 1)),
                   "snn.layers.1.spike.range": torch.tensor(20.0)})
    assert reports.main([str(tmp_path), "--archs", "v2", "--sweep", "2,4,0"]) == 0
    md = (tmp_path / "results" / "spike_ranges.md").read_text().splitlines()
    # full precision tracks nothing: left out
    assert md[2:] == ["| 1x | 2 | 9128 | 20 |", "| 1x | 4 | 19.8 | 20 |"]
    assert (tmp_path / "results" / "spike_ranges.png").read_bytes()[:4] == b"\x89PNG"
    report = (tmp_path / "results" / "report.md").read_text()
    assert "### Tracked spike range b" in report
