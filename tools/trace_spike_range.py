#!/usr/bin/env python3
"""Train a cfg with our runner and record, at every training sequence batch, each
paper quantiser's tracked range b and the batch's largest membrane potential max V
(the two numbers of the EMA update b <- (1 - m) b + m max V, Eq. 22).

Shows how b moves inside an epoch, which the per-chunk "spike ranges" lines of the
training log and the per-epoch checkpoints cannot: at 1-2 bits SNN v2's b grows
geometrically (max V / b > 1 batch after batch) during the first epoch
(docs/benchmark.md, "Why 1-2 bits do not learn here").

    python tools/trace_spike_range.py OUT.json CFG [--section,field=value ...]

writes ``{"<layer index>": [[b, max V], ...]}`` (layers in the order they first
update) and prints every 10th batch per layer. Everything after OUT.json is given to
``pytorch-kaldi-snn run --stage train``.
"""

from __future__ import annotations

import json
import sys

from pytorch_kaldi_snn import cli
from pytorch_kaldi_snn.nn import spike


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    out, run_args = argv[0], argv[1:]
    trace: dict[int, list[tuple[float, float]]] = {}
    order: dict[int, int] = {}
    observe = spike.MultiBitSpike.observe

    def traced(self, v_max):
        if self.training and v_max is not None and self.n_bits is not None:
            k = order.setdefault(id(self), len(order))
            trace.setdefault(k, []).append((float(self.range), float(v_max)))
        return observe(self, v_max)

    spike.MultiBitSpike.observe = traced
    try:
        rc = cli.main(["run", "--stage", "train", *run_args])
    finally:
        spike.MultiBitSpike.observe = observe
    with open(out, "w") as fh:
        json.dump({str(k): v for k, v in trace.items()}, fh)
    for k, rows in trace.items():
        print(f"layer {k}: batch, b, max V, max V / b")
        for i in range(0, len(rows), 10):
            b, m = rows[i]
            print(f"  {i:5d} {b:12.4g} {m:12.4g} {m / b:8.2f}")
    print(f"trace of {len(trace)} quantisers -> {out}")
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
