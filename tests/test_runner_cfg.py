"""The demo cfg templates through the whole runner (cfg -> load_config -> plan -> train
-> forward), on the synthetic Kaldi data set, and CLI errors that write nothing."""

from __future__ import annotations

import os

import pytest
from test_runner_synth import install_label_reader, write_split

from pytorch_kaldi_snn.cli import main
from pytorch_kaldi_snn.runner.results import parse_res_line

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def synth_data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("synth_cfg"))
    write_split(os.path.join(root, "train"), 20, 1)
    write_split(os.path.join(root, "dev"), 6, 2)
    write_split(os.path.join(root, "test"), 4, 3)
    for split in ("train", "dev", "test"):  # the DEMO cfgs read <split>_fbank/
        os.symlink(split, os.path.join(root, f"{split}_fbank"))
    os.makedirs(os.path.join(root, "graph"))
    return root


def render(template: str, root: str, out: str, dest: str, n_epochs: int = 2) -> str:
    from pytorch_kaldi_snn.runner.render import render_text

    with open(os.path.join(REPO, "cfg", template)) as fh:
        text = render_text(fh.read(), {
            "DATA": root, "ALI_TRAIN": f"{root}/train", "ALI_DEV": f"{root}/dev",
            "ALI_TEST": f"{root}/test", "ALI_HELDOUT": f"{root}/test",
            "GRAPH": f"{root}/graph", "OUT_FOLDER": out,
            "SEED": "3", "N_EPOCHS": str(n_epochs), "USE_CUDA": "False",
        })
    with open(dest, "w") as fh:
        fh.write(text)
    return dest


def _need_config():
    pytest.importorskip("pytorch_kaldi_snn.runner.cfg_sections")


@pytest.mark.parametrize("template", [
    "DEMO_LSTM.cfg", "DEMO_GRU.cfg", "DEMO_SNN_traditional.cfg", "DEMO_SNN_v1.cfg",
    "DEMO_SNN_v2.cfg",
])
def test_demo_template_trains_and_forwards(template, synth_data, tmp_path, monkeypatch):
    _need_config()
    if "SNN" in template:
        import pytorch_kaldi_snn.pytorch_kaldi as pk

        kind = template[len("DEMO_SNN_"):-len(".cfg")]
        if not hasattr(pk, f"SNN_{kind}"):
            pytest.skip(f"pytorch_kaldi_snn.pytorch_kaldi.SNN_{kind} not available yet")
    install_label_reader(monkeypatch)
    monkeypatch.chdir(REPO)
    out = str(tmp_path / "exp")
    cfg = render(template, synth_data, out, str(tmp_path / "exp.cfg"))
    rc = main(["run", cfg, "--batches,batch_size_train=4", "--exp,n_epochs_tr=3",
               "--forward,require_decoding=False"])  # no graph for synthetic data
    assert rc == 0
    with open(os.path.join(out, "res.res")) as fh:
        lines = [parse_res_line(line) for line in fh if line.startswith("ep=")]
    assert [r["ep"] for r in lines] == [0, 1, 2]
    assert lines[-1]["loss"] < lines[0]["loss"]
    assert lines[-1]["valid"]["demo_dev"][1] < lines[0]["valid"]["demo_dev"][1] + 0.05
    exp = os.path.join(out, "exp_files")
    assert os.path.exists(
        os.path.join(exp, "train_demo_train_ep2_ck0_architecture1.pkl"))
    assert os.path.exists(
        os.path.join(exp, "forward_demo_test_ep2_ck0_out_dnn2_to_decode.ark"))
    assert os.path.exists(os.path.join(out, "table1.md"))


@pytest.mark.parametrize("override,needle", [
    ("--exp,seed=abc", "seed"),
    ("--nosuchsection,key=1", "nosuchsection"),
    ("--architecture1,arch_opt=adagrad", "arch_opt"),
    ("--batches,batch_size_train=16*x", "batch_size_train"),
    ("exp-seed-3", "override"),
])
def test_bad_cfg_is_one_line_nonzero_and_writes_nothing(override, needle, synth_data,
                                                        tmp_path, monkeypatch, capsys):
    _need_config()
    install_label_reader(monkeypatch)
    monkeypatch.chdir(REPO)
    out = str(tmp_path / "exp")
    cfg = render("DEMO_LSTM.cfg", synth_data, out, str(tmp_path / "exp.cfg"))
    assert main(["run", cfg, override]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err
    assert not os.path.exists(os.path.join(out, "exp_files"))
