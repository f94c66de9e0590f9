"""Forward+backward time of 2 x 550 spiking stacks divided by torch.nn.GRU / LSTM's.

Every candidate sees the same input ``[T, B, F]`` (default 200 frames, batch 64, 40
features) in training mode; one step is ``net(x)`` followed by ``.sum().backward()``.
After a warm-up step per model the candidates are timed round-robin (so load from other
processes hits them alike) and the table gives the medians of the process CPU time
(robust on a shared machine; on CUDA the wall time, synchronised, is what counts) and of
the wall time, each divided by the GRU's and the LSTM's from the same run.

    python bench/bench_layers.py [--frames 200] [--batch 64] [--hidden 550]
        [--repeats 5] [--threads 1] [--paths default,reference] [--device cpu]

``default`` is ``SpikingLayer.forward`` (a registered fast path when one accepts the
input, else the reference loop; its frame loops in C when ``nn/_fused.c`` is built);
``torch-loop`` the same fast path with its torch frame loops; ``aten-gemm`` /
``onednn-gemm`` the fast path with every product on ``torch.mm`` / on oneDNN whatever
its size (``nn/gemm.py``'s rule picks by size); ``reference`` always runs
``SpikingLayer.run``, the readable equation-by-equation loop. The demo's model size:
``--hidden 128 --batch 16 --frames 400 --input 39``. Targets (issue 5): v2 <= 0.6x GRU,
traditional and v1 <= 0.4x, on the CPU.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch
from torch import Tensor, nn

from pytorch_kaldi_snn.nn import MultiBitSpike, SNNStack, cstep, gemm


def _reference_forward(stack: SNNStack) -> Callable[[Tensor], Tensor]:
    def run(x: Tensor) -> Tensor:
        for layer in stack.layers:
            x = layer.run(x)[0]
        return x

    return run


def _torch_loop(stack: SNNStack) -> Callable[[Tensor], Tensor]:
    def run(x: Tensor) -> Tensor:
        with cstep.disabled():
            return stack(x)

    return run


def _gemm_rule(choice: str) -> Callable[[SNNStack], Callable[[Tensor], Tensor]]:
    def wrap(stack: SNNStack) -> Callable[[Tensor], Tensor]:
        def run(x: Tensor) -> Tensor:
            with gemm.forced(choice):
                return stack(x)

        return run

    return wrap


PATHS: dict[str, Callable[[SNNStack], Callable[[Tensor], Tensor]]] = {
    "default": lambda stack: stack,
    "torch-loop": _torch_loop,
    "aten-gemm": _gemm_rule("aten"),
    "onednn-gemm": _gemm_rule("onednn"),
    "reference": _reference_forward,
}


def build(args: argparse.Namespace, device: torch.device) -> dict[str, Callable]:
    """Name -> callable ``x -> y`` for the baselines and each (kind, path) stack."""
    gru = nn.GRU(args.input, args.hidden, args.layers).to(device)
    lstm = nn.LSTM(args.input, args.hidden, args.layers).to(device)
    models: dict[str, Callable] = {
        "torch.nn.GRU": lambda x: gru(x)[0],
        "torch.nn.LSTM": lambda x: lstm(x)[0],
    }
    bits = None if args.bits == 0 else args.bits
    for kind in args.kinds.split(","):
        stack = (
            SNNStack(
                args.input,
                [args.hidden] * args.layers,
                kind,
                lambda: MultiBitSpike(bits, args.k if bits else 0),
                dropout=[args.dropout] * args.layers,
            )
            .to(device)
            .train()
        )
        for path in args.paths.split(","):
            if path not in PATHS:
                raise SystemExit(f"--paths: unknown {path!r}; allowed: "
                                 f"{', '.join(PATHS)}")
            models[f"SNN {kind} ({path})"] = PATHS[path](stack)
    return models


def _step(fn: Callable, x: Tensor, device: torch.device) -> None:
    fn(x).sum().backward()
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    """Per model the CPU and wall seconds of ``args.repeats`` training steps."""
    device = torch.device(args.device)
    torch.manual_seed(0)
    models = build(args, device)
    x = torch.randn(args.frames, args.batch, args.input, device=device)
    for fn in models.values():
        _step(fn, x, device)
    times = {name: {"cpu": [], "wall": []} for name in models}
    for _ in range(args.repeats):
        for name, fn in models.items():
            c0, w0 = time.process_time(), time.perf_counter()
            _step(fn, x, device)
            times[name]["cpu"].append(time.process_time() - c0)
            times[name]["wall"].append(time.perf_counter() - w0)
    return times


def table(times: dict[str, dict[str, list[float]]]) -> str:
    """Markdown table of medians and their ratios to GRU and LSTM."""
    med = {n: {c: statistics.median(v) for c, v in d.items()} for n, d in times.items()}
    g, m = med["torch.nn.GRU"], med["torch.nn.LSTM"]
    rows = [
        "| model | CPU s | / GRU | / LSTM | wall s | / GRU | / LSTM |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, t in med.items():
        rows.append(
            f"| {name} | {t['cpu']:.3f} | {t['cpu'] / g['cpu']:.2f} | "
            f"{t['cpu'] / m['cpu']:.2f} | {t['wall']:.3f} | "
            f"{t['wall'] / g['wall']:.2f} | {t['wall'] / m['wall']:.2f} |"
        )
    return "\n".join(rows)


def _gemm_name() -> str:
    return "oneDNN" if gemm.use_onednn(torch.zeros(1)) else "torch.mm"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=200)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--input", type=int, default=40)
    p.add_argument("--hidden", type=int, default=550)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--bits", type=int, default=6, help="spike bits, 0 = full precision")
    p.add_argument("--k", type=int, default=4, help="threshold multiple k")
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--kinds", default="v2,v1,traditional")
    p.add_argument(
        "--paths",
        default="default,reference",
        help="comma list of " + ", ".join(PATHS) + " (see the module doc)",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--profile", action="store_true",
                   help="also print torch.profiler's table for one step of the first "
                   "SNN model")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(
        f"# T={args.frames} B={args.batch} F={args.input} {args.layers}x{args.hidden} "
        f"bits={args.bits or 'full'} k={args.k} dropout={args.dropout} "
        f"device={args.device} threads={args.threads} torch {torch.__version__}, "
        f"fused-path GEMMs: {_gemm_name()}, median of {args.repeats}"
    )
    print(table(measure(args)))
    if args.profile:
        profile_step(args)
    return 0


def profile_step(args: argparse.Namespace) -> None:
    """torch.profiler of one step of the first SNN model: where its time goes."""
    from torch.profiler import ProfilerActivity, profile

    device = torch.device(args.device)
    torch.manual_seed(0)
    name, fn = next((n, f) for n, f in build(args, device).items()
                    if n.startswith("SNN"))
    x = torch.randn(args.frames, args.batch, args.input, device=device)
    _step(fn, x, device)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        _step(fn, x, device)
    print(f"\n# profile of one step of {name}")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


if __name__ == "__main__":
    raise SystemExit(main())
