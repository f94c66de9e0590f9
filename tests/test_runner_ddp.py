"""DistributedDataParallel over the batch: 2 CPU processes (gloo) train a few steps and
their parameters stay identical; the split of batches by rank is disjoint."""

from __future__ import annotations

import os
import socket

import torch
import torch.multiprocessing as mp
from test_runner_synth import make_plan, write_split

from pytorch_kaldi_snn.runner.train import shard


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, root: str, out: str) -> None:
    import kaldiio

    from pytorch_kaldi_snn.runner import labels as labels_mod
    from pytorch_kaldi_snn.runner.data import dataset_utterances, load_chunk
    from pytorch_kaldi_snn.runner.distributed import init_distributed, unwrap
    from pytorch_kaldi_snn.runner.experiment import (
        Nets,
        _batches,
        seed_everything,
        train_experiment,
    )
    from pytorch_kaldi_snn.runner.train import run_pass

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    labels_mod._find_reader = lambda name: (
        lambda folder: dict(kaldiio.load_ark(os.path.join(folder, "ali.ark")))
    )
    ctx = init_distributed(use_cuda=False)
    plan = make_plan(root, out, n_epochs=1, n_chunks=1, drop="0.1")
    # different initial weights per rank: DDP must broadcast rank 0's
    seed_everything(100 + rank)
    nets = Nets(plan, 0, "train", ctx, None)
    spec = plan.datasets["synth_train"]
    chunk = load_chunk(spec, dataset_utterances(spec))
    batches, n = _batches(chunk, 4, 30, ctx)
    batches = list(batches)
    stats = run_pass(nets.step, batches, device=ctx.device,
                     optimizers=list(nets.optimizers.values()))
    # parameters only: batch-norm running statistics are rank-local between forwards
    # (DDP broadcasts rank 0's buffers at each forward; checkpoints hold rank 0's)
    state = {k: {n: p.detach().clone() for n, p in unwrap(m).named_parameters()}
             for k, m in nets.nets.items()}
    seen = sorted({p.utt + str(p.start) for b in batches for p in b.pieces})
    torch.save({"state": state, "seen": seen, "loss": stats.loss, "n": n},
               os.path.join(out, f"rank{rank}.pt"))
    train_experiment(plan, ctx)
    torch.distributed.destroy_process_group()


def test_shard_is_a_disjoint_equal_split():
    parts = [shard(list(range(11)), r, 3) for r in range(3)]
    assert all(len(p) == 3 for p in parts)
    assert not set(parts[0]) & set(parts[1]) and not set(parts[1]) & set(parts[2])


def test_two_cpu_ranks_keep_identical_parameters(tmp_path):
    root = str(tmp_path / "data")
    write_split(os.path.join(root, "train"), 16, 1)
    write_split(os.path.join(root, "dev"), 4, 2)
    write_split(os.path.join(root, "test"), 2, 3)
    out = str(tmp_path / "exp")
    os.makedirs(out)
    mp.spawn(_worker, args=(2, _free_port(), root, out), nprocs=2, join=True)
    a = torch.load(os.path.join(out, "rank0.pt"))
    b = torch.load(os.path.join(out, "rank1.pt"))
    assert a["n"] == b["n"] >= 2
    assert not set(a["seen"]) & set(b["seen"])  # each rank trained on its own batches
    assert a["loss"] == b["loss"]  # statistics are reduced over ranks
    for name in a["state"]:
        for key, value in a["state"][name].items():
            assert torch.equal(value, b["state"][name][key]), (name, key)
    with open(os.path.join(out, "res.res")) as fh:
        assert fh.read().startswith("ep=0 tr=['synth_train']")
