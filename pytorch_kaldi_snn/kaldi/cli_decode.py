"""``pytorch-kaldi-snn decode``: decode log-likelihood arks with a graph, then score."""

from __future__ import annotations

import argparse

from pytorch_kaldi_snn.kaldi.decode import decode_loglikes
from pytorch_kaldi_snn.kaldi.score import score_dir


def _floats(text: str):
    return [float(x) for x in text.split(",") if x]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("graph_dir", help="folder written by mkgraph")
    parser.add_argument("out_dir", help="decode folder (hyp_*, wer_*, best_wer)")
    parser.add_argument("loglikes", nargs="+", help="ark/scp files of [T, num_pdfs] "
                        "log-likelihoods (log-posteriors minus log-priors)")
    parser.add_argument("--data-dir", help="score against this data folder's text")
    parser.add_argument("--lmwts", type=_floats, default=[1, 2, 4, 6, 8, 10, 13, 16],
                        help="comma-separated LM weights (acoustic scale = 1/lmwt)")
    parser.add_argument("--wips", type=_floats, default=[0.0, 0.5, 1.0],
                        help="comma-separated word insertion penalties")
    parser.add_argument("--nj", type=int, default=2, help="worker processes")
    parser.add_argument("--hclg", action="store_true",
                        help="decode HCLG.fst with kaldi-decoder (raw lattice, "
                        "LM-weight sweep) for a graph from `mkgraph --hclg`")


def run(args: argparse.Namespace) -> int:
    decode = decode_loglikes
    if args.hclg:
        from pytorch_kaldi_snn.kaldi.latgen import decode_loglikes as decode
    decode(args.loglikes, args.graph_dir, args.out_dir, lmwts=args.lmwts,
           wips=args.wips, nj=args.nj)
    if args.data_dir:
        line, _ = score_dir(args.out_dir, args.data_dir)
        print(line)
    else:
        print(f"hypotheses written to {args.out_dir}")
    return 0
