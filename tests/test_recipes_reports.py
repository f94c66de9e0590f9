"""The demo's comparison table, training curves and precision sweep
(pytorch_kaldi_snn.reports) on hand-made experiment folders."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from pytorch_kaldi_snn import reports


def _exp(root: Path, name: str, per: float, wer: float | None, zero: float,
         mults: float, losses=(3.0, 2.0)) -> None:
    d = root / name
    d.mkdir(parents=True)
    lines = [f"ep={i} tr=['demo_train'] loss={loss:.3f} err=0.5 valid=demo_dev "
             f"loss={loss + 0.1:.3f} err={0.6 - 0.1 * i:.3f} lr_architecture1=0.002 "
             "time(s)=1" for i, loss in enumerate(losses)]
    lines.append(f"%WER {per:.2f} [ 1 / 10, 0 ins, 1 del, 0 sub ] {d}/decode/wer_4_0")
    (d / "res.res").write_text("\n".join(lines) + "\n")
    if wer is not None:
        (d / "decode_word").mkdir()
        (d / "decode_word" / "best_wer").write_text(
            f"%WER {wer:.2f} [ 3 / 10, 0 ins, 0 del, 3 sub ] {d}/decode_word/wer_8_0\n")
    (d / "table1.json").write_text(json.dumps([{
        "zero_outputs_pct": zero, "mults_vs_lstm": mults,
        "mults_vs_gru": mults * 1.3}]))
    (d / "table1.md").write_text("| model | accuracy |\n|---|---|\n| x | 1 |\n")


def test_summary_averages_seeds_and_writes_md_csv_png(tmp_path, capsys):
    _exp(tmp_path, "lstm_seed1", 20.0, 30.0, 0.0, 1.0)
    _exp(tmp_path, "lstm_seed2", 24.0, 34.0, 0.0, 1.0)
    _exp(tmp_path, "v2_seed1", 30.0, None, 70.0, 0.2)
    assert reports.main([str(tmp_path), "--archs", "lstm", "gru", "v2",
                         "--seeds", "2"]) == 0
    out = capsys.readouterr().out
    assert "PER 20.00 % (phone graph)  LSTM seed 1" in out
    assert "WER - % (word graph)   SNN v2 seed 1" in out
    rows = list(csv.DictReader((tmp_path / "results" / "summary.csv").open()))
    assert [r["model"] for r in rows] == ["LSTM", "SNN v2"]  # gru: no runs
    lstm, v2 = rows
    assert (lstm["runs"], float(lstm["per"]), float(lstm["wer"])) == ("2", 22.0, 32.0)
    assert float(lstm["accuracy"]) == pytest.approx(78.0)
    assert v2["wer"] == "" and float(v2["zero_outputs_pct"]) == 70.0
    md = (tmp_path / "results" / "summary.md").read_text()
    assert "| SNN v2 | 1 | 30.00 | - |" in md
    assert (tmp_path / "results" / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_read_res_takes_epochs_and_the_last_wer(tmp_path):
    _exp(tmp_path, "a", 40.0, None, 0.0, 1.0, losses=(3.0, 2.5, 2.0))
    res = reports.read_res(tmp_path / "a" / "res.res")
    assert [e[0] for e in res["epochs"]] == [0.0, 1.0, 2.0]
    assert [e[1] for e in res["epochs"]] == [3.0, 2.5, 2.0]
    assert res["per"] == 40.0


def test_precision_sweep_sorted_with_full_precision_last(tmp_path, capsys):
    _exp(tmp_path, "v2_seed1", 30.0, 40.0, 70.0, 0.2)
    for bits, per in ((0, 25.0), (1, 45.0), (4, 28.0)):
        _exp(tmp_path, f"v2_b{bits}_seed1", per, per + 10, 60.0, 0.2)
    assert reports.main([str(tmp_path), "--archs", "v2", "--sweep", "4,0,1,6"]) == 0
    rows = list(csv.DictReader((tmp_path / "results" / "sweep.csv").open()))
    assert [r["model"] for r in rows] == ["SNN v2, 1-bit spikes",
                                          "SNN v2, 4-bit spikes",
                                          "SNN v2, full precision"]  # 6: not run
    assert [float(r["per"]) for r in rows] == [45.0, 28.0, 25.0]
    assert (tmp_path / "results" / "precision_sweep.png").stat().st_size > 0
    assert "precision sweep:" in capsys.readouterr().out


def test_bad_arguments(tmp_path):
    assert reports.main([str(tmp_path)]) == 1  # nothing finished
    with pytest.raises(SystemExit):
        reports.main([str(tmp_path), "--sweep", "1,x"])
    with pytest.raises(SystemExit):
        reports.main([str(tmp_path), "--sweep", "40"])
