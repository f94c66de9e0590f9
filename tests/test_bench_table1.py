"""table1.{json,md} name the error they subtract: 100 - PER on a phone graph."""

from __future__ import annotations

from pathlib import Path

from pytorch_kaldi_snn.runner.decoding import ForwardResult
from pytorch_kaldi_snn.runner.pipeline import error_unit, table1_row


def _line(tmp_path: Path, kind: str | None) -> str:
    d = tmp_path / f"decode_{kind}"
    d.mkdir()
    if kind:
        (d / "graph_kind").write_text(kind + "\n")
    return f"%WER 31.80 [ 975 / 3066, 15 ins, 380 del, 580 sub ] {d}/wer_2_0"


def test_phone_graph_gives_per_word_graph_wer(tmp_path: Path) -> None:
    assert error_unit(_line(tmp_path, "phone")) == "PER"
    assert error_unit(_line(tmp_path, "word")) == "WER"
    assert error_unit(_line(tmp_path, None)) == "WER"
    assert error_unit("") == "WER"
    (tmp_path / "t").mkdir()
    chosen = _line(tmp_path / "t", "phone") + f" (LMWT=2 WIP=0 chosen on {tmp_path}/d)"
    assert error_unit(chosen) == "PER"  # a test line at dev's setting names the dev dir


def test_table1_row_labels_accuracy(tmp_path: Path) -> None:
    res = ForwardResult(ops={"table1": {"zero_outputs_pct": 55.0}}, frame_err=0.4)
    row = table1_row("v2", "demo_test", res, 31.8, "PER")
    assert row["accuracy"] == 100 - 31.8 and row["accuracy_from"] == "100 - PER"
    assert row["zero_outputs_pct"] == 55.0
    frames = table1_row("v2", "demo_test", res, None)
    assert frames["accuracy"] == 60.0
    assert frames["accuracy_from"] == "100 - frame error %"
