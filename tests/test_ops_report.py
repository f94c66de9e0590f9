"""Reports: Table-1 rows, markdown/CSV/JSON output, the authors' tally."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from pytorch_kaldi_snn.ops import count_ops, summarize, table1_markdown
from pytorch_kaldi_snn.ops.paper import authors_tally, tally_from_summary
from pytorch_kaldi_snn.ops.report import layers_markdown, write_csv, write_json


def test_authors_tally_hand_computed() -> None:
    # v2, e = [3, 2, 1], H = [4, 5], O = 7:
    # 2*3*4 (input) + [2*2*5 + 2*3*4 + 8*4] + [1*7 + 2*2*5 + 8*5] = 24 + 76 + 67
    assert authors_tally("v2", [3, 2, 1], [4, 5], 7) == 167.0
    # traditional has no repeated-input term: 3*4 + [2*5 + 6*4] + [1*7 + 6*5]
    assert authors_tally("traditional", [3, 2, 1], [4, 5], 7) == 83.0
    with pytest.raises(ValueError):
        authors_tally("v2", [3, 2], [4, 5], 7)


def test_tally_from_summary_of_a_dense_lstm_is_one() -> None:
    net = nn.LSTM(40, 16, num_layers=2)
    with count_ops(net) as counter:
        net(torch.randn(4, 2, 40))
    t = tally_from_summary(summarize(counter.records(), "lstm"), out_dim=30)
    assert t["model_vs_lstm"] == pytest.approx(1.0)
    assert t["model_vs_gru"] > 1.0


def test_outputs_written(tmp_path: Path) -> None:
    net = nn.GRU(5, 4)
    with count_ops(net) as counter:
        net(torch.randn(3, 2, 5))
    s = summarize(counter.records(), "gru")
    md = table1_markdown([s["table1"]])
    assert md.splitlines()[2].startswith("| gru | 0.00 |")
    assert "| l0 | gru | 5 | 4 |" in layers_markdown(s)
    write_json(str(tmp_path / "ops.json"), [s])
    write_csv(str(tmp_path / "ops.csv"), [s])
    assert json.loads((tmp_path / "ops.json").read_text())[0]["frames"] == 6
    rows = list(csv.DictReader((tmp_path / "ops.csv").open()))
    assert rows[0]["model"] == "gru" and float(rows[0]["mults_per_frame"]) > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ops.csv", "ops.json"]
