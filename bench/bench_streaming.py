"""Batch-1 frame-by-frame inference: event-driven SNN steps vs torch.nn.GRU steps.

A v2 stack (default 2 x 550, input 40, 6 bits) is "trained" for a few steps on random
data (BN statistics and spike ranges settle), then, for each threshold multiple k (the
knob that sets how many outputs are zero), it streams the same utterance one frame at
a time through

- ``StreamingSNN(sparse=True)`` (event-driven: only weight rows of non-zero inputs),
- ``StreamingSNN(sparse=False)`` (dense, exact),
- ``torch.nn.GRU`` stepped frame by frame at batch 1 (same sizes),

and prints ms/frame (process CPU time, median of repeats), the measured zero-output
fraction, the speed-up over GRU, and the ops counter's prediction of it (GRU mults /
SNN mults per frame, counted by ``pytorch_kaldi_snn.ops.count_ops`` on the same input).

    python bench/bench_streaming.py [--frames 300] [--ks 0,4,8,16,32]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from pytorch_kaldi_snn.nn import MultiBitSpike, SNNStack
from pytorch_kaldi_snn.nn.streaming import StreamingSNN


def _per_frame(fn, frames: int, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append((time.process_time() - start) / frames * 1e3)
    return statistics.median(times)


def _mults_per_frame(model: nn.Module, x: torch.Tensor) -> float | None:
    try:
        from pytorch_kaldi_snn.ops import count_ops
    except ImportError:
        return None
    with count_ops(model) as counter, torch.no_grad():
        model(x)
    recs = counter.records()
    return sum(r.mults for r in recs) / max(recs[0].frames, 1)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=300, help="frames streamed")
    p.add_argument("--input", type=int, default=40, help="input features F")
    p.add_argument("--hidden", type=int, default=550, help="neurons per layer H")
    p.add_argument("--layers", type=int, default=2, help="stacked layers")
    p.add_argument("--bits", type=int, default=6, help="spike bits N")
    p.add_argument("--ks", default="0,4,8,16,32", help="threshold multiples k to sweep")
    p.add_argument("--repeats", type=int, default=5, help="timed passes per model")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    stack = SNNStack(args.input, [args.hidden] * args.layers, "v2",
                     lambda: MultiBitSpike(args.bits, 4))
    stack.train()
    for _ in range(5):
        stack(torch.randn(100, 16, args.input))
    stack.eval()
    gru = nn.GRU(args.input, args.hidden, args.layers).eval()
    x = torch.randn(args.frames, 1, args.input)

    def run_gru():
        h = None
        with torch.no_grad():
            for x_t in x.unbind(0):
                _, h = gru(x_t[None], h)

    def run_stream(stream):
        def go():
            state = None
            for x_t in x.unbind(0):
                _, state = stream.step(x_t, state)
        return go

    gru_ms = _per_frame(run_gru, args.frames, args.repeats)
    gru_mults = _mults_per_frame(gru, x)
    print(f"# v2 {args.layers}x{args.hidden}, input {args.input}, {args.bits} bits, "
          f"batch 1, {args.frames} frames, threads={args.threads}, "
          f"torch {torch.__version__}; GRU step {gru_ms:.3f} ms/frame")
    print("| k | zero outputs | sparse ms/frame | dense ms/frame | speed-up vs GRU "
          "| ops prediction (GRU mults / SNN mults) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for k in [int(v) for v in args.ks.split(",")]:
        for layer in stack.layers:
            layer.spike.k = k
        with torch.no_grad():
            h = x
            zeros = total = 0
            for layer in stack.layers:
                h = layer(h)
                zeros += int((h == 0).sum())
                total += h.numel()
        sparse_ms = _per_frame(run_stream(StreamingSNN(stack, sparse=True)),
                               args.frames, args.repeats)
        dense_ms = _per_frame(run_stream(StreamingSNN(stack)), args.frames,
                              args.repeats)
        snn_mults = _mults_per_frame(stack, x)
        pred = (f"{gru_mults / snn_mults:.2f}" if gru_mults and snn_mults else "n/a")
        print(f"| {k} | {zeros / total:.1%} | {sparse_ms:.3f} | {dense_ms:.3f} | "
              f"{gru_ms / sparse_ms:.2f} | {pred} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
