"""Training like PyTorch-Kaldi's ``run_exp.py``: epochs of chunks, validation, newbob.

For every epoch E, training dataset D and chunk C (the dataset's utterances shuffled
with ``(seed, E)`` and split into ``n_chunks``)::

    build nets for E (cls(options, inp_dim)), load the previous chunk's checkpoint
    train on the chunk's sentence batches (batch size and max length of epoch E)
    write exp_files/train_D_epE_ckC_<architectureN>.pkl for every architecture, then
    exp_files/train_D_epE_ckC.info (the marker that the chunk is done)

then validation (``valid_*.info``), newbob on the learning rates and one ``res.res``
line.

A rerun skips every chunk whose ``.info`` and checkpoints exist and recomputes the
``res.res`` lines and learning rates from the ``.info`` files, so a run killed at any
point and started again ends with the same files as an uninterrupted run. This holds
because each chunk reseeds torch/numpy/python from ``(seed, E, D, C, rank)`` after its
nets are built (weights come from the checkpoint, randomness from the chunk's
identity); the RNG state is also stored in the checkpoint for inspection.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import time
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from pytorch_kaldi_snn.fileio import atomic_path
from pytorch_kaldi_snn.nn.spike import spike_ranges
from pytorch_kaldi_snn.runner.archs import build_arch, make_optimizer, set_lr
from pytorch_kaldi_snn.runner.batching import collate, make_batches, make_pieces
from pytorch_kaldi_snn.runner.checkpoint import (
    atomic_write_text,
    chunk_stem,
    load_checkpoint,
    load_model_state,
    read_info,
    rng_state,
    save_checkpoint,
    write_info,
)
from pytorch_kaldi_snn.runner.data import (
    Chunk,
    LabelCache,
    chunk_lists,
    dataset_utterances,
    load_chunk,
)
from pytorch_kaldi_snn.runner.distributed import (
    DistContext,
    barrier,
    eval_share,
    train_steps,
    unwrap,
    wrap_ddp,
)
from pytorch_kaldi_snn.runner.guard import FiniteGuard
from pytorch_kaldi_snn.runner.plan import ExperimentPlan
from pytorch_kaldi_snn.runner.results import format_res_line, newbob
from pytorch_kaldi_snn.runner.train import PassStats, run_pass

logger = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and python's ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed % (2 ** 32))
    random.seed(seed)


def chunk_seed(seed: int, ep: int, data_index: int, ck: int, rank: int) -> int:
    """A seed that depends only on the chunk's identity (see module docstring)."""
    return (seed * 1_000_003 + ep * 10_007 + data_index * 1_009 + ck * 101 + rank) \
        % (2 ** 31)


def used_archs(plan: ExperimentPlan) -> list[str]:
    """Names of the architectures the ``[model]`` program computes (all when the
    program cannot tell)."""
    names = getattr(plan.model, "arch_names", None)
    if callable(names):
        return list(names())
    return [a.name for a in plan.archs]


class Nets:
    """The architectures of one chunk, their optimizers and (maybe DDP-wrapped)
    views."""

    def __init__(self, plan: ExperimentPlan, ep: int, to_do: str, ctx: DistContext,
                 previous: Mapping[str, str] | None) -> None:
        self.plan = plan
        self.ctx = ctx

        def make(name: str, inp_dim: int) -> nn.Module:
            arch = plan.arch(name)
            return build_arch(arch.cls, arch.options_for(ep, to_do), inp_dim,
                              section=arch.section, file=plan.cfg_file)

        self.nets = {k: v.to(ctx.device) for k, v in plan.model.build(make).items()}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        for name, net in self.nets.items():
            arch = plan.arch(name)
            state = None
            if previous and name in previous:
                state = load_checkpoint(previous[name], ctx.device)
            elif arch.pretrain_file:
                state = load_checkpoint(arch.pretrain_file, ctx.device)
            if state is not None:
                load_model_state(net, state["model_par"],
                                 previous[name] if previous and name in previous
                                 else arch.pretrain_file, section=arch.section)
            if arch.freeze:
                for p in net.parameters():
                    p.requires_grad_(False)
            if to_do == "train" and not arch.freeze:
                net.train()
                opt = make_optimizer(net.parameters(), arch.opt, arch.lr[ep],
                                     arch.opt_options, section=arch.section)
                if previous and name in previous and state.get("optimizer_par"):
                    opt.load_state_dict(state["optimizer_par"])
                set_lr(opt, arch.lr[ep])
                self.optimizers[name] = opt
            else:  # frozen archs run in eval mode, as upstream (batch norm, dropout)
                net.eval()
        self.views = {k: (wrap_ddp(v, ctx) if k in self.optimizers else v)
                      for k, v in self.nets.items()}

    def step(self, batch):
        outs = self.plan.model.run(self.views, batch.features, batch.labels, batch.mask)
        return outs[self.plan.model.loss_final], outs[self.plan.model.err_final]

    def save(self, paths: Mapping[str, str], lr: Mapping[str, float]) -> None:
        state = rng_state()
        for name, net in self.nets.items():
            opt = self.optimizers.get(name)
            save_checkpoint(paths[name], unwrap(net).state_dict(),
                            opt.state_dict() if opt else {}, rng_state=state,
                            lr=lr.get(name))


def _batches(chunk: Chunk, batch_size: int, max_len: int, ctx: DistContext,
             train: bool = False):
    """This rank's batches (a generator) and their loss weights: all training steps
    with :func:`train_steps`' weights, or this rank's share of the validation
    batches."""
    groups = make_batches(make_pieces(chunk.lengths, max_len), batch_size)
    if train:
        steps = train_steps([sum(p.length for p in g) for g in groups], ctx.rank,
                            ctx.world)
    else:
        steps = [(i, 1.0) for i in eval_share(len(groups), ctx.rank, ctx.world)]
    batches = (collate(groups[i], chunk.features, chunk.labels) for i, _ in steps)
    return batches, [w for _, w in steps]


def _validate(plan: ExperimentPlan, ep: int, ctx: DistContext,
              previous: Mapping[str, str], cache: LabelCache,
              exp: str) -> dict[str, tuple[float, float]]:
    out = {}
    for valid_data in plan.valid_with:
        spec = plan.datasets[valid_data]
        chunks = chunk_lists(dataset_utterances(spec), spec.n_chunks)
        infos = []
        for ck, utts in enumerate(chunks):
            stem = chunk_stem("valid", valid_data, ep, ck, plan.n_epochs, len(chunks))
            info = os.path.join(exp, stem + ".info")
            if not os.path.exists(info):
                with torch.random.fork_rng(devices=[]):
                    nets = Nets(plan, ep, "valid", ctx, previous)
                    chunk = load_chunk(spec, utts, labels=cache)
                    batches, weights = _batches(chunk, plan.batch_size_valid,
                                                plan.max_seq_length_valid, ctx)
                    stats = run_pass(nets.step, batches, device=ctx.device,
                                     total=len(weights), desc=f"valid ep{ep} ck{ck}")
                if ctx.is_main:
                    write_info(info, stats.loss, stats.err, stats.seconds,
                               frames=stats.frames)
                barrier(ctx)
            infos.append(read_info(info))
        out[valid_data] = _mean_info(infos)
    return out


def _epoch_value(value, index: int) -> int:
    """An epoch's setting: one int, or one int per training chunk of the epoch."""
    if isinstance(value, (list, tuple)):
        return int(value[min(index, len(value) - 1)])
    return int(value)


def _mean_info(infos: list[dict[str, float]]) -> tuple[float, float]:
    """Frame-weighted mean loss and error of chunk ``.info`` files."""
    w = np.array([i.get("frames", 1.0) for i in infos])
    loss = float(np.sum(w * [i["loss"] for i in infos]) / w.sum())
    err = float(np.sum(w * [i["err"] for i in infos]) / w.sum())
    return loss, err


def _guard(nets: Nets, ep: int, ck: int, data: str,
           previous: Mapping[str, str] | None,
           lrs: Mapping[str, float]) -> FiniteGuard:
    kept = ("kept the last good checkpoint ("
            + os.path.basename(next(iter(previous.values()))).rsplit("_", 1)[0]
            + "_*.pkl), wrote nothing after it") if previous else \
        "wrote no checkpoint"
    return FiniteGuard(
        nets=nets.nets, sections={k: nets.plan.arch(k).section for k in nets.nets},
        lrs={k: lrs[k] for k in nets.optimizers}, where=f"epoch {ep}, chunk {ck} of "
        f"{data}", kept=kept)


def _log_ranges(nets: Nets, ep: int, ck: int) -> None:
    """One line with the spike quantisers' tracked ranges after a training chunk."""
    parts = [f"{name}.{layer} {b:.4g}"
             for name, net in nets.nets.items()
             for layer, b in spike_ranges(net).items()]
    if parts:
        logger.info("epoch %d chunk %d: spike ranges %s", ep, ck, ", ".join(parts))


def train_experiment(plan: ExperimentPlan, ctx: DistContext) -> dict[str, str]:
    """Run (or resume) training; returns the final checkpoint path per architecture."""
    exp = os.path.join(plan.out_folder, "exp_files")
    os.makedirs(exp, exist_ok=True)
    res_path = os.path.join(plan.out_folder, "res.res")
    res_lines: list[str] = []
    cache = LabelCache()
    lrs = {a.name: list(a.lr) for a in plan.archs}
    previous: dict[str, str] | None = None
    prev_valid_err: float | None = None
    for ep in range(plan.n_epochs):
        epoch_start = time.time()
        tr_infos = []
        chunk_index = 0  # position in the epoch, for the sequence-length curriculum
        for d_index, tr_data in enumerate(plan.train_with):
            spec = plan.datasets[tr_data]
            chunks = chunk_lists(dataset_utterances(spec), spec.n_chunks, plan.seed, ep)
            for ck, utts in enumerate(chunks):
                stem = chunk_stem("train", tr_data, ep, ck, plan.n_epochs, len(chunks))
                info = os.path.join(exp, stem + ".info")
                names = used_archs(plan)
                ckpts = {n: os.path.join(exp, f"{stem}_{plan.arch(n).section}.pkl")
                         for n in names}
                max_len = _epoch_value(plan.max_seq_length_train[ep], chunk_index)
                chunk_index += 1
                if os.path.exists(info) and all(os.path.exists(p)
                                                for p in ckpts.values()):
                    previous = ckpts
                    tr_infos.append(read_info(info))
                    continue
                if previous is None:
                    seed_everything(plan.seed)
                for name in names:
                    plan.arch(name).lr = lrs[name]
                nets = Nets(plan, ep, "train", ctx, previous)
                seed_everything(chunk_seed(plan.seed, ep, d_index, ck, ctx.rank))
                chunk = load_chunk(spec, utts, labels=cache)
                batches, weights = _batches(chunk, plan.batch_size_train[ep], max_len,
                                            ctx, train=True)
                stats: PassStats = run_pass(
                    nets.step, batches, device=ctx.device, total=len(weights),
                    optimizers=list(nets.optimizers.values()),
                    desc=f"train ep{ep} ck{ck}", weights=weights,
                    guard=_guard(nets, ep, ck, tr_data, previous,
                                 {k: v[ep] for k, v in lrs.items()}),
                )
                logger.info("epoch %d chunk %d: loss %.3f err %.3f, %.0f frames/s",
                            ep, ck, stats.loss, stats.err, stats.frames_per_second)
                _log_ranges(nets, ep, ck)
                if ctx.is_main:
                    nets.save(ckpts, {k: v[ep] for k, v in lrs.items()})
                    write_info(info, stats.loss, stats.err, stats.seconds,
                               frames=stats.frames)
                barrier(ctx)
                previous = ckpts
                tr_infos.append(read_info(info))
        valid = _validate(plan, ep, ctx, previous or {}, cache, exp)
        tr_loss, tr_err = _mean_info(tr_infos)
        valid_err = float(np.mean([e for _, e in valid.values()])) if valid else None
        if prev_valid_err is not None and valid_err is not None:
            for arch in plan.archs:
                if arch.auto_anneal:
                    lrs[arch.name] = newbob(lrs[arch.name], ep, prev_valid_err,
                                            valid_err, arch.improvement_threshold,
                                            arch.halving_factor)
        prev_valid_err = valid_err if valid_err is not None else prev_valid_err
        seconds = sum(i.get("elapsed_time_chunk", 0.0) for i in tr_infos) or \
            (time.time() - epoch_start)
        line = format_res_line(ep, plan.n_epochs, plan.train_with, tr_loss, tr_err,
                               valid, {a.section: lrs[a.name][ep] for a in plan.archs},
                               seconds)
        res_lines.append(line)
        if ctx.is_main:
            atomic_write_text(res_path, "\n".join(res_lines) + "\n")
        logger.info(line)
    final = {}
    for arch in (plan.arch(n) for n in used_archs(plan)):
        path = os.path.join(exp, f"final_{arch.section}.pkl")
        if ctx.is_main and previous:
            with atomic_path(path) as tmp:
                shutil.copyfile(previous[arch.name], tmp)
        final[arch.name] = path
    barrier(ctx)
    return final
