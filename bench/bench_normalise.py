"""The runner's chunk normalisation against the stacked formula it reproduces.

``runner.data.normalise_chunk`` normalises each feature of a chunk by its mean and
standard deviation over all frames, bit for bit as one float64 copy of the whole
chunk with numpy's ``mean(axis=0)`` / ``std(axis=0)`` would (upstream PyTorch-Kaldi's
way), but summing the rows utterance by utterance. This times both on a random chunk
of the demo's size (300k frames x 480 features by default), ``--repeats`` times each
in one process (the first call pays the page faults of its fresh buffers, as each
epoch of the runner does; later ones may reuse freed memory), checks that they give
the same bits, and prints the first and the best time with their ratios.

    python bench/bench_normalise.py [--frames 300000] [--dim 480] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from pytorch_kaldi_snn.runner.data import normalise_chunk


def stacked(table: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One float64 copy of all frames, numpy's mean and std over it."""
    frames = np.concatenate(list(table.values()), axis=0).astype(np.float64)
    mean = frames.mean(axis=0)
    std = np.maximum(frames.std(axis=0), 1.0e-8)
    return {u: ((x - mean) / std).astype(np.float32) for u, x in table.items()}


def _times(fn, table, repeats: int) -> tuple[list[float], dict[str, np.ndarray]]:
    times, out = [], {}
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(table)
        times.append(time.perf_counter() - t0)
    return times, out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=300_000, help="frames in the chunk")
    p.add_argument("--dim", type=int, default=480, help="features per frame")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    table, left = {}, args.frames
    while left > 0:  # utterances of 100-700 frames, as the demo's
        n = min(left, int(rng.integers(100, 700)))
        table[f"utt{len(table)}"] = (3 * rng.standard_normal((n, args.dim)) + 1
                                     ).astype(np.float32)
        left -= n
    print(f"# chunk: {len(table)} utterances, {args.frames} frames x {args.dim}, "
          f"{args.repeats} calls each, load average {os.getloadavg()[0]:.1f}")
    t_old, old = _times(stacked, table, args.repeats)
    t_new, new = _times(normalise_chunk, table, args.repeats)
    same = all(np.array_equal(old[u], new[u]) for u in table)
    print("| method | first s | / stacked | best s | / stacked |")
    print("|---|---:|---:|---:|---:|")
    print(f"| stacked float64 copy (upstream) | {t_old[0]:.3f} | 1.00 | "
          f"{min(t_old):.3f} | 1.00 |")
    print(f"| normalise_chunk | {t_new[0]:.3f} | {t_new[0] / t_old[0]:.2f} | "
          f"{min(t_new):.3f} | {min(t_new) / min(t_old):.2f} |")
    print(f"# bit-identical: {same}; load average after {os.getloadavg()[0]:.1f}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
