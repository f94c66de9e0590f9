"""torchrun over the batch gives one process's numbers.

Two gloo CPU ranks with 5 pieces each train the tiny demo corpus like one process with
10: the same res.res losses and errors, the same .info sums, the same final model and
the same forward output. The global batch count is odd in at least one epoch, so the
last step of that epoch leaves rank 1 a placeholder; the dev set ``demo_dev`` gives
rank 1 fewer batches than rank 0 and the one-utterance dev set ``demo_dev1`` gives it
none.
A tiny LSTM without dropout or batch norm (which are rank-local by nature) keeps the
runs short and comparable.
"""

from __future__ import annotations

import configparser
import glob
import os
import shutil
import subprocess
import sys

import kaldiio
import numpy as np
import pytest
import torch

from pytorch_kaldi_snn.errors import SnnKaldiError
from pytorch_kaldi_snn.runner.batching import make_batches, make_pieces
from pytorch_kaldi_snn.runner.checkpoint import read_info
from pytorch_kaldi_snn.runner.distributed import (
    backend_for,
    eval_share,
    rank_device,
    train_steps,
)
from pytorch_kaldi_snn.runner.results import parse_res_line

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PER_RANK = 5
EPOCHS = 2
SMALL = ["--architecture1,lstm_lay=16", "--architecture1,lstm_drop=0.0",
         "--architecture1,lstm_use_batchnorm=False", "--architecture1,lstm_act=tanh",
         "--architecture1,lstm_use_laynorm=False", "--batches,batch_size_valid=4",
         "--data_use,valid_with=demo_dev,demo_dev1", "--data_use,forward_with=demo_dev",
         "--forward,require_decoding=False"]


def _cfg(tiny_aligned, folder, use_cuda: bool = False) -> str:
    """The DEMO LSTM cfg plus ``demo_dev1``: the first dev utterance alone."""
    from pytorch_kaldi_snn.runner.render import render_file

    data, exp = tiny_aligned["data"], tiny_aligned["exp"]
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "exp.cfg")
    render_file(os.path.join(REPO, "cfg", "DEMO_LSTM.cfg"), path, {
        "DATA": str(data), "ALI_TRAIN": str(exp / "mono"),
        "ALI_DEV": str(exp / "mono_dev"), "ALI_TEST": str(exp / "mono_dev"),
        "ALI_HELDOUT": str(exp / "mono_dev"),
        "GRAPH": str(exp / "graph_phone"),
        "OUT_FOLDER": os.path.join(folder, "out"), "SEED": "3",
        "N_EPOCHS": str(EPOCHS), "USE_CUDA": str(use_cuda),
    })
    one = os.path.join(folder, "dev1_feats.scp")
    with open(data / "dev_fbank" / "feats.scp") as fh, open(one, "w") as out:
        out.write(fh.readline())
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str
    cp.read(path)
    cp["dataset5"] = dict(cp["dataset2"])  # dataset4 is the heldout set
    cp["dataset5"]["data_name"] = "demo_dev1"
    cp["dataset5"]["fea"] = cp["dataset2"]["fea"].replace(
        str(data / "dev_fbank" / "feats.scp"), one)
    assert cp["dataset5"]["fea"] != cp["dataset2"]["fea"]
    with open(path, "w") as fh:
        cp.write(fh)
    return path


def _torchrun(cfg: str, nproc: int, *extra: str) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [REPO, os.environ.get("PYTHONPATH", "")]), OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone",
         f"--nproc_per_node={nproc}", "run_exp.py", cfg, *SMALL, *extra],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.fixture(scope="module")
def runs(tiny_aligned, tmp_path_factory):
    """Out folders of one process at batch 10 and of two gloo ranks at batch 5."""
    from pytorch_kaldi_snn.cli import main

    root = tmp_path_factory.mktemp("ddp")
    one_cfg = _cfg(tiny_aligned, str(root / "one"))
    two_cfg = _cfg(tiny_aligned, str(root / "two"))
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        assert main(["run", one_cfg, *SMALL,
                     f"--batches,batch_size_train={2 * PER_RANK}"]) == 0
    finally:
        os.chdir(cwd)
    _torchrun(two_cfg, 2, f"--batches,batch_size_train={PER_RANK}")
    return str(root / "one" / "out"), str(root / "two" / "out")


def _res(out: str) -> list[dict]:
    with open(os.path.join(out, "res.res")) as fh:
        return [parse_res_line(line) for line in fh]


def _infos(out: str) -> dict[str, dict[str, float]]:
    return {os.path.basename(p): read_info(p)
            for p in sorted(glob.glob(os.path.join(out, "exp_files", "*.info")))}


def _assert_same_run(one: str, two: str, atol: float = 1e-5,
                     forward: bool = True) -> None:
    res1, res2 = _res(one), _res(two)
    assert len(res1) == len(res2) == EPOCHS
    for a, b in zip(res1, res2):
        assert a["loss"] == pytest.approx(b["loss"], abs=1.5e-3)
        assert a["err"] == pytest.approx(b["err"], abs=1.5e-3)
        assert a["lr"] == b["lr"]
        assert set(a["valid"]) == set(b["valid"]) == {"demo_dev", "demo_dev1"}
        for name, (loss, err) in a["valid"].items():
            assert loss > 1.0  # a rank without dev data must not read as perfect
            assert (loss, err) == pytest.approx(b["valid"][name], abs=1.5e-3)
    info1, info2 = _infos(one), _infos(two)
    if not forward:
        info1 = {k: v for k, v in info1.items() if not k.startswith("forward_")}
    assert set(info1) == set(info2) and any(k.startswith("valid_") for k in info1)
    for name, a in info1.items():
        b = info2[name]
        assert a.get("frames") == b.get("frames"), name
        for key in ("loss", "err"):
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=atol), (name, key)
    for arch in ("architecture1", "architecture2"):
        pars = [torch.load(os.path.join(o, "exp_files", f"final_{arch}.pkl"),
                           map_location="cpu", weights_only=False)["model_par"]
                for o in (one, two)]
        assert pars[0].keys() == pars[1].keys()
        for key, value in pars[0].items():
            torch.testing.assert_close(value, pars[1][key], rtol=1e-4, atol=atol)


def test_two_ranks_train_like_one_process_at_twice_the_batch(runs, tiny_aligned):
    lengths = {u: m.shape[0] for u, m in kaldiio.load_scp(
        str(tiny_aligned["data"] / "train" / "feats.scp")).items()}
    counts = [len(make_batches(make_pieces(lengths, max_len), PER_RANK))
              for max_len in (100, 200)]  # the demo cfg's curriculum over two epochs
    assert any(n % 2 == 1 for n in counts)  # rank 1 has no batch in a last step
    one, two = runs
    _assert_same_run(one, two)
    arks = [dict(kaldiio.load_ark(glob.glob(os.path.join(o, "exp_files",
                                                         "forward_*.ark"))[0]))
            for o in (one, two)]
    assert arks[0].keys() == arks[1].keys()
    for utt, mat in arks[0].items():
        np.testing.assert_allclose(mat, arks[1][utt], rtol=1e-4, atol=1e-4)
    ops = [open(os.path.join(o, "ops_demo_dev.json")).read() for o in (one, two)]
    assert ops[0] == ops[1]


def test_dev_set_smaller_than_the_ranks(runs, tiny_aligned):
    one, two = runs
    first = next(iter(kaldiio.load_scp(
        str(tiny_aligned["data"] / "dev" / "feats.scp")).values()))
    for out in runs:
        info = read_info(os.path.join(out, "exp_files",
                                      "valid_demo_dev1_ep0_ck0.info"))
        assert info["frames"] == first.shape[0]
    assert [r["valid"]["demo_dev1"] for r in _res(one)] == \
        [r["valid"]["demo_dev1"] for r in _res(two)]


def test_two_ranks_resume_a_two_rank_run(runs, tmp_path):
    """Resume reads only the files: epoch 1 of the two-rank folder, deleted, is
    redone by two ranks and ends like the uninterrupted two-rank run; one process at
    the same global batch is refused, since the recorded cfg says 5 per rank."""
    from pytorch_kaldi_snn.cli import main

    one, two = runs
    folder = tmp_path / "resume"
    shutil.copytree(os.path.dirname(two), folder)
    out = str(folder / "out")
    for path in glob.glob(os.path.join(out, "exp_files", "*_ep1_*")) + \
            glob.glob(os.path.join(out, "exp_files", "final_*.pkl")):
        os.remove(path)
    kept = os.path.join(out, "exp_files", "train_demo_train_ep0_ck0.info")
    with open(kept) as fh:
        before = fh.read()
    cfg = str(folder / "exp.cfg")
    with open(cfg) as fh:
        text = fh.read().replace(two, out)
    with open(cfg, "w") as fh:
        fh.write(text)
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        assert main(["run", cfg, *SMALL, "--stage", "train",
                     f"--batches,batch_size_train={2 * PER_RANK}"]) == 1
    finally:
        os.chdir(cwd)
    conf = os.path.join(out, "conf.cfg")
    with open(conf) as fh:
        recorded = fh.read()
    _torchrun(cfg, 2, "--stage", "train", f"--batches,batch_size_train={PER_RANK}")
    with open(kept) as fh:
        assert fh.read() == before  # epoch 0 was skipped, not trained again
    _assert_same_run(two, out, forward=False)
    assert "batch_size_train = 5" in recorded


def test_train_steps_pair_every_rank_and_weight_by_frames():
    frames = [7, 3, 0, 9, 4, 4, 12]
    for world in (1, 2, 3, 4):
        plans = [train_steps(frames, r, world) for r in range(world)]
        assert len({len(p) for p in plans}) == 1  # same number of collective steps
        real = sorted(i for p in plans for i, w in p if w > 0)
        assert real == [i for i, n in enumerate(frames) if n > 0]  # each batch once
        for k in range(len(plans[0])):
            step = [p[k] for p in plans]
            total = sum(frames[i] for i, w in step if w > 0)
            for i, w in step:  # DDP's mean of w_r g_r equals sum_r n_r g_r / N
                assert w / world == pytest.approx(frames[i] / total if w else 0.0)
    assert train_steps([5, 5], 0, 1) == [(0, 1.0), (1, 1.0)]


def test_eval_share_keeps_every_batch():
    assert sorted(i for r in range(3) for i in eval_share(4, r, 3)) == [0, 1, 2, 3]
    assert eval_share(1, 1, 2) == []


def test_each_rank_gets_its_own_gpu():
    assert rank_device(True, 3, 4) == torch.device("cuda", 3)
    assert rank_device(False, 3, 4) == torch.device("cpu")
    assert backend_for(torch.device("cuda", 0)) == "nccl"
    assert backend_for(torch.device("cpu")) == "gloo"
    with pytest.raises(SnnKaldiError, match="nproc_per_node 2"):
        rank_device(True, 2, 2)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 CUDA GPUs")
def test_two_nccl_ranks_train_like_one_process(runs, tiny_aligned, tmp_path):
    cfg = _cfg(tiny_aligned, str(tmp_path / "gpu"), use_cuda=True)
    _torchrun(cfg, 2, f"--batches,batch_size_train={PER_RANK}")
    _assert_same_run(runs[0], str(tmp_path / "gpu" / "out"), atol=1e-3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_one_gpu_rank_trains_like_the_cpu(runs, tiny_aligned, tmp_path):
    cfg = _cfg(tiny_aligned, str(tmp_path / "gpu1"), use_cuda=True)
    _torchrun(cfg, 1, f"--batches,batch_size_train={2 * PER_RANK}")
    _assert_same_run(runs[0], str(tmp_path / "gpu1" / "out"), atol=1e-3)
