"""Training-step time of the spiking stacks vs torch.nn.GRU / torch.nn.LSTM (same run).

One step = forward + backward of a sum over the outputs of a 2-layer stack (default
2 x 550, input 40, batch 64, 200 frames). Candidates are timed round-robin, so load
from other processes hits all of them alike. Two clocks: the process CPU time of the
step (``time.process_time``: robust to other processes on a shared machine, equal to
wall time for one thread on an idle core) and the wall time; the table reports their
medians and the ratios to GRU and LSTM.

    python bench/bench_fast.py [--repeats 7] [--threads 1] [--reference]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch
from torch import nn

from pytorch_kaldi_snn.nn import FAST_PATHS, MultiBitSpike, SNNStack


class _Reference(nn.Module):
    """The stack run through the reference ``SpikingLayer.run`` (no fast path)."""

    def __init__(self, stack: SNNStack) -> None:
        super().__init__()
        self.stack = stack

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.stack.layers:
            x = layer.run(x)[0]
        return x


def _rnn(cls, inp: int, hidden: int, layers: int) -> Callable:
    net = cls(inp, hidden, layers)
    return lambda x: net(x)[0]


def _models(args) -> dict[str, Callable]:
    sizes = [args.hidden] * args.layers
    models: dict[str, Callable] = {
        "torch.nn.GRU": _rnn(nn.GRU, args.input, args.hidden, args.layers),
        "torch.nn.LSTM": _rnn(nn.LSTM, args.input, args.hidden, args.layers),
    }
    for kind in args.kinds.split(","):
        stack = SNNStack(args.input, sizes, kind,
                         lambda: MultiBitSpike(args.bits, args.k),
                         dropout=[args.dropout] * 2)
        stack.train()
        models[f"SNN {kind} (fast)"] = stack
        if args.reference:
            models[f"SNN {kind} (reference)"] = _Reference(stack)
    return models


def _step(model: Callable, x: torch.Tensor) -> None:
    y = model(x)
    y.sum().backward()


def measure(args) -> dict[str, dict[str, list[float]]]:
    torch.manual_seed(0)
    x = torch.randn(args.frames, args.batch, args.input)
    models = _models(args)
    for model in models.values():  # warm-up (allocator, MKL)
        _step(model, x)
    times = {name: {"cpu": [], "wall": []} for name in models}
    for _ in range(args.repeats):
        for name, model in models.items():
            cpu, wall = time.process_time(), time.perf_counter()
            _step(model, x)
            times[name]["cpu"].append(time.process_time() - cpu)
            times[name]["wall"].append(time.perf_counter() - wall)
    return times


def table(times: dict[str, dict[str, list[float]]]) -> str:
    med = {name: {clock: statistics.median(ts) for clock, ts in d.items()}
           for name, d in times.items()}
    gru, lstm = med["torch.nn.GRU"], med["torch.nn.LSTM"]
    lines = ["| model | CPU s/step | x GRU | x LSTM | wall s/step | x GRU | x LSTM |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, m in med.items():
        lines.append(
            f"| {name} | {m['cpu']:.3f} | {m['cpu'] / gru['cpu']:.2f} | "
            f"{m['cpu'] / lstm['cpu']:.2f} | {m['wall']:.3f} | "
            f"{m['wall'] / gru['wall']:.2f} | {m['wall'] / lstm['wall']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=200, help="T (frames)")
    p.add_argument("--batch", type=int, default=64, help="B (sequences)")
    p.add_argument("--input", type=int, default=40, help="input features F")
    p.add_argument("--hidden", type=int, default=550, help="neurons per layer H")
    p.add_argument("--layers", type=int, default=2, help="stacked layers")
    p.add_argument("--bits", type=int, default=6, help="spike bits N")
    p.add_argument("--k", type=int, default=4, help="threshold multiple k")
    p.add_argument("--dropout", type=float, default=0.0, help="SNN dropout rate")
    p.add_argument("--repeats", type=int, default=7, help="timed steps per model")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--reference", action="store_true",
                   help="also time the reference (unfused) loop")
    p.add_argument("--kinds", default="traditional,v1,v2",
                   help="comma-separated SNN kinds to time")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not FAST_PATHS:
        print("warning: no fast path registered")
    print(f"# T={args.frames} B={args.batch} F={args.input} "
          f"{args.layers}x{args.hidden}, {args.bits} bits, threads={args.threads}, "
          f"torch {torch.__version__}, {args.repeats} repeats")
    print(table(measure(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
