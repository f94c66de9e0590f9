"""Batch-1 frame-by-frame inference: event-driven SNN steps vs torch.nn.GRU steps.

A v2 stack (default 2 x 550, input 40, 6 bits) is "trained" for a few steps on random
data (BN statistics and spike ranges settle), then, for each threshold multiple k (the
knob that sets how many outputs are zero), it streams the same utterance one frame at
a time through

- ``StreamingSNN(sparse=True)``: event-driven, only the weight rows of non-zero inputs
  are read; at batch 1 ``step()`` is one call into ``nn/_seq1.c`` per frame for the
  whole stack (``bench/bench_batch1.py`` also times the stateful ``open().push``);
- ``StreamingSNN(sparse=True, native=False)``: the same step as eager tensor ops;
- ``StreamingSNN(sparse=False)``: dense and exact (the reference step functions);
- ``torch.nn.GRU`` stepped frame by frame at batch 1 (same sizes).

The four are timed round-robin for each k (so load from other processes hits them
alike), as process CPU time per frame, median of the repeats. Printed: the measured
zero-output fraction, ms/frame, the speed-up of the event-driven step over GRU, and the
ops counter's prediction of it (GRU mults / SNN mults per frame, counted by
``pytorch_kaldi_snn.ops.count_ops`` on the same input).

    python bench/bench_streaming.py [--frames 300] [--ks 0,4,8,16,32] [--repeats 5]
    python bench/bench_streaming.py --cfg exp/demo/v2_seed1/exp.cfg

With ``--cfg`` (a finished run's cfg, e.g. from ``recipes/demo/run.sh``) the trained
SNN of that run (``final_<section>.pkl``) streams the first test utterances of its
forward dataset (real features, through the run's feature pipeline and
normalisation) at its own threshold k, against a GRU of the same sizes.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from timing import round_robin
from torch import nn

from pytorch_kaldi_snn.nn import MultiBitSpike, SNNStack, cstep
from pytorch_kaldi_snn.nn.streaming import StreamingSNN


def _mults_per_frame(model: nn.Module, x: torch.Tensor) -> float | None:
    try:
        from pytorch_kaldi_snn.ops import count_ops
    except ImportError:
        return None
    with count_ops(model) as counter, torch.no_grad():
        model(x)
    recs = counter.records()
    return sum(r.mults for r in recs) / max(recs[0].frames, 1)


def trained_model(cfg_path: str, frames: int) -> tuple[nn.Module, torch.Tensor, str]:
    """(trained SNN stack, [T, 1, F] features of the first test utterances, name)."""
    from pytorch_kaldi_snn.export import model_from_cfg
    from pytorch_kaldi_snn.nn.streaming import _stack_of
    from pytorch_kaldi_snn.runner.config import load_config
    from pytorch_kaldi_snn.runner.data import dataset_utterances, load_chunk
    from pytorch_kaldi_snn.runner.plan import plan_from_config

    snn, _head = model_from_cfg(cfg_path)
    stack = _stack_of(snn).eval()
    plan = plan_from_config(load_config(cfg_path))
    spec = plan.datasets[plan.forward_with[0]]
    utts = dataset_utterances(spec)[:50]
    chunk = load_chunk(spec, utts, with_labels=False)
    feats = next(iter(chunk.features.values()))
    x = torch.from_numpy(np.concatenate([feats[u] for u in chunk.utts]))[:frames]
    return stack, x.float()[:, None, :], f"{spec.name} ({len(x)} frames)"


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
    p.add_argument("--cfg", help="a finished run's cfg: stream its trained SNN on its "
                   "test features (--ks default: the model's own k)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.cfg:
        stack, x, data = trained_model(args.cfg, args.frames)
        args.frames = x.shape[0]
        args.input, args.layers = stack.input_size, len(stack.layers)
        args.hidden = stack.layers[0].hidden_size
        args.bits = stack.layers[0].spike.n_bits
        kind = stack.layers[0].kind
        if args.ks == p.get_default("ks"):
            args.ks = str(stack.layers[0].spike.k)
        source = f"trained {kind} from {args.cfg} on {data}"
    else:
        stack = SNNStack(args.input, [args.hidden] * args.layers, "v2",
                         lambda: MultiBitSpike(args.bits, 4))
        stack.train()
        for _ in range(5):
            stack(torch.randn(100, 16, args.input))
        stack.eval()
        x = torch.randn(args.frames, 1, args.input)
        source = "v2 after 5 steps on random data, random input"
    gru = nn.GRU(args.input, args.hidden, args.layers).eval()

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

    gru_mults = _mults_per_frame(gru, x)
    native = "C step" if cstep.library() is not None else "no C compiler: torch step"
    print(f"# {source}: {args.layers}x{args.hidden}, input {args.input}, "
          f"{args.bits} bits, batch 1, {args.frames} frames, threads={args.threads}, "
          f"torch {torch.__version__}, {native}; ms/frame = process CPU time, "
          f"median of {args.repeats} round-robin runs")
    print("| k | zero outputs | GRU ms/frame | sparse ms/frame | sparse (torch ops) "
          "ms/frame | dense ms/frame | speed-up vs GRU | ops prediction "
          "(GRU mults / SNN mults) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
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
        seconds = round_robin({
            "gru": run_gru,
            "sparse": run_stream(StreamingSNN(stack, sparse=True)),
            "torch": run_stream(StreamingSNN(stack, sparse=True, native=False)),
            "dense": run_stream(StreamingSNN(stack)),
        }, args.repeats, clock=time.process_time)
        ms = {name: t / args.frames * 1e3 for name, t in seconds.items()}
        snn_mults = _mults_per_frame(stack, x)
        pred = (f"{gru_mults / snn_mults:.2f}" if gru_mults and snn_mults else "n/a")
        print(f"| {k} | {zeros / total:.1%} | {ms['gru']:.3f} | {ms['sparse']:.3f} | "
              f"{ms['torch']:.3f} | {ms['dense']:.3f} | "
              f"{ms['gru'] / ms['sparse']:.2f} | {pred} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
