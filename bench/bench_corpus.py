"""Build time of the demo corpus (synthesis, degradation, MFCC + fbank, dict, lang).

Each requested size is built from scratch into a temporary folder (removed afterwards
unless ``--keep``); the table gives wall-clock seconds, utterances, hours of speech and
the real-time factor ``RTF = build seconds / speech seconds``.

    python bench/bench_corpus.py [--sizes tiny small] [--nj 2] [--seed 0] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from pytorch_kaldi_snn.corpus import SIZES, make_corpus
from pytorch_kaldi_snn.corpus.build import MARKER


def bench(size: str, root: Path, nj: int, seed: int) -> dict:
    """Build one size under ``root`` and return its timing row."""
    out = root / f"corpus_{size}"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    make_corpus(out, size=size, seed=seed, nj=nj)
    seconds = time.perf_counter() - t0
    info = json.loads((out / MARKER).read_text())
    hours = float(info["hours"])
    return {"size": size, "seconds": seconds, "utterances": int(info["utterances"]),
            "hours": hours, "rtf": seconds / max(hours * 3600, 1e-9)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["tiny", "small"],
                        choices=sorted(SIZES))
    parser.add_argument("--nj", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", default=None,
                        help="build under this folder and keep the corpora")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    keep = Path(args.keep) if args.keep else None
    root = keep or Path(tempfile.mkdtemp(prefix="bench_corpus"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.1f} nj={args.nj}")
    print(f"{'size':<6} {'seconds':>8} {'utts':>6} {'hours':>6} {'RTF':>6}")
    try:
        for size in args.sizes:
            r = bench(size, root, args.nj, args.seed)
            print(f"{r['size']:<6} {r['seconds']:8.1f} {r['utterances']:6d} "
                  f"{r['hours']:6.2f} {r['rtf']:6.3f}", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
