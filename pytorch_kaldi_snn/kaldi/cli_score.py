"""``pytorch-kaldi-snn score``: score a decode folder (Kaldi %WER lines)."""

from __future__ import annotations

import argparse

from pytorch_kaldi_snn.kaldi.score import score_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("decode_dir", help="folder with hyp_<lmwt>_<wip>.txt files")
    parser.add_argument("data_dir", help="data folder with text (words) or text_phones")


def run(args: argparse.Namespace) -> int:
    line, _ = score_dir(args.decode_dir, args.data_dir)
    print(line)
    return 0
