"""Real-Kaldi decoding hand-off: the decode_dnn.sh call contract and best-%WER search,
with a stand-in script (no Kaldi here)."""

from __future__ import annotations

import configparser
import os
import stat

from pytorch_kaldi_snn.runner.kaldi_script import (
    best_wer,
    dev_selected_wer,
    run_decoding_script,
    script_path,
)

FAKE = """#!/bin/bash
# args: conf decode_dir ark_glob; writes two scoring results like Kaldi's score.sh
mkdir -p "$2/score_3" && echo "$1|$2|$3" > "$2/args"
echo "%WER 31.20 [ 312 / 1000, 10 ins, 20 del, 282 sub ] $2/wer_5" > "$2/wer_5"
echo "%WER 29.75 [ 297 / 1000, 9 ins, 21 del, 267 sub ] $2/wer_7" > "$2/wer_7"
echo "| Sum/Avg |  40  1000 | 75.0   20.0    5.0    3.0   28.00   90.0 |" \
  > "$2/score_3/ctm.sys"
"""


def test_script_contract_and_best_line(tmp_path, monkeypatch):
    folder = tmp_path / "scripts"
    folder.mkdir()
    script = folder / "decode_dnn.sh"
    script.write_text(FAKE)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    decoding = {"decoding_script_folder": str(folder),
                "decoding_script": "decode_dnn.sh", "beam": "13.0", "acwt": "0.2"}
    monkeypatch.delenv("KALDI_ROOT", raising=False)
    assert script_path(decoding) is None  # pip-only stack unless KALDI_ROOT is set
    monkeypatch.setenv("KALDI_ROOT", str(tmp_path))
    assert script_path(decoding) == str(script)
    out = tmp_path / "exp"
    out.mkdir()
    line, value = run_decoding_script(
        str(script), decoding, "", str(out), "test", "out_dnn2", "/x/*_to_decode.ark",
        "ali", "data/test", "graph")
    assert value == 28.0 and line.startswith("%WER 28.0 | 40 1000 | 75.0")
    conf_path, dec_dir, glob_arg = (out / "decode_test_out_dnn2" / "args").read_text(
    ).strip().split("|")
    assert glob_arg == "/x/*_to_decode.ark"
    assert dec_dir == str(out / "decode_test_out_dnn2")
    conf = configparser.ConfigParser()
    conf.read(conf_path)
    assert conf["decoding"]["beam"] == "13.0"
    assert conf["decoding"]["graphdir"] == os.path.abspath("graph")


def test_best_wer_prefers_lowest(tmp_path):
    (tmp_path / "wer_9").write_text("%WER 12.5 [ 1 / 8 ] x\n")
    (tmp_path / "wer_10").write_text("%WER 11.0 [ 1 / 9 ] y\n")
    line, value = best_wer(str(tmp_path))
    assert value == 11.0 and line.startswith("%WER 11.0")
    assert best_wer(str(tmp_path / "missing")) is None


def test_test_is_scored_at_the_setting_best_on_dev(tmp_path):
    """Kaldi names each scoring file by LM weight and penalty: test reports the file
    that is best on dev (26.0), not its own best (25.0)."""
    dev, test = tmp_path / "decode_dev", tmp_path / "decode_test"
    for folder, rates in ((dev, {"wer_5_0.0": 20.0, "wer_7_0.5": 18.0}),
                          (test, {"wer_5_0.0": 25.0, "wer_7_0.5": 26.0})):
        folder.mkdir()
        for name, rate in rates.items():
            (folder / name).write_text(f"%WER {rate:.2f} [ 1 / 9 ] {name}\n")
    assert best_wer(str(test))[1] == 25.0
    line, value = dev_selected_wer(str(test), str(dev))
    assert value == 26.0 and line.startswith("%WER 26.00")
    assert line.endswith(f"(chosen on {dev}: wer_7_0.5)")
    (test / "wer_7_0.5").unlink()  # the dev-best setting was not scored on test
    assert dev_selected_wer(str(test), str(dev)) is None
    assert dev_selected_wer(str(test), str(tmp_path / "nothing")) is None


def test_sclite_results_are_selected_by_their_score_folder(tmp_path):
    sys_line = "| Sum/Avg |  40  1000 | 75.0   20.0    5.0    3.0   {:.2f}   90.0 |\n"
    for folder, rates in (("dev", (30.0, 27.0)), ("test", (22.0, 24.0))):
        for lmwt, rate in zip((3, 5), rates):
            d = tmp_path / folder / f"score_{lmwt}"
            d.mkdir(parents=True)
            (d / "ctm_39phn.filt.sys").write_text(sys_line.format(rate))
    line, value = dev_selected_wer(str(tmp_path / "test"), str(tmp_path / "dev"))
    assert value == 24.0 and "score_5/ctm_39phn.filt.sys)" in line
