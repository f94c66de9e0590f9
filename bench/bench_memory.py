"""Peak training memory of one step (forward + backward), SNN stacks vs torch.nn.GRU.

Each model runs in its own fresh subprocess: after building the model and the input,
the resident set size is read (``/proc/self/statm``); after one training step the
process's peak (``resource.getrusage(...).ru_maxrss``) is read. The table reports the
peak increase (MiB), i.e. what the step itself needed, and its ratio to GRU's. Default:
2 x 550, input 40, batch 64, 1,000 frames.

    python bench/bench_memory.py [--frames 1000] [--models gru,lstm,v2,v2-reference]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys

MODELS = ("gru", "lstm", "traditional", "v1", "v2", "v2-reference")


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def worker(args) -> None:
    import torch
    from torch import nn

    from pytorch_kaldi_snn.nn import MultiBitSpike, SNNStack

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(args.frames, args.batch, args.input)
    name = args.worker
    if name in ("gru", "lstm"):
        cls = nn.GRU if name == "gru" else nn.LSTM
        net = cls(args.input, args.hidden, args.layers)

        def model(inp):
            return net(inp)[0]
    else:
        kind = name.split("-")[0]
        stack = SNNStack(args.input, [args.hidden] * args.layers, kind,
                         lambda: MultiBitSpike(6, 4)).train()
        if name.endswith("-reference"):
            def model(inp):
                for layer in stack.layers:
                    inp = layer.run(inp)[0]
                return inp
        else:
            model = stack
    base = _rss_mib()
    model(x).sum().backward()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"model": name, "base_mib": base, "peak_mib": peak}))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=1000, help="T (frames)")
    p.add_argument("--batch", type=int, default=64, help="B (sequences)")
    p.add_argument("--input", type=int, default=40, help="input features F")
    p.add_argument("--hidden", type=int, default=550, help="neurons per layer H")
    p.add_argument("--layers", type=int, default=2, help="stacked layers")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--models", default=",".join(MODELS),
                   help=f"comma-separated subset of {', '.join(MODELS)}")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    rows = []
    for name in args.models.split(","):
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", name,
               "--frames", str(args.frames), "--batch", str(args.batch),
               "--input", str(args.input), "--hidden", str(args.hidden),
               "--layers", str(args.layers), "--threads", str(args.threads)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    step = {r["model"]: r["peak_mib"] - r["base_mib"] for r in rows}
    gru = step.get("gru")
    print(f"# T={args.frames} B={args.batch} F={args.input} "
          f"{args.layers}x{args.hidden}, one training step, fresh process per model")
    print("| model | peak RSS MiB | step peak increase MiB | x GRU |")
    print("|---|---:|---:|---:|")
    for r in rows:
        ratio = f"{step[r['model']] / gru:.2f}" if gru else "n/a"
        print(f"| {r['model']} | {r['peak_mib']:.0f} | "
              f"{step[r['model']]:.0f} | {ratio} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
