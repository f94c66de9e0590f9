"""TorchScript export: posteriors equal the eval forward; streaming step; CLI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from pytorch_kaldi_snn.cli import main
from pytorch_kaldi_snn.errors import DataError
from pytorch_kaldi_snn.export import export_model, save_scripted
from pytorch_kaldi_snn.nn import (
    MultiBitSpike,
    SigmaDeltaEncoder,
    SNNStack,
    SymmetricSpike,
)

REPO = Path(__file__).resolve().parents[1]


def _trained_stack(kind, n_bits=4, encoder=None):
    torch.manual_seed(0)
    stack = SNNStack(6, [9, 7], kind, lambda: MultiBitSpike(n_bits, 1 if n_bits else 0),
                     encoder=encoder).double()
    stack.train()
    for _ in range(3):
        stack(torch.randn(15, 4, 6, dtype=torch.float64))
    return stack.eval()


@pytest.mark.parametrize("kind", ["traditional", "v1", "v2"])
def test_exported_posteriors_equal_the_eval_forward(kind, tmp_path):
    stack = _trained_stack(kind)
    head = torch.nn.Sequential(torch.nn.Linear(7, 5), torch.nn.LogSoftmax(-1)).double()
    path = str(tmp_path / "m.pt")
    save_scripted(export_model(stack, head), path)
    loaded = torch.jit.load(path)
    x = torch.randn(21, 3, 6, dtype=torch.float64)
    with torch.no_grad():
        spikes = stack(x)
        ref = head(spikes)
        out = loaded(x)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    # the spike trains themselves are identical (no head)
    with torch.no_grad():
        assert torch.equal(export_model(stack)(x), spikes)
    # streaming form: one frame at a time from initial_state
    state = loaded.initial_state(3).double()
    for n in range(4):
        with torch.no_grad():
            y, state = loaded.step(x[n], state)
        torch.testing.assert_close(y, ref[n], rtol=1e-12, atol=1e-12)


def test_export_with_sigma_delta_encoder_and_full_precision():
    stack = _trained_stack("v2", n_bits=None,
                           encoder=SigmaDeltaEncoder(SymmetricSpike(4, 0)))
    x = torch.randn(12, 2, 6, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(export_model(stack)(x), stack(x),
                                   rtol=1e-12, atol=1e-12)
    with pytest.raises(DataError):
        export_model(torch.nn.Linear(3, 3))


def _render_cfg(tmp_path) -> str:
    from pytorch_kaldi_snn.runner.render import render_file

    values = {}
    for token in ["OUT_FOLDER", "FEATS_TRAIN", "FEATS_DEV", "FEATS_TEST", "ALI_TRAIN",
                  "ALI_DEV", "ALI_TEST", "DATA_TRAIN", "DATA_DEV", "DATA_TEST",
                  "GRAPH_DIR", "DECODING_SCRIPT_FOLDER", "SCORING_SCRIPT"]:
        folder = tmp_path / token.lower()
        folder.mkdir()
        values[token] = str(folder)
    values["USE_CUDA"] = "False"
    cfg = str(tmp_path / "exp.cfg")
    render_file(str(REPO / "cfg" / "TIMIT_SNN_v2.cfg"), cfg, values)
    return cfg


@pytest.mark.slow
def trained_cfg(tmp_path):
    """A rendered TIMIT_SNN_v2 cfg whose final_*.pkl hold two "trained" nets
    (BN statistics and ranges moved); returns (cfg path, nets in eval mode, x, ref)."""
    from pytorch_kaldi_snn.export import _forward_options
    from pytorch_kaldi_snn.runner.archs import build_arch
    from pytorch_kaldi_snn.runner.config import load_config

    cfg_path = _render_cfg(tmp_path)
    cfg = load_config(cfg_path)
    torch.manual_seed(3)
    nets, dim = [], 40
    exp = os.path.join(cfg.exp.out_folder, "exp_files")
    os.makedirs(exp)
    for arch in cfg.archs.values():
        options = _forward_options(cfg, arch.section, {"lab_cd": 12})
        net = build_arch(arch.cls, options, dim, section=arch.section)
        nets.append(net)
        dim = net.out_dim
    x = torch.randn(8, 2, 40)
    for _ in range(2):
        nets[1](nets[0](x).reshape(16, -1))
    for arch, net in zip(cfg.archs.values(), nets):
        torch.save({"model_par": net.state_dict()},
                   os.path.join(exp, f"final_{arch.section}.pkl"))
        net.eval()
    with torch.no_grad():
        ref = nets[1](nets[0](x).reshape(16, -1)).reshape(8, 2, -1)
    return cfg_path, nets, x, ref


def test_cli_exports_a_trained_cfg(tmp_path, capsys):
    cfg_path, _nets, x, ref = trained_cfg(tmp_path)
    out = str(tmp_path / "model.pt")
    assert main(["export", cfg_path, "--out", out, "--feat-dim", "40",
                 "--n-out", "lab_cd=12"]) == 0
    assert "head" in capsys.readouterr().out
    loaded = torch.jit.load(out)
    with torch.no_grad():
        got = loaded(x)
    assert got.shape == ref.shape
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5)
    assert main(["export", cfg_path, "--out", out, "--feat-dim", "40",
                 "--n-out", "lab_cd=12", "--checkpoint", "architecture9=/x.pkl"]) == 1
    assert main(["export", cfg_path, "--out", out, "--feat-dim", "40"]) == 1


def test_feature_dim_follows_the_fea_opts_pipeline(tmp_path):
    """A cfg whose features gain deltas and a context window: the exported model's
    input is what the network saw in training (39 x 3 here), not the raw 13."""
    from types import SimpleNamespace

    import kaldiio
    import numpy as np

    from pytorch_kaldi_snn.export import _feature_dim

    ark, scp = tmp_path / "feats.ark", tmp_path / "feats.scp"
    with kaldiio.WriteHelper(f"ark,scp:{ark},{scp}") as w:
        w("utt1", np.random.default_rng(0).standard_normal((20, 13)).astype("f4"))
    fea = SimpleNamespace(fea_name="mfcc", fea_lst=str(scp), cw_left=1, cw_right=1,
                          fea_opts="add-deltas --delta-order=2 ark:- ark:- |")
    dataset = SimpleNamespace(section="dataset1", fea=[fea])
    cfg = SimpleNamespace(datasets={"d": dataset}, path="x.cfg")
    assert _feature_dim(cfg, "mfcc") == 13 * 3 * 3
    fea.fea_opts = ""
    fea.cw_left = fea.cw_right = 0
    assert _feature_dim(cfg, "mfcc") == 13


def test_n_out_is_read_from_the_training_alignments_when_not_given(tmp_path):
    from types import SimpleNamespace

    from pytorch_kaldi_snn.export import _resolve_n_out

    ali = tmp_path / "ali"
    ali.mkdir()
    (ali / "num_pdfs").write_text("48\n")
    lab = SimpleNamespace(lab_name="lab_cd", lab_folder=str(ali), lab_opts="ali-to-pdf",
                          lab_count_file="auto", lab_data_folder="", lab_graph="")
    missing = SimpleNamespace(lab_name="lab_mono", lab_folder=str(tmp_path / "nope"),
                              lab_opts="ali-to-phones --per-frame=true",
                              lab_count_file="none", lab_data_folder="", lab_graph="")
    cfg = SimpleNamespace(datasets={"tr": SimpleNamespace(lab=[lab, missing])},
                          data_use=SimpleNamespace(train_with=["tr"]))
    assert _resolve_n_out(cfg, {}) == {"lab_cd": 48}  # unreadable ones left out
    assert _resolve_n_out(cfg, {"lab_cd": 7}) == {"lab_cd": 7}  # the command line wins
