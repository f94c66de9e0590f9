"""``python -m pytorch_kaldi_snn.datasets.lang DICT_DIR LANG_DIR``: Kaldi's
``utils/prepare_lang.sh`` for the recipes, through the Kaldi stack's
``prepare_lang``."""

from __future__ import annotations

import argparse
import logging
import sys

logger = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dict_dir", help="Kaldi dict folder (lexicon.txt, *_phones.txt)")
    p.add_argument("lang_dir",
                   help="lang folder to write (phones.txt, words.txt, topo)")


def run(args: argparse.Namespace) -> int:
    """``pytorch-kaldi-snn prepare-lang``; the console script sets up logging and turns
    errors into one line."""
    from pytorch_kaldi_snn.kaldi import prepare_lang

    out = prepare_lang(args.dict_dir, args.lang_dir)
    print(f"lang folder written to {out}")
    return 0


if __name__ == "__main__":  # python -m: the same as the subcommand
    from pytorch_kaldi_snn.cli import main

    sys.exit(main(["prepare-lang", *sys.argv[1:]]))
