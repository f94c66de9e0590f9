"""The whole pipeline on the tiny demo corpus: corpus -> monophone alignments -> phone
graph -> DEMO cfg -> train -> forward -> decode -> score (%WER line in res.res)."""

from __future__ import annotations

import os

import kaldiio
import pytest

from pytorch_kaldi_snn.cli import main
from pytorch_kaldi_snn.runner.results import parse_res_line

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# measured: 66% PER after 4 epochs of the 2 x 128 LSTM, about 75% after 3 epochs of
# 2 x 64 (a phone loop decoder that outputs nothing scores 100%)
PER_BOUND = 90.0


@pytest.fixture(scope="module")
def tiny_demo(tiny_aligned, tmp_path_factory):
    """conftest's aligned tiny corpus plus test-set alignments (the DEMO cfgs'
    labels)."""
    from pytorch_kaldi_snn import kaldi

    data, exp = tiny_aligned["data"], tiny_aligned["exp"]
    ali_test = tmp_path_factory.mktemp("tiny_demo") / "ali_test"
    kaldi.align_data(data / "test", exp / "mono", ali_test, data / "lang", nj=2)
    return data, {"train": exp / "mono", "dev": exp / "mono_dev", "test": ali_test,
                  "graph": exp / "graph_phone"}


def test_demo_lstm_end_to_end(tiny_demo, tmp_path, monkeypatch, capsys):
    from pytorch_kaldi_snn import kaldi
    from pytorch_kaldi_snn.runner.render import render_file

    data, dirs = tiny_demo
    out = tmp_path / "lstm"
    cfg = tmp_path / "lstm.cfg"
    render_file(os.path.join(REPO, "cfg", "DEMO_LSTM.cfg"), str(cfg), {
        "DATA": str(data), "ALI_TRAIN": str(dirs["train"]),
        "ALI_DEV": str(dirs["dev"]), "ALI_TEST": str(dirs["test"]),
        "ALI_HELDOUT": str(dirs["test"]),
        "GRAPH": str(dirs["graph"]), "OUT_FOLDER": str(out), "SEED": "1",
        "N_EPOCHS": "3", "USE_CUDA": "False",
    })
    monkeypatch.chdir(REPO)
    rc = main(["run", str(cfg), "--architecture1,lstm_lay=64,64",
               "--batches,batch_size_train=4"])
    assert rc == 0
    with open(out / "res.res") as fh:
        lines = fh.read().splitlines()
    epochs = [parse_res_line(line) for line in lines[:3]]
    assert all(epochs) and [e["ep"] for e in epochs] == [0, 1, 2]
    assert epochs[-1]["loss"] < epochs[0]["loss"]
    assert epochs[-1]["err"] < epochs[0]["err"]
    assert epochs[-1]["valid"]["demo_dev"][1] < epochs[0]["valid"]["demo_dev"][1]
    assert len(lines) == 4 and lines[3].startswith("%WER ")
    per = float(lines[3].split()[1])
    assert per < PER_BOUND
    assert lines[3] in capsys.readouterr().out
    num_pdfs = kaldi.num_pdfs(dirs["train"])
    ark = out / "exp_files" / "forward_demo_test_ep2_ck0_out_dnn2_to_decode.ark"
    feats = kaldiio.load_scp(str(data / "test" / "feats.scp"))
    mats = dict(kaldiio.load_ark(str(ark)))
    assert set(mats) == set(feats)
    assert all(m.shape == (feats[u].shape[0], num_pdfs) for u, m in mats.items())
