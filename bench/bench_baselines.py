"""Forward+backward time of PyTorch-Kaldi's LSTM/GRU classes (``pytorch_kaldi/
baselines.py``, the demo's baselines) divided by torch.nn.LSTM / torch.nn.GRU's.

Each candidate sees the same input ``[T, B, F]`` in training mode (dropout and batch
norm active, as the demo's cfgs set them); one step is ``net(x)`` then
``.sum().backward()``; the candidates are timed round-robin after a warm-up each
(``timing.round_robin``, process CPU time, so load from other processes hits them
alike). ``hand`` is the class as it trains (``recurrence.py``: recording-free forward,
hand-written backward); ``autograd`` the same class with ``hand_backward = False`` (the
autograd loop over the cell, the reference). torch's fused classes have no recurrent
dropout or batch norm; they are the dense speed a user would compare against.

    python bench/bench_baselines.py [--frames 400] [--batch 16] [--hidden 128]
        [--input 480] [--repeats 5] [--threads 1]

Defaults: the demo's model (2 x 128 on fbank 40 + deltas with 3 frames of look-ahead,
480 inputs; batch 16; 400 frames, the longest training sequences of the curriculum).
"""

from __future__ import annotations

import argparse
import configparser
import time

import torch
from timing import round_robin
from torch import nn

from pytorch_kaldi_snn.pytorch_kaldi.baselines import GRU, LSTM


def section(prefix: str, hidden: int) -> configparser.SectionProxy:
    """The demo cfgs' ``[architecture1]`` options for one stack."""
    cp = configparser.ConfigParser()
    cp.read_dict({"a": {
        f"{prefix}_lay": f"{hidden},{hidden}", f"{prefix}_drop": "0.1,0.1",
        f"{prefix}_use_laynorm_inp": "False", f"{prefix}_use_batchnorm_inp": "False",
        f"{prefix}_use_laynorm": "False,False", f"{prefix}_use_batchnorm": "True,True",
        f"{prefix}_bidir": "False", f"{prefix}_act": "tanh,tanh",
        f"{prefix}_orthinit": "True",
    }})
    return cp["a"]


def build(args: argparse.Namespace) -> dict[str, nn.Module]:
    nets: dict[str, nn.Module] = {}
    for name, cls, prefix, fused in (("LSTM", LSTM, "lstm", nn.LSTM),
                                     ("GRU", GRU, "gru", nn.GRU)):
        nets[f"torch.nn.{name}"] = fused(args.input, args.hidden, num_layers=2)
        for mode in ("hand", "autograd"):
            net = cls(section(prefix, args.hidden), args.input)
            net.hand_backward = mode == "hand"
            nets[f"{name} ({mode})"] = net
    return nets


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=400)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--input", type=int, default=480)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    x = torch.randn(args.frames, args.batch, args.input)
    nets = build(args)

    def step(net: nn.Module):
        def run() -> None:
            out = net(x)
            (out[0] if isinstance(out, tuple) else out).sum().backward()
        return run

    times = round_robin({k: step(v) for k, v in nets.items()}, args.repeats,
                        clock=time.process_time)
    load = open("/proc/loadavg").read().split()[0]
    print(f"# {args.frames} frames x batch {args.batch}, 2 x {args.hidden}, input "
          f"{args.input}, {args.threads} thread(s), median of {args.repeats}, CPU "
          f"seconds, load {load}")
    print("| model | CPU s | / torch.nn.GRU | / torch.nn.LSTM |")
    print("|---|---:|---:|---:|")
    gru, lstm = times["torch.nn.GRU"], times["torch.nn.LSTM"]
    for name, t in times.items():
        print(f"| {name} | {t:.3f} | {t / gru:.2f} | {t / lstm:.2f} |")
    for name in ("LSTM", "GRU"):
        print(f"# {name}: hand-written backward "
              f"{times[f'{name} (autograd)'] / times[f'{name} (hand)']:.2f}x faster "
              "than the autograd loop")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
