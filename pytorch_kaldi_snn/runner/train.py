"""The batch loop: training and validation passes over padded sentence batches.

A pass calls ``step(batch) -> (loss, err)`` where ``loss`` is the mean negative
log-likelihood over the real (unmasked) frames of the batch and ``err`` the fraction of
those frames misclassified; the pass reports frame-weighted means::

    L = sum_b n_b * loss_b / sum_b n_b,     E = sum_b n_b * err_b / sum_b n_b

In training each batch does ``zero_grad -> loss.backward() -> step`` on every optimizer.
Under DistributedDataParallel each rank takes batches ``rank, rank + W, ...`` (trimmed
to the same count on all ranks so collective calls pair up) and the totals are summed
over ranks, so every rank reports the same numbers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch
from tqdm import tqdm

from pytorch_kaldi_snn.errors import SnnKaldiError
from pytorch_kaldi_snn.runner.batching import Batch

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


def shard(items: Sequence, rank: int, world: int) -> list:
    """Items ``rank::world``, trimmed so every rank gets ``len(items) // world``
    (all items when ``world == 1``).

    >>> shard(list(range(7)), 1, 2)
    [1, 3, 5]
    """
    if world <= 1:
        return list(items)
    per_rank = len(items) // world
    return list(items[rank::world])[:per_rank]


def _all_reduce(values: list[float], device: torch.device) -> list[float]:
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()):
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def run_pass(step: StepFn, batches: Iterable[Batch], *, device: torch.device,
             optimizers: Sequence[torch.optim.Optimizer] = (), desc: str = "",
             total: int | None = None,
             guard: Callable[[torch.Tensor, int], None] | None = None) -> PassStats:
    """Run ``step`` on every batch; train when ``optimizers`` is non-empty.

    In training, ``guard(loss, batch_index)`` runs after the optimizer steps of each
    batch (see :class:`~pytorch_kaldi_snn.runner.guard.FiniteGuard`); without one, a
    non-finite loss alone stops the pass.
    """
    start = time.time()
    train = bool(optimizers)
    sum_loss = sum_err = 0.0
    frames = 0
    bar = tqdm(batches, desc=desc, total=total, disable=None, leave=False,
               unit="batch", dynamic_ncols=True)
    for index, batch in enumerate(bar):
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
            loss.backward()
            for opt in optimizers:
                opt.step()
            if guard is not None:
                guard(loss, index)
        else:
            with torch.no_grad():
                loss, err = step(batch)
        sum_loss += float(loss.detach()) * n
        sum_err += float(err.detach()) * n
        frames += n
        bar.set_postfix(loss=f"{sum_loss / frames:.3f}", err=f"{sum_err / frames:.3f}")
    bar.close()
    sum_loss, sum_err, total_frames = _all_reduce([sum_loss, sum_err, float(frames)],
                                                  device)
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
