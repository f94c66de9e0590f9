"""Devices and DistributedDataParallel over the batch dimension.

Under ``torchrun`` (``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` in the environment) the
runner joins a process group (NCCL when the rank computes on CUDA, gloo on CPU), puts
rank r of a node on GPU ``LOCAL_RANK`` and wraps every trainable architecture in
``DistributedDataParallel``: each rank runs whole sentence batches (time-major
``[T, B, F]``, never split along time). PyTorch-Kaldi's ``multi_gpu`` used DataParallel,
which splits dimension 0, i.e. time, of a sequence batch: wrong for recurrent and
spiking layers, so we never use it.

W ranks with ``batch_size`` b train like one process with batch ``W b``: the chunk's
batches ``B_0, B_1, ...`` (b pieces each, sorted by length, the same list on every
rank) are taken W at a time, step k giving ``B_{kW + r}`` to rank r. With ``n_r`` real
frames on rank r and ``N_k = sum_r n_r`` in the step, rank r back-propagates
``w_r * loss_r`` with::

    w_r = W n_r / N_k        so that   (1/W) sum_r w_r grad loss_r
                                        = sum_r n_r grad loss_r / N_k

which is DDP's gradient average equal to the gradient of the frame mean over the
whole ``W b`` batch, as one process computes it. Every rank knows every batch's
frame count, so the weights need no communication. When the batch count is not a
multiple of W, the ranks past the end of the list run a *placeholder* step in the
last round (the chunk's cheapest batch with ``w = 0``): like DDP's ``Join`` it
pairs the gradient all-reduce of the ranks that still have data, and unlike
``Join`` it keeps the order of the collectives of several DDP modules (one per
architecture) identical on every rank. Placeholder steps are not counted in any
statistic.

Loss, error and frame counts are reduced as sums weighted by frames
(:func:`all_reduce_sums`)::

    L = sum_r sum_b n_b loss_b / sum_r sum_b n_b

so a rank with fewer batches, or none (a dev set smaller than the number of ranks),
adds what it has. Validation has no collective per batch: rank r takes batches
``r, r + W, ...``, all of them.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from pytorch_kaldi_snn.errors import SnnKaldiError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistContext:
    """Rank, world size and the device this process computes on."""

    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def choose_cpu_threads(requested: int, environ: Mapping[str, str], cores: int) -> int:
    """The intra-op thread count :func:`set_cpu_threads` uses.

    ``requested`` when > 0, else ``OMP_NUM_THREADS`` when set, else the ``cores``
    this process may run on, shared among the ``LOCAL_WORLD_SIZE`` ranks torchrun
    starts on this node, when OpenMP's workers sleep at barriers
    (``OMP_WAIT_POLICY=PASSIVE``, which the console script sets before torch loads),
    else 1. It depends on the environment and the affinity mask only, not on the
    load, so a resumed run on the same machine makes the same choice.

    Why (docs/speed.md, Threads): on the 2-core machine with other processes keeping
    the cores busy (load average ~8), a v2 training step with 2 threads ran 14x
    slower than with 1 under libgomp's default policy (a worker spins at the barrier
    while the thread it waits for is descheduled; its CPU time rose 15x), and 0.65x
    the 1-thread time with ``OMP_WAIT_POLICY=PASSIVE``.

    >>> choose_cpu_threads(0, {"OMP_WAIT_POLICY": "passive"}, 2)
    2
    >>> choose_cpu_threads(0, {}, 2)
    1
    """
    if requested > 0:
        return requested
    env = environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    if environ.get("OMP_WAIT_POLICY", "").strip().upper() == "PASSIVE":
        local = environ.get("LOCAL_WORLD_SIZE", "").strip()
        ranks = int(local) if local.isdigit() and int(local) > 0 else 1
        return max(1, cores // ranks)
    return 1


def available_cores() -> int:
    """CPUs this process may run on (its affinity mask, else ``os.cpu_count()``)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def set_cpu_threads(threads: int = 0) -> int:
    """Set torch's intra-op threads as :func:`choose_cpu_threads` decides; returns
    the number in use. ``OMP_WAIT_POLICY`` only counts when it was in the
    environment before torch loaded its OpenMP runtime (set it in the shell, or run
    the console script, which sets it then)."""
    threads = choose_cpu_threads(threads, os.environ, available_cores())
    torch.set_num_threads(threads)
    return threads


def rank_device(use_cuda: bool, local_rank: int, n_gpus: int) -> torch.device:
    """GPU ``local_rank`` of this node when CUDA is asked for and present, else CPU.

    Two ranks on one GPU are refused (NCCL cannot run a communicator with a GPU twice):

    >>> rank_device(True, 1, 2)
    device(type='cuda', index=1)
    >>> rank_device(True, 0, 0)
    device(type='cpu')
    """
    if not use_cuda or n_gpus == 0:
        return torch.device("cpu")
    if local_rank >= n_gpus:
        raise SnnKaldiError(
            f"LOCAL_RANK {local_rank} but this node has {n_gpus} GPU(s): start at most "
            f"{n_gpus} processes per node (torchrun --nproc_per_node {n_gpus}) or set "
            "[exp] use_cuda = False"
        )
    return torch.device("cuda", local_rank)


def backend_for(device: torch.device) -> str:
    """``nccl`` for CUDA ranks, ``gloo`` for CPU ranks."""
    return "nccl" if device.type == "cuda" else "gloo"


def pick_device(use_cuda: bool, local_rank: int = 0) -> torch.device:
    """:func:`rank_device` with this machine's GPU count; warns when CUDA was asked for
    and is missing."""
    n_gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if use_cuda and n_gpus == 0:
        logger.warning("use_cuda=True but CUDA is not available: running on CPU")
    return rank_device(use_cuda, local_rank, n_gpus)


def _env_int(name: str, default: str) -> int:
    text = os.environ.get(name, default)
    if not text.strip().isdigit():
        raise SnnKaldiError(f"environment variable {name}={text!r} is not a "
                            "non-negative integer (torchrun sets it)")
    return int(text)


def init_distributed(use_cuda: bool) -> DistContext:
    """Join the torchrun process group when launched by torchrun, else single
    process. Ranks other than 0 log warnings only, so each line appears once."""
    world = _env_int("WORLD_SIZE", "1")
    if world <= 1:
        return DistContext(0, 1, pick_device(use_cuda))
    rank = _env_int("RANK", "0")
    local_rank = _env_int("LOCAL_RANK", "0")
    device = pick_device(use_cuda, local_rank)
    dist = torch.distributed
    if not dist.is_initialized():
        bound = None
        if device.type == "cuda":  # NCCL's collectives and barriers use this GPU
            torch.cuda.set_device(device)
            bound = device
        dist.init_process_group(backend=backend_for(device), device_id=bound)
    if rank != 0:
        logging.getLogger("pytorch_kaldi_snn").setLevel(logging.WARNING)
    logger.info("rank %d/%d on %s (%s)", rank, world, device, backend_for(device))
    return DistContext(rank, world, device)


def leave_distributed(ctx: DistContext) -> None:
    """Destroy the process group after the last collective (training's end); what
    follows (forward, decoding) runs on rank 0 alone."""
    dist = torch.distributed
    if ctx.active and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def is_main_process() -> bool:
    """True unless this process is a rank > 0 of an initialized process group."""
    dist = torch.distributed
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def wrap_ddp(module: nn.Module, ctx: DistContext) -> nn.Module:
    """``DistributedDataParallel(module)`` when distributed and trainable, else
    module."""
    if not ctx.active or not any(p.requires_grad for p in module.parameters()):
        return module
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


def unwrap(module: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (state_dict keys without ``module.``)."""
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) \
        else module


def barrier(ctx: DistContext) -> None:
    """Wait for all ranks (no-op when single process)."""
    if ctx.active:
        torch.distributed.barrier()


def all_reduce_sums(values: Sequence[float], device: torch.device) -> list[float]:
    """Sum ``values`` over the ranks of the process group, in float64 (the values
    themselves when there is no group)."""
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()):
        return list(values)
    t = torch.tensor(list(values), dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def train_steps(frames: Sequence[int], rank: int,
                world: int) -> list[tuple[int, float]]:
    """This rank's training steps as ``(batch index, loss weight)`` (module
    docstring): batch ``k W + rank`` with ``w = W n / N_k`` at step k, or the cheapest
    batch with ``w = 0`` when the list has run out. Batches without frames are left
    out (on every rank alike).

    >>> train_steps([4, 6, 5], 0, 2)
    [(0, 0.8), (2, 2.0)]
    >>> train_steps([4, 6, 5], 1, 2)
    [(1, 1.2), (0, 0.0)]
    >>> train_steps([4, 0, 5], 0, 1)
    [(0, 1.0), (2, 1.0)]
    """
    real = [i for i, n in enumerate(frames) if n > 0]
    if not real:
        return []
    cheapest = min(real, key=lambda i: frames[i])
    steps = []
    for k in range(math.ceil(len(real) / world)):
        group = real[k * world:(k + 1) * world]
        if rank < len(group):
            total = sum(frames[i] for i in group)
            steps.append((group[rank], world * frames[group[rank]] / total))
        else:
            steps.append((cheapest, 0.0))
    return steps


def eval_share(n_batches: int, rank: int, world: int) -> list[int]:
    """Indices of the validation batches of this rank: ``rank, rank + W, ...`` (none
    when ``rank >= n_batches``).

    >>> eval_share(3, 1, 2), eval_share(1, 1, 2)
    ([1], [])
    """
    return list(range(rank, n_batches, max(world, 1)))
