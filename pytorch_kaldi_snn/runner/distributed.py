"""Devices and DistributedDataParallel over the batch dimension.

Under ``torchrun`` (``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` in the environment) the
runner joins a process group (NCCL on CUDA, gloo on CPU) and wraps every trainable
architecture in ``DistributedDataParallel``: each rank runs whole sentence batches
(time-major ``[T, B, F]``, never split along time) and gradients are averaged across
ranks. PyTorch-Kaldi's ``multi_gpu`` used DataParallel, which splits dimension 0, i.e.
time, of a sequence batch: wrong for recurrent and spiking layers, so we never use it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import torch
from torch import nn

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


def set_cpu_threads(threads: int = 0) -> int:
    """Set torch's intra-op threads: ``threads`` when > 0, else ``OMP_NUM_THREADS`` when
    set, else 1. Returns the number in use.

    Measured on the project's 2-core machine (2 x 128 LSTM, batch 16 x 200 frames): 1
    thread ran at 12.8k frames/s, 2 threads at 0.5k frames/s while other processes kept
    the cores busy (OpenMP workers wait on each other), and no faster when idle.
    """
    if threads <= 0:
        env = os.environ.get("OMP_NUM_THREADS", "")
        threads = int(env) if env.isdigit() and int(env) > 0 else 1
    torch.set_num_threads(threads)
    return threads


def pick_device(use_cuda: bool, local_rank: int = 0) -> torch.device:
    """CUDA device ``local_rank`` when asked for and available, else CPU."""
    if use_cuda and torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if use_cuda:
        logger.warning("use_cuda=True but CUDA is not available: running on CPU")
    return torch.device("cpu")


def init_distributed(use_cuda: bool) -> DistContext:
    """Join the torchrun process group when launched by torchrun, else single
    process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext(0, 1, pick_device(use_cuda))
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(use_cuda, local_rank)
    dist = torch.distributed
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    logger.info("rank %d/%d on %s", rank, world, device)
    return DistContext(rank, world, device)


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
