"""``pytorch-kaldi-snn make-corpus``: build the synthesised demo corpus."""

from __future__ import annotations

import argparse

from pytorch_kaldi_snn.corpus.build import SIZES, make_corpus


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output folder (Kaldi layout)")
    parser.add_argument(
        "--size",
        default="small",
        choices=sorted(SIZES),
        help="tiny (CI, < 1 min), small (default demo), large (hours)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="random seed (same seed, same bytes)"
    )
    parser.add_argument("--nj", type=int, default=2, help="synthesis worker processes")


def run(args: argparse.Namespace) -> int:
    out = make_corpus(args.out, size=args.size, seed=args.seed, nj=args.nj)
    print(f"demo corpus ready: {out}/data (train, dev, test, heldout, local/dict, "
          "lang)")
    return 0
