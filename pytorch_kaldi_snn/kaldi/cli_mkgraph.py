"""``pytorch-kaldi-snn mkgraph``: phone-bigram or word-bigram decoding graphs."""

from __future__ import annotations

import argparse

from pytorch_kaldi_snn.kaldi.graph import make_phone_graph, make_word_graph


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("lang_dir", help="lang folder (lexicon.txt, phones.txt)")
    parser.add_argument("model_dir", help="alignment folder holding model.pkl")
    parser.add_argument("out_dir", help="graph folder to write")
    parser.add_argument("--kind", choices=["phone", "word"], default="phone",
                        help="phone loop with a phone bigram, or words with a word "
                        "bigram")
    parser.add_argument("--train-text", help="Kaldi text file for the LM: text_phones "
                        "(phone graph; default: the alignments' phones) or text (word "
                        "graph, required)")
    parser.add_argument("--hclg", action="store_true",
                        help="build an OpenFst HCLG.fst with kaldifst/kaldilm for a "
                        "model trained with `align --hclg`")


def run(args: argparse.Namespace) -> int:
    phone_graph, word_graph = make_phone_graph, make_word_graph
    if args.hclg:
        from pytorch_kaldi_snn.kaldi import hclg

        phone_graph, word_graph = hclg.make_phone_graph, hclg.make_word_graph
    if args.kind == "phone":
        out = phone_graph(args.lang_dir, args.model_dir, args.out_dir, args.train_text)
    else:
        if not args.train_text:
            from pytorch_kaldi_snn.errors import ConfigError

            raise ConfigError("a word graph needs --train-text (a Kaldi text file)",
                              key="--train-text")
        out = word_graph(args.lang_dir, args.model_dir, args.train_text, args.out_dir)
    print(f"{args.kind} graph written to {out}")
    return 0
