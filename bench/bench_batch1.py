"""Batch-1 inference, offline and streaming: the SNN's C paths vs the best torch GRUs.

Two settings, each timed in one process, round-robin (load from other processes hits
all candidates alike), process CPU time per frame, median of the repeats:

- ``trained``: the trained SNN of a finished run (``--cfg``, e.g. a demo run's
  ``exp.cfg``; ``final_<section>.pkl``) on the first test utterances of its forward
  dataset (real features through the run's pipeline), at its own threshold k;
- ``random``: a v2 stack (default 2 x 550, input 40, 6 bits, k = 4) after 5 training
  steps on random data, random input.

The GRUs have the SNN's input size, width and depth. Table (a), a whole utterance
offline at batch 1: ``torch.nn.GRU`` over ``x [T, 1, F]`` (the input projections are
one GEMM over T) vs ``StreamingSNN(sparse=True)(x)`` (``nn/batch1.py``: one GEMM for
the first layer's input, then one C call per layer over all T frames); the SNN's
ordinary eval forward ``stack(x)`` is shown too. Table (b), frame by frame: a stack of
``torch.nn.GRUCell`` stepped per frame, ``nn.GRU`` stepped per frame, vs the SNN's
stateful stream ``StreamingSNN(sparse=True).open().push(x_t)`` (one C call per frame)
and its functional ``step(x_t, state)``. "ops prediction" is GRU multiplications / SNN
multiplications per frame from ``pytorch_kaldi_snn.ops.count_ops`` on the same input
(event-driven: the SNN pays for non-zero events only).

    python bench/bench_batch1.py --cfg /work/runs/demo_clean/v2_seed1/exp.cfg
    python bench/bench_batch1.py            # the random setting only
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from bench_streaming import _mults_per_frame, trained_model
from timing import round_robin
from torch import nn

from pytorch_kaldi_snn.nn import MultiBitSpike, SNNStack, cstep
from pytorch_kaldi_snn.nn.streaming import StreamingSNN


def random_model(inputs: int, hidden: int, layers: int, bits: int, k: int,
                 frames: int) -> tuple[SNNStack, torch.Tensor, str]:
    torch.manual_seed(0)
    stack = SNNStack(inputs, [hidden] * layers, "v2", lambda: MultiBitSpike(bits, k))
    stack.train()
    for _ in range(5):
        stack(torch.randn(100, 16, inputs))
    stack.eval()
    return stack, torch.randn(frames, 1, inputs), "v2 after 5 steps on random data"


def candidates(stack: SNNStack, x: torch.Tensor) -> dict[str, object]:
    """name -> callable running the whole of ``x [T, 1, F]`` once."""
    f, h, n_layers = x.shape[2], stack.layers[0].hidden_size, len(stack.layers)
    torch.manual_seed(1)
    gru = nn.GRU(f, h, n_layers).eval()
    cells = [nn.GRUCell(f if n == 0 else h, h).eval() for n in range(n_layers)]
    stream = StreamingSNN(stack, sparse=True)
    frames = x.unbind(0)

    def gru_whole():
        with torch.no_grad():
            gru(x)

    def snn_offline():
        stream(x)

    def snn_eval():
        with torch.no_grad():
            stack(x)

    def gru_cells():
        hs = [x.new_zeros(1, h) for _ in cells]
        with torch.no_grad():
            for x_t in frames:
                inp = x_t
                for n, cell in enumerate(cells):
                    hs[n] = inp = cell(inp, hs[n])

    def gru_stepped():
        state = None
        with torch.no_grad():
            for x_t in frames:
                _, state = gru(x_t[None], state)

    def snn_push():
        s = stream.open()
        for x_t in frames:
            s.push(x_t)

    def snn_step():
        state = None
        for x_t in frames:
            _, state = stream.step(x_t, state)

    return {"gru_whole": gru_whole, "snn_offline": snn_offline, "snn_eval": snn_eval,
            "gru_cells": gru_cells, "gru_stepped": gru_stepped, "snn_push": snn_push,
            "snn_step": snn_step, "_gru": gru}


def measure(name: str, stack: SNNStack, x: torch.Tensor, repeats: int) -> dict:
    fns = candidates(stack, x)
    gru = fns.pop("_gru")
    with torch.no_grad():
        h, zeros, total = x, 0, 0
        for layer in stack.layers:
            h = layer(h)
            zeros += int((h == 0).sum())
            total += h.numel()
    seconds = round_robin(fns, repeats, clock=time.process_time)
    ms = {key: t / x.shape[0] * 1e3 for key, t in seconds.items()}
    g, s = _mults_per_frame(gru, x), _mults_per_frame(stack, x)
    return {"name": name, "zeros": zeros / total, "ms": ms,
            "pred": g / s if g and s else float("nan")}


def load() -> str:
    try:
        return open("/proc/loadavg").read().split()[0]
    except OSError:
        return "n/a"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cfg", help="a finished run's cfg: also time its trained SNN on "
                   "its test features")
    p.add_argument("--cfg-frames", type=int, default=1000,
                   help="frames of the run's test set (trained setting)")
    p.add_argument("--frames", type=int, default=300, help="frames (random setting)")
    p.add_argument("--input", type=int, default=40, help="input features F (random)")
    p.add_argument("--hidden", type=int, default=550, help="neurons per layer (random)")
    p.add_argument("--layers", type=int, default=2, help="stacked layers (random)")
    p.add_argument("--bits", type=int, default=6, help="spike bits N (random)")
    p.add_argument("--k", type=int, default=4, help="threshold multiple k (random)")
    p.add_argument("--repeats", type=int, default=7, help="timed passes per candidate")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = []
    if args.cfg:
        stack, x, data = trained_model(args.cfg, args.cfg_frames)
        settings.append((f"trained {stack.layers[0].kind} {len(stack.layers)}x"
                         f"{stack.layers[0].hidden_size}, input {stack.input_size}, "
                         f"k={stack.layers[0].spike.k}, {data}", stack, x))
    stack, x, what = random_model(args.input, args.hidden, args.layers, args.bits,
                                  args.k, args.frames)
    settings.append((f"{what} {args.layers}x{args.hidden}, input {args.input}, "
                     f"k={args.k}, {args.frames} random frames", stack, x))
    native = "C kernels" if cstep.library() is not None else "no C compiler (torch)"
    load_before = load()
    rows = [measure(name, stack, x, args.repeats) for name, stack, x in settings]
    print(f"# batch 1, threads={args.threads}, torch {torch.__version__}, {native}, "
          f"ms/frame = process CPU time, median of {args.repeats} round-robin runs; "
          f"load average {load_before} before, {load()} after; "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    for r in rows:
        print(f"# {r['name']}: {r['zeros']:.1%} zero outputs")
    print("\n(a) a whole utterance offline\n")
    print("| setting | nn.GRU whole ms/frame | SNN offline ms/frame | SNN eval "
          "forward ms/frame | speed-up offline vs nn.GRU | ops prediction |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        ms = r["ms"]
        print(f"| {r['name'].split(',')[0]} | {ms['gru_whole']:.4f} | "
              f"{ms['snn_offline']:.4f} | {ms['snn_eval']:.4f} | "
              f"{ms['gru_whole'] / ms['snn_offline']:.2f} | {r['pred']:.2f} |")
    print("\n(b) frame by frame (streaming)\n")
    print("| setting | GRUCell stack ms/frame | nn.GRU stepped ms/frame | SNN push "
          "ms/frame | SNN step() ms/frame | push vs GRUCell | push vs nn.GRU "
          "stepped | ops prediction |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        ms = r["ms"]
        print(f"| {r['name'].split(',')[0]} | {ms['gru_cells']:.4f} | "
              f"{ms['gru_stepped']:.4f} | {ms['snn_push']:.4f} | "
              f"{ms['snn_step']:.4f} | {ms['gru_cells'] / ms['snn_push']:.2f} | "
              f"{ms['gru_stepped'] / ms['snn_push']:.2f} | {r['pred']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
