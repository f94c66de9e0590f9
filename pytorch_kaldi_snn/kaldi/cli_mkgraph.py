"""``pytorch-kaldi-snn mkgraph``: phone-bigram or word n-gram HCLG graphs (Kaldi's
``mkgraph.sh``)."""

from __future__ import annotations

import argparse

from pytorch_kaldi_snn.errors import ConfigError
from pytorch_kaldi_snn.kaldi.hclg import make_phone_graph, make_word_graph


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("lang_dir", help="lang folder (L_disambig.fst, phones.txt, "
                        "words.txt)")
    parser.add_argument("model_dir", help="alignment folder holding final.mdl.pkl")
    parser.add_argument("out_dir", help="graph folder to write (HCLG.fst, words.txt, "
                        "phones.txt, phones/, ...)")
    parser.add_argument("--kind", choices=["phone", "word"], default="phone",
                        help="phone loop with a phone bigram, or words with a word "
                        "n-gram")
    parser.add_argument("--train-text", help="Kaldi text file for the LM: text_phones "
                        "(phone graph; default: the alignments' phones) or text (word "
                        "graph, required)")
    parser.add_argument("--order", type=int, default=2, help="n-gram order of G")


def run(args: argparse.Namespace) -> int:
    if args.kind == "phone":
        out = make_phone_graph(args.lang_dir, args.model_dir, args.out_dir,
                               args.train_text, order=args.order)
    else:
        if not args.train_text:
            raise ConfigError("a word graph needs --train-text (a Kaldi text file)",
                              key="--train-text")
        out = make_word_graph(args.lang_dir, args.model_dir, args.train_text,
                              args.out_dir, order=args.order)
    print(f"{args.kind} graph written to {out}")
    return 0
