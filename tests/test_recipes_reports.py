"""The demo's Table 1, paired comparisons, orderings, training curves and Fig. 5
(pytorch_kaldi_snn.reports) on hand-made experiment folders."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from pytorch_kaldi_snn import reports
from pytorch_kaldi_snn.analysis import orderings, results
from pytorch_kaldi_snn.ops.paper import authors_tally


def _exp(root: Path, name: str, per: float | None, wer: float | None = None,
         zero: float = 0.0, mults: float = 1.0, losses=(3.0, 2.0),
         ops: dict | None = None) -> None:
    d = root / name
    d.mkdir(parents=True)
    lines = [f"ep={i} tr=['demo_train'] loss={loss:.3f} err=0.5 valid=demo_dev "
             f"loss={loss + 0.1:.3f} err={0.6 - 0.1 * i:.3f} "
             f"lr_architecture1={0.002 / (1 + (i > 0)):g} time(s)=1"
             for i, loss in enumerate(losses)]
    if per is not None:
        lines.append(f"%WER {per:.2f} [ 1 / 10, 0 ins, 1 del, 0 sub ] "
                     f"{d}/decode/wer_4_0")
    (d / "res.res").write_text("\n".join(lines) + "\n")
    if wer is not None:
        (d / "decode_word").mkdir()
        (d / "decode_word" / "best_wer").write_text(
            f"%WER {wer:.2f} [ 3 / 10, 0 ins, 0 del, 3 sub ] {d}/decode_word/wer_8_0\n")
    (d / "table1.json").write_text(json.dumps([
        {"data": "demo_dev", "zero_outputs_pct": 1.0, "mults_vs_lstm": 9.0},
        {"data": "demo_test", "zero_outputs_pct": zero, "mults_vs_lstm": mults,
         "mults_vs_gru": mults * 4 / 3}]))
    (d / "table1.md").write_text("| model | accuracy |\n|---|---|\n| x | 1 |\n")
    if ops is not None:
        (d / "ops_demo_test.json").write_text(json.dumps(ops))


def _ops(kind: str, events: list[float]) -> dict:
    """A count-ops summary of a 2 x 8 stack on 5 inputs with a 7-state readout."""
    layers = [{"name": f"l{i}", "kind": kind, "role": "recurrent",
               "input_size": 5 if i == 0 else 8, "hidden_size": 8, "directions": 1,
               "per_frame": {"in_events": events[i], "out_events": events[i + 1]}}
              for i in range(2)]
    layers.append({"name": "head", "kind": "linear", "role": "head", "input_size": 8,
                   "hidden_size": 7, "directions": 1,
                   "per_frame": {"in_events": events[2], "out_events": 7}})
    return {"layers": layers}


def test_table1_means_cis_and_missing_runs(tmp_path, capsys):
    _exp(tmp_path, "lstm_seed1", 20.0, 30.0)
    _exp(tmp_path, "lstm_seed2", 24.0, 34.0)
    _exp(tmp_path, "lstm_seed3", None)  # trained, never decoded: must not count
    _exp(tmp_path, "v2_seed1", 30.0, None, 70.0, 0.2)
    assert reports.main([str(tmp_path), "--archs", "lstm", "gru", "v2",
                         "--seeds", "3"]) == 0
    out = capsys.readouterr().out
    assert "PER 20.00 % (phone graph)  LSTM seed 1" in out
    assert "MISSING (not decoded)  LSTM seed 3" in out
    assert "WER - % (word graph)   SNN v2 seed 1" in out
    assert "Table-1 row of SNN v2 seed 1" in out
    rows = {r["model"]: r for r in
            csv.DictReader((tmp_path / "results" / "summary.csv").open())}
    lstm, v2 = rows["LSTM"], rows["SNN v2"]
    assert rows["GRU"]["runs"] == "0" and rows["GRU"]["missing"] == "3"
    assert (lstm["runs"], lstm["missing"]) == ("2", "1")
    # PER 20, 24: mean 22, sd 2 sqrt 2, half-width t(.975, 1) * 2 = 25.4124
    assert float(lstm["per"]) == 22.0 and float(lstm["wer"]) == 32.0
    assert float(lstm["per_sd"]) == pytest.approx(2 * math.sqrt(2))
    assert float(lstm["per_ci_high"]) == pytest.approx(22 + 25.41241, abs=1e-4)
    assert float(lstm["accuracy"]) == pytest.approx(78.0)
    assert v2["wer"] == "" and float(v2["zero_outputs_pct"]) == 70.0  # test row
    assert float(v2["mults_vs_gru"]) == pytest.approx(0.2 * 4 / 3)
    md = (tmp_path / "results" / "summary.md").read_text()
    assert "| LSTM | 2 (+1 missing) | 78.00 ± 25.41 | 22.00 ± 25.41 |" in md
    assert "lstm_seed3 (LSTM seed 3): not decoded" in md
    assert "gru_seed1 (GRU seed 1): not run" in md
    status = {(r["arch"], r["seed"]): r["status"] for r in
              csv.DictReader((tmp_path / "results" / "runs.csv").open())}
    assert status[("lstm", "3")] == "not decoded" and status[("v2", "1")] == "decoded"
    assert (tmp_path / "results" / "curves.png").read_bytes()[:4] == b"\x89PNG"
    report = (tmp_path / "results" / "report.md").read_text()
    assert "100 - PER" in report and "%WER" not in report


def test_authors_tally_read_from_the_test_ops_summary(tmp_path):
    ev = [3.0, 2.0, 1.5]
    _exp(tmp_path, "v2_seed1", 30.0, ops=_ops("v2", ev))
    run = results.read_run(tmp_path / "v2_seed1", "v2", 1)
    dense = [5, 8, 8]
    lstm = authors_tally("lstm", dense, [8, 8], 7)
    gru = authors_tally("gru", dense, [8, 8], 7)
    # v2 by hand: 2*3*8 + (2*2*8 + 2*3*8 + 8*8) + (1.5*7 + 2*2*8 + 8*8)
    assert authors_tally("v2", ev, [8, 8], 7) == 48 + 144 + 106.5
    assert run.get("authors_vs_lstm") == pytest.approx(298.5 / lstm)
    assert run.get("authors_vs_gru") == pytest.approx(298.5 / gru)
    assert run.get("epochs_run") == 2.0 and run.lrs == [0.002, 0.001]


def test_paired_comparisons_and_orderings_are_computed(tmp_path):
    for seed, (v1, v2, trad) in enumerate([(33.0, 31.0, 60.0), (34.0, 31.5, 61.0),
                                           (33.5, 32.0, 62.5)], start=1):
        _exp(tmp_path, f"v1_seed{seed}", v1, zero=50.0, mults=0.1)
        _exp(tmp_path, f"v2_seed{seed}", v2, zero=70.0, mults=0.2)
        _exp(tmp_path, f"trad_seed{seed}", trad, zero=60.0, mults=0.05)
    runs = results.collect(tmp_path, ["trad", "v1", "v2"], 3)
    comps = {(c["a"], c["b"]): c for c in results.comparisons(runs)}
    c = comps[("v2", "v1")]
    # d = (-2, -2.5, -1.5): mean -2, sd 0.5, t = -2 / (0.5 / sqrt 3) = -6.9282
    assert c["diff_mean"] == pytest.approx(-2.0) and c["diff_sd"] == pytest.approx(0.5)
    assert c["t"] == pytest.approx(-4 * math.sqrt(3))
    assert c["p"] == pytest.approx(0.020204, abs=1e-5)
    assert ("v2", "lstm") not in comps
    claims = {k["claim"]: k["verdict"] for k in
              orderings.table1_claims(runs, results.summarise(runs))}
    assert claims["SNN v2 has a lower PER than SNN v1"] == "holds"
    assert claims["SNN v1 has a lower PER than SNN traditional"] == "holds"
    zero = next(v for k, v in claims.items() if k.startswith("zero outputs"))
    assert zero.startswith("does not hold (SNN v1 vs SNN traditional)")
    assert claims["LSTM has a lower PER than SNN v2"] == "not measured"


def test_verdict_wording() -> None:
    mean_only = orderings.judge_paired("v2", "v1", {1: 30.0, 2: 33.0},
                                       {1: 31.0, 2: 32.5}, "PER")
    assert mean_only["verdict"] == "holds in the mean (not significant)"
    rev = orderings.judge_paired("v2", "v1", {1: 34.0, 2: 34.1, 3: 34.2},
                                 {1: 33.0, 2: 33.0, 3: 33.0}, "PER")
    assert rev["verdict"] == "does not hold (reversed, significant)"
    one = orderings.judge_paired("v1", "trad", {1: 33.0}, {1: 62.0}, "PER")
    assert one["verdict"] == "holds (1 seed, untested)"


def test_read_res_takes_epochs_and_the_last_wer(tmp_path):
    _exp(tmp_path, "a", 40.0, losses=(3.0, 2.5, 2.0))
    res = results.read_res(tmp_path / "a" / "res.res")
    assert [e[0] for e in res["epochs"]] == [0.0, 1.0, 2.0]
    assert [e[1] for e in res["epochs"]] == [3.0, 2.5, 2.0]
    assert res["per"] == 40.0


def test_precision_and_width_sweep(tmp_path, capsys):
    _exp(tmp_path, "v2_seed1", 30.0, 40.0, 70.0, 0.2)
    for bits, per in ((0, 25.0), (1, 45.0), (4, 28.0)):
        _exp(tmp_path, f"v2_b{bits}_seed1", per, per + 10, 60.0, 0.2)
        _exp(tmp_path, f"v2_b{bits}_w2x_seed1", per - 2, None, 60.0, 0.2)
    _exp(tmp_path, "v2_b1_w1p5x_seed1", 50.0)
    assert reports.main([str(tmp_path), "--archs", "v2", "--sweep", "4,0,1,6",
                         "--widths", "1x,1.5x,2x"]) == 0
    rows = list(csv.DictReader((tmp_path / "results" / "sweep.csv").open()))
    assert [r["model"] for r in rows][:4] == ["SNN v2, 1-bit spikes",
                                              "SNN v2, 4-bit spikes",
                                              "SNN v2, full precision",  # 6: not run
                                              "SNN v2 1.5x, 1-bit spikes"]
    assert [float(r["per"]) for r in rows] == [45.0, 28.0, 25.0, 50.0, 43.0, 26.0,
                                               23.0]
    for png in ("precision_sweep.png", "precision_width.png"):
        assert (tmp_path / "results" / png).read_bytes()[:4] == b"\x89PNG"
    report = (tmp_path / "results" / "report.md").read_text()
    assert "| PER at width 1x (fewer bits -> more error): 1 bits > 4 bits > 6 bits > " \
        "full | holds [partial: 6 bits not measured] |" in report
    # 1 bit: 1x 45 < 1.5x 50: a wider net is worse there
    assert "PER at 1 bits (wider -> less error): 1x > 1.5x > 2x | does not hold " \
        "(1x vs 1.5x)" in report
    assert "precision sweep:" in capsys.readouterr().out


def test_bad_arguments(tmp_path):
    assert reports.main([str(tmp_path)]) == 1  # nothing decoded
    for bad in (["--sweep", "1,x"], ["--sweep", "40"], ["--widths", "2"]):
        with pytest.raises(SystemExit):
            reports.main([str(tmp_path), *bad])


def test_wer_is_the_dev_selected_one_when_present(tmp_path):
    from pytorch_kaldi_snn.analysis.results import read_run

    _exp(tmp_path, "v1_seed1", 20.0, 30.0)  # best_wer: the best of test's own grid
    run = read_run(tmp_path / "v1_seed1", "v1", 1)
    assert run.values["wer"] == 30.0
    (tmp_path / "v1_seed1" / "decode_word" / "dev_selected_wer").write_text(
        "%WER 31.50 [ 3 / 10, 0 ins, 0 del, 3 sub ] x/wer_6_0\n")
    run = read_run(tmp_path / "v1_seed1", "v1", 1)
    assert run.values["wer"] == 31.5


def test_test_and_heldout_lines_are_told_apart(tmp_path, capsys):
    """res.res of the demo: dev, then test at dev's setting, then heldout at dev's
    setting; PER is test's line, not the last one, and heldout gets its own columns."""
    from pytorch_kaldi_snn.analysis.results import read_run

    for seed, (test, held) in enumerate(((26.0, 35.0), (27.0, 37.0)), start=1):
        _exp(tmp_path, f"v2_seed{seed}", None)
        d = tmp_path / f"v2_seed{seed}"
        with (d / "res.res").open("a") as fh:
            for name, per in (("dev", 25.0), ("test", test), ("heldout", held)):
                fh.write(f"%WER {per:.2f} [ 1 / 10, 0 ins, 1 del, 0 sub ] "
                         f"{d}/decode_demo_{name}_out_dnn2/wer_2_0 (LMWT=2 WIP=0 "
                         f"chosen on {d}/decode_demo_dev_out_dnn2)\n")
        (d / "decode_word_heldout").mkdir()
        (d / "decode_word_heldout" / "dev_selected_wer").write_text(
            f"%WER {held - 10:.2f} [ 3 / 10, 0 ins, 0 del, 3 sub ] x/wer_8_0\n")
    run = read_run(tmp_path / "v2_seed1", "v2", 1)
    assert run.values["per"] == 26.0 and run.values["accuracy"] == 74.0
    assert run.values["heldout_per"] == 35.0 and run.values["heldout_wer"] == 25.0
    assert run.values["wer"] is None  # no test word decoding in this folder
    assert reports.main([str(tmp_path), "--archs", "v2", "--seeds", "2"]) == 0
    rows = list(csv.DictReader((tmp_path / "results" / "summary.csv").open()))
    assert float(rows[0]["per"]) == 26.5 and float(rows[0]["heldout_per"]) == 36.0
    assert "heldout PER %" in (tmp_path / "results" / "report.md").read_text()
    assert "heldout voices: PER 35.00 %" in capsys.readouterr().out


def test_a_missing_sweep_point_breaks_its_width_line(tmp_path, monkeypatch):
    import math

    from matplotlib.axes import Axes

    from pytorch_kaldi_snn.analysis import figures

    drawn = []
    errorbar = Axes.errorbar
    monkeypatch.setattr(Axes, "errorbar", lambda self, x, y, *a, **k: (
        drawn.append((list(x), list(y))), errorbar(self, x, y, *a, **k))[1])
    row = lambda b, per: {"bits": b, "per": per, "per_ci_low": None,  # noqa: E731
                          "per_ci_high": None}
    figures.plot_precision_width({"1x": [row(2, 90.0), row(3, 27.0), row(4, 25.0)],
                                  "3x": [row(2, 95.0), row(4, 18.0)]},
                                 tmp_path / "w.png", "t")
    (x1, y1), (x3, y3) = drawn
    assert x1 == x3 == [0, 1, 2]
    assert y1 == [90.0, 27.0, 25.0]
    assert y3[0] == 95.0 and math.isnan(y3[1]) and y3[2] == 18.0  # no 2-4 bit segment
