"""The GEMM shapes of a 2 x 550 training step: torch.mm (MKL) vs oneDNN vs numpy.

Why ``pytorch_kaldi_snn.nn.gemm`` sends the fused layers' ``X W^T`` and ``G W`` products
to oneDNN and keeps ``G^T X`` on ``torch.mm``: each shape of one v2 training step
(T=200, B=64, H=550) is timed with the three libraries on one thread, round-robin,
median of the repeats, and printed in GFLOP/s with the ratio to ``torch.mm``. numpy's
BLAS (OpenBLAS in the PyPI wheels) is shown for reference only; the layers never call
it (its threads are not torch's).

    python bench/bench_gemm.py [--repeats 5] [--frames 200] [--batch 64] [--hidden 550]
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
