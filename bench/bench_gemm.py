"""The GEMM shapes of a 2 x 550 training step: torch.mm (MKL) vs oneDNN vs numpy.

Why ``pytorch_kaldi_snn.nn.gemm`` sends the fused layers' ``X W^T`` and ``G W`` products
to oneDNN and keeps ``G^T X`` on ``torch.mm``: each shape of one v2 training step
(T=200, B=64, H=550) is timed with the three libraries on one thread, round-robin,
median of the repeats, and printed in GFLOP/s with the ratio to ``torch.mm``. numpy's
BLAS (OpenBLAS in the PyPI wheels) is shown for reference only; the layers never call
it (its threads are not torch's).

A second table, once per ``--threads`` count, times the forms ``gemm`` chooses between:
the weight gradient as ``(X^T G)^T`` (``gemm.weight_grad``) or ``G^T X`` on
``torch.mm``, and v2's recurrent product of a frame plus P[n] as oneDNN's product then
an add, or with the add as the product's post-op (``gemm.linear_add``).

    python bench/bench_gemm.py [--repeats 5] [--frames 200] [--batch 64] [--hidden 550]
        [--threads 1,2]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy loads its BLAS

import numpy as np  # noqa: E402
import torch  # noqa: E402
from timing import round_robin  # noqa: E402


def _onednn(a: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """a @ w.T with oneDNN (w [N, K], any strides)."""
    return torch.ops.mkldnn._linear_pointwise(a, w, None, "none", [], "")


def shapes(t: int, b: int, h: int) -> list[tuple[str, int, int, int, str]]:
    """(what, M, K, N, form) per product; form ``nt``: A @ W^T, ``tn``: A^T @ B."""
    rows = t * b
    return [
        ("input projection X W^T (layer 2)", rows, h, 2 * h, "nt"),
        ("its input gradient G W (layer 2)", rows, 2 * h, h, "nn"),
        ("weight gradient G^T X (per layer)", 2 * h, rows, h, "tn"),
        ("recurrent Y[n-1] W_r^T (per frame)", b, h, 2 * h, "nt"),
        ("recurrent gradient G[n] W_r (per frame)", b, 2 * h, h, "nn"),
    ]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=200)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--hidden", type=int, default=550)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", default="1",
                   help="comma list: thread counts for the table of forms")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    print(f"# torch {torch.__version__}, numpy {np.__version__}, 1 thread, "
          f"GFLOP/s (median of {args.repeats}), ratio = time of torch.mm / time")
    print("| product | M x K x N | torch.mm | oneDNN | x | numpy | x |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for what, m, k, n, form in shapes(args.frames, args.batch, args.hidden):
        if form == "tn":  # C = A^T B with A [K, M], B [K, N] stored row-major
            a = torch.randn(k, m, generator=gen)
            b = torch.randn(k, n, generator=gen)
            run = {"mm": lambda: torch.mm(a.t(), b),
                   "onednn": lambda: _onednn(a.t(), b.t()),
                   "numpy": lambda: a.numpy().T @ b.numpy()}
        else:  # nt: weight stored [N, K]; nn: weight stored [K, N]
            a = torch.randn(m, k, generator=gen)
            w = torch.randn(n, k, generator=gen) if form == "nt" else torch.randn(
                k, n, generator=gen)
            wt = w.t() if form == "nt" else w  # the [K, N] operand of a @ wt
            w_nk = w if form == "nt" else w.t().contiguous()
            run = {"mm": lambda: torch.mm(a, wt),
                   "onednn": lambda: _onednn(a, w_nk),
                   "numpy": lambda: a.numpy() @ wt.numpy()}
        reps = max(args.repeats, 3 if m * k * n > 1e9 else 50)
        med = round_robin(run, reps)
        gf = {name: 2 * m * k * n / t / 1e9 for name, t in med.items()}
        print(f"| {what} | {m} x {k} x {n} | {gf['mm']:.0f} | {gf['onednn']:.0f} | "
              f"{med['mm'] / med['onednn']:.2f} | {gf['numpy']:.0f} | "
              f"{med['mm'] / med['numpy']:.2f} |")
    for threads in (int(v) for v in args.threads.split(",")):
        forms_table(args, threads, gen)
    return 0


def forms(t: int, b: int, h: int, gen: torch.Generator):
    """(what, M x K x N, {form: call}) for the choices of ``nn/gemm.py``."""
    rows = t * b
    out = []
    for k, n in ((h, 2 * h), (h, h), (40, 2 * h)):
        x = torch.randn(rows, k, generator=gen)
        g = torch.randn(rows, n, generator=gen)
        out.append((f"weight gradient G^T X, {n}-wide G, {k}-wide X", (n, rows, k),
                    {"(X^T G)^T": lambda x=x, g=g: torch.mm(x.t(), g).t(),
                     "G^T X": lambda x=x, g=g: torch.mm(g.t(), x)}))
    y = torch.randn(b, h, generator=gen)
    w = torch.randn(2 * h, h, generator=gen)
    pre = torch.randn(b, 2 * h, generator=gen)
    fused = torch.ops.mkldnn._linear_pointwise.binary
    out.append(("recurrent Y[n-1] W_r^T + P[n] (per frame)", (b, h, 2 * h),
                {"oneDNN, then add": lambda: torch.add(_onednn(y, w), pre),
                 "oneDNN add post-op": lambda: fused(y, pre, w, None, "add")}))
    return out


def forms_table(args: argparse.Namespace, threads: int, gen: torch.Generator) -> None:
    torch.set_num_threads(threads)
    print(f"\n# the forms gemm chooses between, {threads} thread(s), "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}, "
          f"GFLOP/s (median of the repeats), x = time of the first / time")
    print("| product | M x K x N | first form | GFLOP/s | second form | GFLOP/s | x |")
    print("|---|---|---|---:|---|---:|---:|")
    for what, (m, k, n), run in forms(args.frames, args.batch, args.hidden, gen):
        reps = max(args.repeats, 3 if m * k * n > 1e9 else 50)
        med = round_robin(run, reps)
        (a, ta), (b, tb) = med.items()
        flop = 2 * m * k * n
        print(f"| {what} | {m} x {k} x {n} | {a} | {flop / ta / 1e9:.0f} | {b} | "
              f"{flop / tb / 1e9:.0f} | {ta / tb:.2f} |")
    torch.set_num_threads(1)


if __name__ == "__main__":
    raise SystemExit(main())
