"""Forward+backward time of 2 x 550 spiking stacks divided by torch.nn.GRU / LSTM's.

Every candidate sees the same input ``[T, B, F]`` (default 200 frames, batch 64, 40
features) in training mode; one step is ``net(x)`` followed by ``.sum().backward()``.
After a warm-up step per model the candidates are timed round-robin (so load from other
processes hits them alike) and the table gives the medians of the process CPU time
(robust on a shared machine; on CUDA the wall time, synchronised, is what counts) and of
the wall time, each divided by the GRU's and the LSTM's from the same run.

Beside the ratios: each model's matrix-product FLOPs per step (``bench/flops.py``:
input, recurrent and their gradient GEMMs, forward + backward), the GEMM rate of
``torch.mm`` on ``--mm-size``^3 timed in the same round-robin (so under the same load),
the floor = FLOPs / rate, and the share of the floor reached (floor / step time), on
the CPU clock and on the wall clock. ``--threads 1,2`` runs the table once per thread
count.

    python bench/bench_layers.py [--frames 200] [--batch 64] [--hidden 550]
        [--repeats 5] [--threads 1,2] [--paths default,reference] [--device cpu]
        [--mm-size 2048] [--kinds v2,v1,traditional] [--baselines gru,lstm|none]

``default`` is ``SpikingLayer.forward`` (a registered fast path when one accepts the
input, else the reference loop; its frame loops in C when ``nn/_fused.c`` is built,
split over the threads by ``nn/parallel.py``); ``serial-c`` the same with every C call
on one thread; ``torch-loop`` the same fast path with its torch frame loops;
``aten-gemm`` / ``onednn-gemm`` the fast path with every product on ``torch.mm`` / on
oneDNN whatever its size (``nn/gemm.py``'s rule picks by size); ``reference`` always
runs ``SpikingLayer.run``, the readable equation-by-equation loop; ``products`` only
the step's matrix products, as the fused path runs them (its "% floor" is the most the
model could reach here, and the time above it is the element-wise work). The demo's
model size: ``--hidden 128 --batch 16 --frames 400 --input 39``. Targets (issue 5):
v2 <= 0.6x GRU, traditional and v1 <= 0.4x, on the CPU; issue 13: each SNN >= 85% of
the floor on one thread and >= 75% on two (wall clock, so on an otherwise idle
machine).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
from typing import Callable

import torch
from flops import mm_flops, step_flops, step_products
from torch import Tensor, nn

from pytorch_kaldi_snn.nn import MultiBitSpike, SNNStack, cstep, fast_c, gemm, parallel


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


class _Serial:
    """The stack with every C kernel call on one thread, forward and backward
    (``_step`` enters ``context`` around both)."""

    context = staticmethod(parallel.serial)

    def __init__(self, stack: SNNStack) -> None:
        self.stack = stack

    def __call__(self, x: Tensor) -> Tensor:
        return self.stack(x)


class _Products:
    """Only the step's matrix products (``flops.step_products``: the shapes the FLOP
    count counts, each run as the fused path runs it through ``nn/gemm.py``), no
    element-wise work: the time the element-wise work adds to is this row's."""

    def __init__(self, stack: SNNStack) -> None:
        first = stack.layers[0]
        self.kind = first.kind
        self.inp, self.hidden = first.input_size, first.hidden_size
        self.layers = len(stack.layers)
        self.calls: list[Callable[[], object]] | None = None

    def _build(self, x: Tensor) -> list[Callable[[], object]]:
        t_len, batch, _ = x.shape
        calls = []
        for form, m, k, n, count in step_products(self.kind, t_len, batch, self.inp,
                                                  self.hidden, self.layers):
            if form == "wg":  # weight [M, N] = G[K, M]^T X[K, N]
                g, a = x.new_ones(k, m), x.new_ones(k, n)
                fns = [lambda g=g, a=a: gemm.weight_grad(g, a)]
            else:
                a, w = x.new_ones(m, k), x.new_ones(n, k)
                if form == "rec":
                    pre = x.new_ones(m, n)
                    fns = [lambda a=a, w=w, pre=pre: gemm.linear_add(a, w, pre)]
                elif form == "gw":  # G W with W [K, N] stored [N, K]
                    wt = x.new_ones(k, n)
                    fns = [lambda a=a, wt=wt: gemm.linear(a, wt.t())]
                else:  # xw, recg: A W^T
                    fns = [lambda a=a, w=w: gemm.linear(a, w)]
            calls += fns * count
        return calls

    def __call__(self, x: Tensor) -> Tensor:
        if self.calls is None:
            self.calls = self._build(x)
        with torch.no_grad():
            for call in self.calls:
                call()
        return x.new_zeros((), requires_grad=True)  # .sum().backward(): nothing


def _gemm_rule(choice: str) -> Callable[[SNNStack], Callable[[Tensor], Tensor]]:
    def wrap(stack: SNNStack) -> Callable[[Tensor], Tensor]:
        def run(x: Tensor) -> Tensor:
            with gemm.forced(choice):
                return stack(x)

        return run

    return wrap


BASELINES = {"gru": nn.GRU, "lstm": nn.LSTM}

PATHS: dict[str, Callable[[SNNStack], Callable[[Tensor], Tensor]]] = {
    "default": lambda stack: stack,
    "torch-loop": _torch_loop,
    "serial-c": _Serial,
    "aten-gemm": _gemm_rule("aten"),
    "onednn-gemm": _gemm_rule("onednn"),
    "reference": _reference_forward,
    "products": _Products,
}


def build(args: argparse.Namespace, device: torch.device) -> dict[str, Callable]:
    """Name -> callable ``x -> y`` for the baselines and each (kind, path) stack."""
    models: dict[str, Callable] = {}
    for name in filter(None, args.baselines.replace("none", "").split(",")):
        if name not in BASELINES:
            raise SystemExit(f"--baselines: unknown {name!r}; allowed: "
                             f"{', '.join(BASELINES)} or none")
        rnn = BASELINES[name](args.input, args.hidden, args.layers).to(device)
        models[f"torch.nn.{rnn.__class__.__name__}"] = lambda x, rnn=rnn: rnn(x)[0]
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
    with getattr(fn, "context", contextlib.nullcontext)():
        fn(x).sum().backward()
    if device.type == "cuda":
        torch.cuda.synchronize()


MM = "torch.mm"


def _mm(a: Tensor, device: torch.device) -> None:
    torch.mm(a, a)
    if device.type == "cuda":
        torch.cuda.synchronize()


def model_kind(name: str) -> str:
    """``torch.nn.GRU`` -> gru, ``SNN v2 (default)`` -> v2."""
    if name.startswith("torch.nn."):
        return name[len("torch.nn."):].lower()
    return name.split()[1]


def measure(args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    """Per model the CPU and wall seconds of ``args.repeats`` training steps."""
    device = torch.device(args.device)
    torch.manual_seed(0)
    models = build(args, device)
    x = torch.randn(args.frames, args.batch, args.input, device=device)
    n = args.mm_size
    a = torch.randn(n, n, device=device)
    steps: dict[str, Callable[[], object]] = {
        name: (lambda fn=fn: _step(fn, x, device)) for name, fn in models.items()}
    steps[MM] = lambda: _mm(a, device)
    for step in steps.values():
        step()
    times = {name: {"cpu": [], "wall": []} for name in steps}
    for _ in range(args.repeats):
        for name, step in steps.items():
            c0, w0 = time.process_time(), time.perf_counter()
            step()
            times[name]["cpu"].append(time.process_time() - c0)
            times[name]["wall"].append(time.perf_counter() - w0)
    return times


def table(times: dict[str, dict[str, list[float]]], args: argparse.Namespace) -> str:
    """Markdown table of medians, their ratios to GRU and LSTM, each model's GEMM
    FLOPs, its floor at the measured torch.mm rate and the share of it reached."""
    med = {n: {c: statistics.median(v) for c, v in d.items()} for n, d in times.items()}
    mm = med.pop(MM)
    mm_f = mm_flops(args.mm_size, args.mm_size, args.mm_size)
    rate = {c: mm_f / mm[c] for c in ("cpu", "wall")}  # FLOP per second
    g, m = med.get("torch.nn.GRU"), med.get("torch.nn.LSTM")

    def ratio(t: float, base: dict[str, float] | None, clock: str) -> str:
        return "-" if base is None else f"{t / base[clock]:.2f}"

    rows = [
        f"torch.mm {args.mm_size}^3 in this run: {rate['cpu'] / 1e9:.1f} GFLOP per CPU "
        f"second, {rate['wall'] / 1e9:.1f} GFLOP/s wall",
        "",
        "| model | CPU s | / GRU | / LSTM | wall s | / GRU | / LSTM | GFLOP | "
        "floor CPU s | % floor CPU | floor wall s | % floor wall |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, t in med.items():
        fl = step_flops(model_kind(name), args.frames, args.batch, args.input,
                        args.hidden, args.layers)
        floor = {c: fl / rate[c] for c in ("cpu", "wall")}
        rows.append(
            f"| {name} | {t['cpu']:.3f} | {ratio(t['cpu'], g, 'cpu')} | "
            f"{ratio(t['cpu'], m, 'cpu')} | {t['wall']:.3f} | "
            f"{ratio(t['wall'], g, 'wall')} | {ratio(t['wall'], m, 'wall')} | "
            f"{fl / 1e9:.4g} | {floor['cpu']:.3f} | "
            f"{100 * floor['cpu'] / t['cpu']:.0f} | {floor['wall']:.3f} | "
            f"{100 * floor['wall'] / t['wall']:.0f} |"
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
    p.add_argument("--threads", default="1",
                   help="torch intra-op threads, a comma list runs one table each")
    p.add_argument("--mm-size", type=int, default=2048,
                   help="n of the n x n x n torch.mm timed for the GEMM rate")
    p.add_argument("--kinds", default="v2,v1,traditional")
    p.add_argument("--baselines", default="gru,lstm",
                   help="comma list of gru, lstm, or none (quick floor checks: the "
                   "ratio columns then read -)")
    p.add_argument(
        "--paths",
        default="default,reference",
        help="comma list of " + ", ".join(PATHS) + " (see the module doc)",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--profile", action="store_true",
                   help="also print torch.profiler's table and the C kernels' seconds "
                   "for one step of the first SNN model")
    args = p.parse_args(argv)
    for threads in (int(v) for v in args.threads.split(",")):
        torch.set_num_threads(threads)
        print(
            f"# T={args.frames} B={args.batch} F={args.input} "
            f"{args.layers}x{args.hidden} bits={args.bits or 'full'} k={args.k} "
            f"dropout={args.dropout} device={args.device} threads={threads} "
            f"torch {torch.__version__}, fused-path GEMMs: {_gemm_name()}, "
            f"median of {args.repeats}, load average {os.getloadavg()[0]:.1f}"
        )
        print(table(measure(args), args), flush=True)
        print(f"# load average after: {os.getloadavg()[0]:.1f}\n")
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
    print(f"\n# C kernel seconds of one step of {name} (thread time of each call; "
          "the torch profiler cannot see inside ctypes calls)")
    for kernel, seconds in kernel_seconds(fn, x, device).items():
        print(f"{kernel}: {seconds:.4f}")


def kernel_seconds(fn: Callable, x: Tensor, device: torch.device) -> dict[str, float]:
    """``time.thread_time`` spent in each ``_fused.c`` entry point during one step
    (recurrences through ``cstep.Fused``, batch norm through ``fast_c.kernel``)."""
    spent: dict[str, float] = {}

    def timed(name: str, call: Callable) -> Callable:
        def run(*a, **k):
            t0 = time.thread_time()
            try:
                return call(*a, **k)
            finally:
                spent[name] = spent.get(name, 0.0) + time.thread_time() - t0
        return run

    saved = {name: getattr(cstep.Fused, name) for name in ("forward", "backward")}
    real_kernel = fast_c.kernel

    def kernel(name: str, dtype: torch.dtype):
        found = real_kernel(name, dtype)
        return None if found is None else timed(name, found)

    try:
        for name, call in saved.items():
            setattr(cstep.Fused, name, timed(f"recurrence {name}", call))
        fast_c.kernel = kernel
        with parallel.serial():  # thread time counts the calling thread only
            _step(fn, x, device)
    finally:
        for name, call in saved.items():
            setattr(cstep.Fused, name, call)
        fast_c.kernel = real_kernel
    return spent


if __name__ == "__main__":
    raise SystemExit(main())
