"""Cost of the finite check (runner/guard.py) as a share of one training step.

One step is what ``runner/train.py`` does per batch: ``zero_grad``, the model (an SNN
stack plus an MLP head, as the demo cfgs), the masked NLL, ``backward`` and an Adam step
on both. The guard is then called on the same step; both variants are timed round-robin
in this process (``bench/timing.py``), and so is the guard alone, called on the
gradients and weights a step left (the difference of two noisy step times is a poor
estimate of a small cost on a shared machine). The line printed gives::

    guard % = 100 * t_guard / t_step          (and the difference of the two steps)

Defaults are the demo's model and batch (2 x 128 SNN_v2, batch 16, 400 frames, 39
features, 180 outputs); the target (issue 9) is below 2%.

    python bench/bench_finite_guard.py [--kind v2] [--hidden 128] [--layers 2]
        [--batch 16] [--frames 400] [--input 39] [--classes 180] [--repeats 20]
        [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import round_robin  # noqa: E402

from pytorch_kaldi_snn.nn import SNNStack  # noqa: E402
from pytorch_kaldi_snn.runner.guard import FiniteGuard  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", default="v2", help="traditional, v1 or v2")
    ap.add_argument("--hidden", type=int, default=128, help="neurons per layer")
    ap.add_argument("--layers", type=int, default=2, help="spiking layers")
    ap.add_argument("--batch", type=int, default=16, help="utterances per batch")
    ap.add_argument("--frames", type=int, default=400, help="frames per utterance")
    ap.add_argument("--input", type=int, default=39, help="feature dimension")
    ap.add_argument("--classes", type=int, default=180, help="output classes (pdfs)")
    ap.add_argument("--repeats", type=int, default=20, help="timed steps per variant")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dev = torch.device(args.device)
    body = SNNStack(args.input, [args.hidden] * args.layers, args.kind).to(dev)
    head = nn.Linear(args.hidden, args.classes).to(dev)
    opts = [torch.optim.Adam(m.parameters(), lr=1e-3) for m in (body, head)]
    x = torch.randn(args.frames, args.batch, args.input, device=dev)
    y = torch.randint(0, args.classes, (args.frames * args.batch,), device=dev)
    guard = FiniteGuard(nets={"body": body, "head": head},
                        sections={"body": "architecture1", "head": "architecture2"},
                        lrs={"body": 1e-3, "head": 1e-3}, where="bench", kept="")

    def step(check: bool) -> None:
        for opt in opts:
            opt.zero_grad(set_to_none=True)
        out = body(x)
        logits = head(out.reshape(-1, out.shape[-1]))
        loss = nn.functional.cross_entropy(logits, y)
        if not check:  # run_pass's own loss check when no guard is given
            bool(torch.isfinite(loss))
        loss.backward()
        for opt in opts:
            opt.step()
        if check:
            guard(loss, 0)
        if dev.type == "cuda":
            torch.cuda.synchronize()

    times = round_robin({"step": lambda: step(False), "guarded": lambda: step(True)},
                        args.repeats)
    loss = torch.zeros((), device=dev)

    def guard_only() -> None:
        for _ in range(10):
            guard(loss, 0)
        if dev.type == "cuda":
            torch.cuda.synchronize()

    t_guard = round_robin({"guard": guard_only}, args.repeats)["guard"] / 10
    n_params = sum(p.numel() for m in (body, head) for p in m.parameters())
    pct = 100.0 * t_guard / times["step"]
    diff = 100.0 * (times["guarded"] - times["step"]) / times["step"]
    print(f"{args.kind} {args.layers}x{args.hidden}, batch {args.batch} x "
          f"{args.frames} frames, {n_params} parameters, {args.device}: step "
          f"{1e3 * times['step']:.2f} ms, guard {1e3 * t_guard:.3f} ms = "
          f"{pct:.2f}% of a training step (step with guard minus step: {diff:+.2f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
