"""Round-robin timing shared by the bench scripts (imported as a sibling module)."""

from __future__ import annotations

import statistics
import time
from typing import Callable


def round_robin(fns: dict[str, Callable[[], object]], repeats: int,
                clock: Callable[[], float] = time.perf_counter) -> dict[str, float]:
    """Median seconds per name of ``repeats`` calls, the candidates interleaved (so load
    from other processes hits them alike), after one warm-up call each."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = clock()
            fn()
            times[name].append(clock() - start)
    return {name: statistics.median(v) for name, v in times.items()}
