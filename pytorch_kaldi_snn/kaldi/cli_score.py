"""``pytorch-kaldi-snn score``: score a decode folder (Kaldi %WER lines)."""

from __future__ import annotations

import argparse

from pytorch_kaldi_snn.kaldi.sweep import score_sweep


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("decode_dir", help="folder with hyp_<lmwt>_<wip>.txt files "
                        "(and lat.*.gz for widening)")
    parser.add_argument("data_dir", help="data folder with text (words) or text_phones")
    parser.add_argument("--select-from", metavar="DEV_DECODE_DIR",
                        help="apply this scored dev folder's best setting")
    parser.add_argument("--no-widen", action="store_true",
                        help="score only the existing grid")


def run(args: argparse.Namespace) -> int:
    summary = score_sweep(args.decode_dir, args.data_dir,
                          widen=not (args.no_widen or args.select_from),
                          select_from=args.select_from)
    print(summary["best"]["line"])
    if "selected" in summary:
        print(summary["selected"]["line"] + " (dev-selected)")
    return 0
