"""The batch loop: training and validation passes over padded sentence batches.

A pass calls ``step(batch) -> (loss, err)`` where ``loss`` is the mean negative
log-likelihood over the real (unmasked) frames of the batch and ``err`` the fraction of
those frames misclassified; the pass reports frame-weighted means::

    L = sum_b n_b * loss_b / sum_b n_b,     E = sum_b n_b * err_b / sum_b n_b

In training each batch does ``zero_grad -> (w * loss).backward() -> step`` on every
optimizer, with the batch's weight ``w`` (1 in one process). Under
DistributedDataParallel the weights make the ranks' gradient average equal to one
process's gradient over the ranks' batches together, ``w = 0`` marks a placeholder
step that only pairs the collectives (not counted), and the sums are reduced over
ranks, so every rank reports the same numbers (see
:mod:`pytorch_kaldi_snn.runner.distributed`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import repeat

import torch
from tqdm import tqdm

from pytorch_kaldi_snn.errors import SnnKaldiError
from pytorch_kaldi_snn.runner.batching import Batch
from pytorch_kaldi_snn.runner.distributed import all_reduce_sums, is_main_process

logger = logging.getLogger(__name__)

StepFn = Callable[[Batch], "tuple[torch.Tensor, torch.Tensor]"]


@dataclass(frozen=True)
class PassStats:
    """Frame-weighted loss and error of one pass, its frame count and wall time."""

    loss: float
    err: float
    frames: int
    seconds: float

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("nan")


def run_pass(step: StepFn, batches: Iterable[Batch], *, device: torch.device,
             optimizers: Sequence[torch.optim.Optimizer] = (), desc: str = "",
             total: int | None = None,
             weights: Sequence[float] | None = None,
             guard: Callable[[torch.Tensor, int], None] | None = None) -> PassStats:
    """Run ``step`` on every batch; train when ``optimizers`` is non-empty.

    ``weights[i]`` (default 1) scales batch i's loss before ``backward``; a batch of
    weight 0 is a placeholder: computed and stepped, not counted.
    In training, ``guard(loss, batch_index)`` runs after the optimizer steps of each
    batch (see :class:`~pytorch_kaldi_snn.runner.guard.FiniteGuard`); without one, a
    non-finite loss alone stops the pass.
    """
    start = time.time()
    train = bool(optimizers)
    sum_loss = sum_err = 0.0
    frames = 0
    bar = tqdm(batches, desc=desc, total=total, leave=False, unit="batch",
               dynamic_ncols=True, disable=None if is_main_process() else True)
    pairs = zip(bar, repeat(1.0) if weights is None else weights)
    for index, (batch, weight) in enumerate(pairs):
        batch = batch.to(device)
        n = batch.frames
        if n == 0:
            continue
        if train:
            for opt in optimizers:
                opt.zero_grad(set_to_none=True)
            loss, err = step(batch)
            if guard is None and not torch.isfinite(loss):
                raise SnnKaldiError(
                    f"non-finite training loss ({float(loss)}) in {desc or 'training'};"
                    " lower arch_lr or check the features"
                )
            (loss if weight == 1.0 else loss * weight).backward()
            for opt in optimizers:
                opt.step()
            if guard is not None:
                guard(loss, index)
        else:
            with torch.no_grad():
                loss, err = step(batch)
        if weight == 0.0:
            continue
        sum_loss += float(loss.detach()) * n
        sum_err += float(err.detach()) * n
        frames += n
        bar.set_postfix(loss=f"{sum_loss / frames:.3f}", err=f"{sum_err / frames:.3f}")
    bar.close()
    sum_loss, sum_err, total_frames = all_reduce_sums([sum_loss, sum_err,
                                                       float(frames)], device)
    total_frames = max(total_frames, 1.0)
    return PassStats(sum_loss / total_frames, sum_err / total_frames,
                     int(total_frames), time.time() - start)


def masked_nll_and_err(log_probs: torch.Tensor, labels: torch.Tensor,
                       mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean NLL and frame error over the real frames.

    ``log_probs`` is ``[T, B, C]`` or ``[T*B, C]`` (time-major rows), ``labels`` and
    ``mask`` ``[T, B]``::

        loss = -sum_{t,b in mask} log p[t, b, y[t, b]] / |mask|
        err  = sum_{t,b in mask} [argmax_c p[t, b, c] != y[t, b]] / |mask|
    """
    flat = log_probs.reshape(-1, log_probs.shape[-1])
    y = labels.reshape(-1)
    m = mask.reshape(-1)
    if flat.shape[0] != y.shape[0]:
        raise ValueError(
            f"network output has {flat.shape[0]} rows, labels {y.shape[0]} frames"
        )
    sel = flat[m]
    ys = y[m]
    loss = torch.nn.functional.nll_loss(sel, ys)
    err = (sel.argmax(dim=-1) != ys).float().mean()
    return loss, err
