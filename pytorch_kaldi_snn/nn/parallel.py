"""Run a C kernel over disjoint row ranges on the threads torch may use.

The ``_fused.c`` kernels (element-wise recurrences with their gate factors, batch
norm) are single-threaded loops over independent rows: the sequences of a batch, the
frames of batch norm's apply, or the blocks of rows its sums are taken over
(``fast_bn.blocks``; a split by channels had run slower on two threads than on one).
With ``torch.get_num_threads() == k > 1`` the matrix products use k cores and these
loops would keep one of them busy while the others wait, so :func:`ranges` cuts the
rows into up to k contiguous ranges and :func:`run` calls the
kernel on each at once: the first range on the calling thread, the others on a thread
pool (ctypes releases the GIL for the call). Each row is computed by the same code in
the same order whatever the split, so the result does not depend on the split.

A range gets at least :data:`MIN_WORK` elements of work; below that (a v2 frame at
batch 64 and 550 units is 35,200) a thread hand-off costs more than it saves and the
call stays on one thread. The pool is rebuilt after a ``fork``.

Only when OpenMP's idle workers sleep (``OMP_WAIT_POLICY=PASSIVE``, which the console
script sets before torch loads; docs/speed.md, "Threads"): with libgomp's default
spinning, torch's worker keeps the second core busy after each product and a kernel
thread only competes with it. Measured on the 2-core machine at 2 threads
(``bench/bench_layers.py --paths default,serial-c``, 2026-12-01, docs/speed.md; this
host's run-to-run noise at two threads is ~30 %): spinning, the split made the
traditional step 15 % slower in one run; passive, it made v1's 5, 11 and 14 % faster
in three runs, the traditional one between 6 % slower and 5 % faster.

v2's frame loops (a small product and a few element-wise torch operations per frame)
are cut the same way, but a whole loop per range (:class:`FrameLoop`, with torch on
one thread inside each range: :func:`run_one_thread_each`): with sleeping workers,
OpenMP inside each small operation paid a worker's wake-up per operation. Below
:data:`MIN_LOOP_MACS` per range and frame the ranges' Python would mostly wait for
the GIL, and the loop runs on the calling thread alone. Measured with
``bench/bench_threads.py`` (docs/speed.md, "Threads"): the v2 step at 2 x 550, batch
64 went from 0.71x to 0.56x of one thread's time, the demo's 2 x 128, batch 16 from
2.5x to 0.80x. The products of a range choose their library by the whole batch's
size (:func:`.gemm.linear_adder`). A range's product rounds as the whole
batch's does where the library's blocking of rows allows; where not, the results
differ between the split and one range in the last bits (but not between runs).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import Tensor

#: least elements of work per range
MIN_WORK = 1 << 16
#: least multiply-adds of one frame's product per range of a frame loop
MIN_LOOP_MACS = 1 << 22

_pool: ThreadPoolExecutor | None = None
_pool_key: tuple[int, int] | None = None  # (pid, workers)


def workers_sleep() -> bool:
    """Whether OpenMP's idle workers sleep (``OMP_WAIT_POLICY`` is ``PASSIVE``)."""
    return os.environ.get("OMP_WAIT_POLICY", "").strip().upper() == "PASSIVE"


def ranges(n: int, work: int, threads: int | None = None) -> list[tuple[int, int]]:
    """Contiguous ``(lo, hi)`` ranges covering ``range(n)``: as many as ``threads``
    (default: torch's thread count when :func:`workers_sleep`, else 1), but each with at
    least :data:`MIN_WORK` of the ``work`` elements (one range at least).

    >>> ranges(10, 1 << 20, threads=3)
    [(0, 3), (3, 6), (6, 10)]
    >>> ranges(64, 35200, threads=2)
    [(0, 64)]
    >>> ranges(0, 0, threads=2)
    [(0, 0)]
    """
    if threads is None:
        threads = torch.get_num_threads() if workers_sleep() else 1
    k = max(1, min(threads, n, work // MIN_WORK))
    return [(n * i // k, n * (i + 1) // k) for i in range(k)]


@contextlib.contextmanager
def serial() -> Iterator[None]:
    """Within the block every range list and :class:`FrameLoop` has one range: each
    kernel call runs on the calling thread (benchmarks compare the two in one
    process)."""
    global MIN_WORK, MIN_LOOP_MACS
    saved = MIN_WORK, MIN_LOOP_MACS
    MIN_WORK = MIN_LOOP_MACS = 1 << 62
    try:
        yield
    finally:
        MIN_WORK, MIN_LOOP_MACS = saved


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_key
    key = (os.getpid(), workers)
    if _pool is None or _pool_key != key:
        # a pool inherited through fork has no threads in the child: start a new one
        _pool = ThreadPoolExecutor(max_workers=workers,
                                   thread_name_prefix="pks-kernel")
        _pool_key = key
    return _pool


def run(fn: Callable[[int, int], object], parts: list[tuple[int, int]]) -> None:
    """``fn(lo, hi)`` for each range of ``parts`` (from :func:`ranges`), at once; the
    first exception raised by a range is raised here after all have finished."""
    if len(parts) == 1:
        fn(*parts[0])
        return
    pool = _executor(len(parts) - 1)
    futures = [pool.submit(fn, lo, hi) for lo, hi in parts[1:]]
    error = None
    try:
        fn(*parts[0])
    except BaseException as exc:  # wait for the others before raising
        error = exc
    for f in futures:
        exc = f.exception()
        error = error or exc
    if error is not None:
        raise error


class RangeMaxima:
    """One running max of V (a 0-d tensor) per range of :func:`ranges` over the batch,
    each starting from ``v_max``; :meth:`merge` writes the max of the maxima back into
    ``v_max`` (NaN sticking, as in the kernels)."""

    def __init__(self, v_max: Tensor | None, parts: list[tuple[int, int]]) -> None:
        self.v_max = v_max
        self.slots = None
        if v_max is not None and len(parts) > 1:
            self.slots = v_max.reshape(1).repeat(len(parts))
        self.index = {lo: k for k, (lo, _) in enumerate(parts)}

    def __getitem__(self, lo: int) -> Tensor | None:
        return self.v_max if self.slots is None else self.slots[self.index[lo]]

    def merge(self) -> None:
        if self.slots is not None:
            self.v_max.copy_(self.slots.amax().reshape(self.v_max.shape))


def run_one_thread_each(fn: Callable[[int, int], object],
                        parts: list[tuple[int, int]]) -> None:
    """:func:`run`, with torch's own operations inside ``fn`` on one thread in every
    range (also when there is one range); torch's thread count is restored
    afterwards. ``fn`` must not hand work to this module's pool itself (its kernel
    calls take one range, ``rows=``): the pool's threads are busy running ``fn``."""
    threads = torch.get_num_threads()
    grad = torch.is_grad_enabled()  # thread-local, as are OpenMP's and MKL's counts
    torch.set_num_threads(1)

    def alone(lo: int, hi: int) -> None:
        torch.set_num_threads(1)
        with torch.set_grad_enabled(grad):
            fn(lo, hi)

    try:
        run(alone, parts)
    finally:
        torch.set_num_threads(threads)


class FrameLoop:
    """How a loop over frames runs on a batch of sequences, each frame a small matrix
    product (``row_macs`` multiply-adds per sequence) and a few element-wise
    operations (v2's forward and backward, ``fast_train.py``); :meth:`run` calls
    ``fn(lo, hi)`` for the ranges of sequences in :attr:`parts`.

    With one thread, or with OpenMP's workers spinning: one range, OpenMP inside each
    operation. With k sleeping workers, waking one for each small operation costs
    more than the operation (docs/speed.md, "Threads"), so the loop runs on k ranges
    of the batch at once, one thread each, when each range's product has at least
    :data:`MIN_LOOP_MACS` multiply-adds; else on the calling thread alone (the ranges'
    Python would then mostly wait on each other for the GIL)."""

    def __init__(self, batch: int, row_macs: int) -> None:
        threads = torch.get_num_threads()
        self.alone = threads > 1 and workers_sleep()
        k = 1
        if self.alone:
            k = max(1, min(threads, batch, batch * row_macs // MIN_LOOP_MACS))
        self.parts = [(batch * i // k, batch * (i + 1) // k) for i in range(k)]

    def run(self, fn: Callable[[int, int], object]) -> None:
        if self.alone:
            run_one_thread_each(fn, self.parts)
        else:
            fn(*self.parts[0])
