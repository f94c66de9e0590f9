"""A small synthetic Kaldi data set and plan for the runner tests (no corpus needed).

Frames belong to "phones" (segments of 3-8 frames); a frame's 13-dim feature is its
phone's prototype plus noise, so a recurrent net can learn the labels in a few epochs.
Features are a real scp/ark pair with per-speaker cmvn stats; the labels come from an
int-vector ark that a test installs as the ``ali-to-pdf`` reader.
"""

from __future__ import annotations

import configparser
import os

import kaldiio
import numpy as np
import torch

from pytorch_kaldi_snn.pytorch_kaldi.baselines import LSTM, MLP
from pytorch_kaldi_snn.runner import labels as labels_mod
from pytorch_kaldi_snn.runner.data import DatasetSpec, FeaSpec, LabSpec
from pytorch_kaldi_snn.runner.plan import ArchPlan, ExperimentPlan, ForwardPlan
from pytorch_kaldi_snn.runner.train import masked_nll_and_err

N_CLASSES = 4
DIM = 13


def write_split(folder: str, n_utts: int, seed: int) -> None:
    """feats.scp/ark, cmvn.scp/ark, utt2spk and ``ali.ark`` (pdf ids) in ``folder``."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    protos = np.random.default_rng(123).standard_normal((N_CLASSES, DIM)) * 2.0
    feats, labs, utt2spk = {}, {}, {}
    for u in range(n_utts):
        spk = f"s{u % 3}"
        utt = f"{spk}_u{u:03d}"
        segs = []
        total = int(rng.integers(20, 45))
        while sum(len(s) for s in segs) < total:
            segs.append([int(rng.integers(N_CLASSES))] * int(rng.integers(3, 9)))
        y = np.concatenate(segs)[:total]
        x = protos[y] + 0.8 * rng.standard_normal((total, DIM)) + 0.5 * (u % 3)
        feats[utt], labs[utt], utt2spk[utt] = x.astype(np.float32), y, spk
    kaldiio.save_ark(os.path.join(folder, "feats.ark"), feats,
                     scp=os.path.join(folder, "feats.scp"))
    stats = {}
    for spk in sorted(set(utt2spk.values())):
        f = np.concatenate([feats[u] for u in feats if utt2spk[u] == spk]).astype(float)
        st = np.zeros((2, DIM + 1))
        st[0, :DIM], st[0, DIM], st[1, :DIM] = f.sum(0), len(f), (f ** 2).sum(0)
        stats[spk] = st
    kaldiio.save_ark(os.path.join(folder, "cmvn.ark"), stats,
                     scp=os.path.join(folder, "cmvn.scp"))
    with open(os.path.join(folder, "utt2spk"), "w") as fh:
        fh.writelines(f"{u} {s}\n" for u, s in sorted(utt2spk.items()))
    kaldiio.save_ark(os.path.join(folder, "ali.ark"),
                     {u: v.astype(np.int32) for u, v in labs.items()})


def install_label_reader(monkeypatch) -> None:
    """Make ``ali-to-pdf`` read the synthetic ``ali.ark`` of a folder."""

    def reader(folder):
        return dict(kaldiio.load_ark(os.path.join(folder, "ali.ark")))

    monkeypatch.setattr(labels_mod, "_find_reader", lambda name: reader)


def dataset(root: str, split: str, n_chunks: int = 1) -> DatasetSpec:
    d = os.path.join(root, split)
    opts = (f"apply-cmvn --utt2spk=ark:{d}/utt2spk scp:{d}/cmvn.scp ark:- ark:- | "
            "add-deltas --delta-order=1 ark:- ark:- |")
    return DatasetSpec(
        section=f"dataset_{split}", name=f"synth_{split}",
        feas=(FeaSpec("mfcc", os.path.join(d, "feats.scp"), opts, 0, 0),),
        labs=(LabSpec("lab_cd", d, "ali-to-pdf"),), n_chunks=n_chunks,
    )


class ChainProgram:
    """``out_dnn1=compute(architecture1,mfcc)``, ``out_dnn2=compute(architecture2,
    out_dnn1)``, ``loss_final=cost_nll(out_dnn2,lab_cd)``,
    ``err_final=cost_err(...)``."""

    loss_final = "loss_final"
    err_final = "err_final"

    def __init__(self, fea_dim: int) -> None:
        self.fea_dim = fea_dim

    def build(self, make_arch):
        a1 = make_arch("rnn", self.fea_dim)
        return {"rnn": a1, "out": make_arch("out", a1.out_dim)}

    def run(self, nets, features, labels, mask):
        h = nets["rnn"](features["mfcc"])
        out = nets["out"](h)
        res = {"out_dnn2": out}
        if "lab_cd" in labels:
            loss, err = masked_nll_and_err(out, labels["lab_cd"], mask)
            res.update(loss_final=loss, err_final=err)
        return res


def _options(values: dict):
    def options_for(ep: int, to_do: str):
        cp = configparser.ConfigParser()
        cp.read_dict({"arch": {**values, "use_cuda": "False", "to_do": to_do}})
        return cp["arch"]
    return options_for


def make_plan(root: str, out: str, n_epochs: int = 3, n_chunks: int = 1,
              lr: float = 0.01, seed: int = 7, drop: str = "0.0") -> ExperimentPlan:
    torch.set_num_threads(1)
    lstm = {"lstm_lay": "24", "lstm_drop": drop, "lstm_use_laynorm_inp": "False",
            "lstm_use_batchnorm_inp": "False", "lstm_use_laynorm": "False",
            "lstm_use_batchnorm": "True", "lstm_bidir": "False", "lstm_act": "tanh",
            "lstm_orthinit": "True"}
    mlp = {"dnn_lay": str(N_CLASSES), "dnn_drop": "0.0", "dnn_use_laynorm_inp": "False",
           "dnn_use_batchnorm_inp": "False", "dnn_use_batchnorm": "False",
           "dnn_use_laynorm": "False", "dnn_act": "softmax"}
    archs = [
        ArchPlan("architecture1", "rnn", LSTM, _options(lstm), [lr] * n_epochs),
        ArchPlan("architecture2", "out", MLP, _options(mlp), [lr] * n_epochs,
                 opt="rmsprop", opt_options={"opt_alpha": "0.95", "opt_eps": "1e-8"}),
    ]
    datasets = {d.name: d for d in (dataset(root, "train", n_chunks),
                                    dataset(root, "dev"), dataset(root, "test"))}
    return ExperimentPlan(
        cfg_file="synthetic.cfg", out_folder=out, seed=seed, use_cuda=False,
        n_epochs=n_epochs, datasets=datasets, train_with=["synth_train"],
        valid_with=["synth_dev"], forward_with=["synth_test"],
        batch_size_train=[4] * n_epochs, max_seq_length_train=[30] * n_epochs,
        batch_size_valid=8, max_seq_length_valid=0, archs=archs,
        model=ChainProgram(2 * DIM),
        forward=ForwardPlan(["out_dnn2"], [True], ["lab_cd"], [True], [False]),
    )


def test_synthetic_split_is_consistent(tmp_path):
    write_split(str(tmp_path), 4, 0)
    feats = kaldiio.load_scp(str(tmp_path / "feats.scp"))
    labs = dict(kaldiio.load_ark(str(tmp_path / "ali.ark")))
    assert set(feats) == set(labs)
    assert all(feats[u].shape == (len(labs[u]), DIM) for u in feats)
