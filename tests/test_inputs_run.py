"""Broken inputs given to ``pytorch-kaldi-snn run``: each is one line on stderr naming
the file (and section, key, utterance), the value and what is allowed; exit 1; no
traceback; no checkpoint, ``.info`` or ``res.res`` written.

The run is ``tests/bad_cfgs/base_ok.cfg`` pointed at the small synthetic Kaldi data of
:mod:`test_runner_synth` (16/4/2 utterances, 13-dim features, 4 pdfs), one epoch of a
tiny LSTM: a good run takes a few seconds.
"""

from __future__ import annotations

import os
from pathlib import Path

import kaldiio
import numpy as np
import pytest
from test_runner_synth import install_label_reader, write_split

from pytorch_kaldi_snn.cli import main

BASE = Path(__file__).parent / "bad_cfgs" / "base_ok.cfg"


def write_cfg(tmp: Path, *, decode: bool = False, graph: str | None = None,
              dnn_lay: str = "N_out_lab_cd") -> Path:
    root = tmp / "data"
    text = BASE.read_text()
    for old, new in (
        ("out_folder = exp/base_ok", f"out_folder = {tmp / 'out'}"),
        ("n_epochs_tr = 4", "n_epochs_tr = 1"),
        ("data/train/", f"{root}/train/"), ("data/dev/", f"{root}/dev/"),
        ("exp/ali_train", f"{root}/train"), ("exp/ali_dev", f"{root}/dev"),
        ("exp/graph", graph or f"{tmp}/graph"),
        ("batch_size_train = 16*2|8*2", "batch_size_train = 4"),
        ("arch_lr = 0.001*2|0.0005*2", "arch_lr = 0.001"),
        ("lstm_lay = 32,32", "lstm_lay = 8,8"),
        ("dnn_lay = N_out_lab_cd", f"dnn_lay = {dnn_lay}"),
        ("require_decoding = True", f"require_decoding = {decode}"),
    ):
        assert old in text, old
        text = text.replace(old, new)
    cfg = tmp / "run.cfg"
    cfg.write_text(text)
    return cfg


@pytest.fixture
def synth(tmp_path, monkeypatch):
    """Data folders and the ``ali-to-pdf`` reader of the synthetic ``ali.ark``."""
    for split, n, seed in (("train", 16, 1), ("dev", 4, 2)):
        write_split(str(tmp_path / "data" / split), n, seed)
    install_label_reader(monkeypatch)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_fails(tmp: Path, capsys, *args: str, cfg: Path | None = None) -> str:
    """Run the cfg; assert exit 1, one stderr line and nothing written; return it."""
    cfg = cfg or write_cfg(tmp)
    rc = main(["run", str(cfg), *args])
    err = capsys.readouterr().err.strip()
    assert rc == 1, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    out = tmp / "out"
    written = [p.name for p in out.rglob("*") if p.suffix in (".pkl", ".info", ".ark")
               or p.name in ("res.res", "table1.json")] if out.exists() else []
    assert written == [], written
    return err


def rewrite(folder: Path, change) -> None:
    """Apply ``change(feats)`` to a split's features and write ark+scp again."""
    feats = {k: np.array(v) for k, v in kaldiio.load_scp(str(folder / "feats.scp"))
             .items()}
    change(feats)
    kaldiio.save_ark(str(folder / "feats.ark"), feats, scp=str(folder / "feats.scp"))


def test_good_run_passes_the_checks(synth, capsys):
    assert main(["run", str(write_cfg(synth))]) == 0
    assert (synth / "out" / "res.res").exists()


def test_nan_in_one_training_frame(synth, capsys):
    def poison(feats):
        feats["s1_u004"][7, 3] = np.nan

    rewrite(synth / "data" / "train", poison)
    err = run_fails(synth, capsys)
    assert "utterance s1_u004 frame 7" in err and "column 3" in err
    assert f"{synth}/data/train/feats.scp" in err and "not finite" in err


def test_inf_in_a_dev_frame_is_found_before_training(synth, capsys):
    def poison(feats):
        feats["s0_u000"][0, 0] = np.inf

    rewrite(synth / "data" / "dev", poison)
    err = run_fails(synth, capsys)
    assert "dev/feats.scp" in err and "utterance s0_u000 frame 0" in err


def test_truncated_ark(synth, capsys):
    ark = synth / "data" / "train" / "feats.ark"
    ark.write_bytes(ark.read_bytes()[:-100])
    err = run_fails(synth, capsys)
    assert "feats.ark" in err and "truncated or corrupt" in err


def test_corrupt_ark_header(synth, capsys):
    ark = synth / "data" / "dev" / "feats.ark"
    data = bytearray(ark.read_bytes())
    offset = int((synth / "data" / "dev" / "feats.scp").read_text().split()[1]
                 .rsplit(":", 1)[1])
    data[offset:offset + 6] = b"\xff\xfe\xfa\xfb\xfc\xfd"
    ark.write_bytes(bytes(data))
    err = run_fails(synth, capsys)
    assert "dev/feats.scp:1" in err and "cannot read the features of utterance" in err


def test_empty_feats_scp(synth, capsys):
    (synth / "data" / "train" / "feats.scp").write_text("")
    err = run_fails(synth, capsys)
    assert "train/feats.scp: no utterances (the file is empty)" in err


def test_scp_line_without_offset(synth, capsys):
    scp = synth / "data" / "train" / "feats.scp"
    lines = scp.read_text().splitlines()
    lines[2] = lines[2].rsplit(":", 1)[0]
    scp.write_text("\n".join(lines) + "\n")
    err = run_fails(synth, capsys)
    assert "train/feats.scp:3" in err and "no :OFFSET" in err


def test_scp_line_without_a_file(synth, capsys):
    scp = synth / "data" / "train" / "feats.scp"
    scp.write_text(scp.read_text() + "lonely_utt\n")
    err = run_fails(synth, capsys)
    assert "train/feats.scp:17: scp line without a file" in err


def test_one_utterance_of_another_dimension(synth, capsys):
    def widen(feats):
        feats["s2_u005"] = np.concatenate([feats["s2_u005"]] * 2, axis=1)

    rewrite(synth / "data" / "train", widen)
    err = run_fails(synth, capsys)
    assert "utterance s2_u005 has 26-dim features" in err
    assert "train/feats.scp" in err and "allowed: 13 columns" in err


def test_dev_features_of_another_dimension_name_the_dataset(synth, capsys):
    def narrow(feats):
        for k in feats:
            feats[k] = feats[k][:, :10]

    rewrite(synth / "data" / "dev", narrow)
    # the cmvn stats fit the new dimension too, so only the model input differs
    write_split_cmvn(synth / "data" / "dev")
    err = run_fails(synth, capsys)
    assert "dataset dev ([dataset2] fea mfcc)" in err
    assert "gives 30-dim features" in err and "training data gives 39" in err


def write_split_cmvn(folder: Path) -> None:
    feats = kaldiio.load_scp(str(folder / "feats.scp"))
    spk = dict(line.split() for line in (folder / "utt2spk").read_text().splitlines())
    stats = {}
    for s in sorted(set(spk.values())):
        f = np.concatenate([feats[u] for u in feats if spk[u] == s]).astype(float)
        st = np.zeros((2, f.shape[1] + 1))
        st[0, :-1], st[0, -1], st[1, :-1] = f.sum(0), len(f), (f ** 2).sum(0)
        stats[s] = st
    kaldiio.save_ark(str(folder / "cmvn.ark"), stats, scp=str(folder / "cmvn.scp"))


def test_cmvn_stats_of_another_dimension_name_utterance_and_file(synth, capsys):
    def narrow(feats):
        for k in feats:
            feats[k] = feats[k][:, :10]

    rewrite(synth / "data" / "dev", narrow)  # dev cmvn stats stay 13-dim
    err = run_fails(synth, capsys)
    assert "dev/cmvn.scp ([dataset2] fea_opts)" in err
    assert "utterance s0_u000 has 10-dim features" in err


def test_dev_label_beyond_the_pdfs(synth, capsys):
    ali = synth / "data" / "dev" / "ali.ark"
    labs = dict(kaldiio.load_ark(str(ali)))
    labs["s1_u001"] = labs["s1_u001"].copy()
    labs["s1_u001"][5] = 9
    kaldiio.save_ark(str(ali), labs)
    err = run_fails(synth, capsys)
    assert "utterance s1_u001 frame 5: label 9 of lab_cd" in err
    assert "allowed: 0..3" in err and "[dataset2]" in err


def test_missing_lab_graph_is_found_before_training(synth, capsys):
    err = run_fails(synth, capsys, cfg=write_cfg(synth, decode=True,
                                                 graph=str(synth / "no_graph")))
    assert "[dataset2] lab_graph: graph folder not found" in err
    assert str(synth / "no_graph") in err


def test_graph_folder_without_a_graph(synth, capsys):
    (synth / "empty_graph").mkdir()
    err = run_fails(synth, capsys, cfg=write_cfg(synth, decode=True,
                                                 graph=str(synth / "empty_graph")))
    assert "holds no decoding graph" in err and "HCLG.fst" in err


def test_missing_count_file(synth, capsys):
    cfg = write_cfg(synth)
    cfg.write_text(cfg.read_text().replace("lab_count_file=auto",
                                           f"lab_count_file={synth}/counts.txt", 1))
    err = run_fails(synth, capsys, cfg=cfg)
    assert f"{synth}/counts.txt: count file not found" in err


def test_count_file_of_another_length(synth, capsys):
    (synth / "counts.txt").write_text("[ 1 2 3 ]\n")
    cfg = write_cfg(synth)
    cfg.write_text(cfg.read_text().replace("lab_count_file=auto",
                                           f"lab_count_file={synth}/counts.txt", 1))
    err = run_fails(synth, capsys, cfg=cfg)
    assert "3 class counts" in err and "allowed: 4 counts" in err


def test_each_stage_checks_the_datasets_it_reads(tmp_path, monkeypatch):
    from test_runner_synth import make_plan

    from pytorch_kaldi_snn.errors import DataError
    from pytorch_kaldi_snn.runner.inputs import check_inputs

    root = tmp_path / "data"
    for split, n, seed in (("train", 8, 1), ("dev", 2, 2), ("test", 2, 3)):
        write_split(str(root / split), n, seed)
    install_label_reader(monkeypatch)
    ark = root / "train" / "feats.ark"
    ark.write_bytes(ark.read_bytes()[:-40])  # the last training utterance is cut
    plan = make_plan(str(root), str(tmp_path / "out"), n_epochs=1)
    check_inputs(plan, "forward")  # reads only the test set (and the model input)
    with pytest.raises(DataError, match="train/feats.scp:8"):
        check_inputs(plan, "train")
    assert not (tmp_path / "out").exists()


def test_resume_after_layer_sizes_changed_names_checkpoint_and_shapes(tmp_path,
                                                                       monkeypatch):
    from test_runner_synth import make_plan

    from pytorch_kaldi_snn.errors import DataError
    from pytorch_kaldi_snn.runner.distributed import DistContext
    from pytorch_kaldi_snn.runner.experiment import train_experiment

    root, out = str(tmp_path / "data"), str(tmp_path / "out")
    for split, n, seed in (("train", 8, 1), ("dev", 2, 2), ("test", 2, 3)):
        write_split(os.path.join(root, split), n, seed)
    install_label_reader(monkeypatch)
    train_experiment(make_plan(root, out, n_epochs=1), DistContext())
    plan = make_plan(root, out, n_epochs=2)
    plan.archs[0].options_for = _with(plan.archs[0].options_for, lstm_lay="32")
    with pytest.raises(DataError) as info:
        train_experiment(plan, DistContext())
    msg = str(info.value)
    assert "train_synth_train_ep0_ck0_architecture1.pkl: parameter" in msg
    assert "wx.0.weight has shape (96, 26) in the checkpoint but (128, 26)" in msg
    assert "[architecture1]" in msg
    assert "\n" not in msg


def _with(options_for, **values):
    def wrapped(ep, to_do):
        section = options_for(ep, to_do)
        for k, v in values.items():
            section[k] = v
        return section
    return wrapped
