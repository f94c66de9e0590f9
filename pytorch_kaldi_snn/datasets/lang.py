"""``python -m pytorch_kaldi_snn.datasets.lang DICT_DIR LANG_DIR``: Kaldi's
``utils/prepare_lang.sh`` for the recipes, through the Kaldi stack's
``prepare_lang``."""

from __future__ import annotations

import argparse
import logging
import sys

from pytorch_kaldi_snn.errors import DataError

logger = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dict_dir", help="Kaldi dict folder (lexicon.txt, *_phones.txt)")
    p.add_argument("lang_dir",
                   help="lang folder to write (phones.txt, words.txt, topo)")


def run(args: argparse.Namespace) -> int:
    from pytorch_kaldi_snn.kaldi import prepare_lang

    try:
        out = prepare_lang(args.dict_dir, args.lang_dir)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"lang folder written to {out}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
