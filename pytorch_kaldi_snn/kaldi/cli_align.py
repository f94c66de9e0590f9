"""``pytorch-kaldi-snn align``: monophone training and alignment (train_mono.sh)."""

from __future__ import annotations

import argparse

from pytorch_kaldi_snn.kaldi.align import (
    align_data,
    boundary_error,
    train_mono_and_align,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data_dir",
                        help="Kaldi data folder (feats.scp, cmvn.scp, text)")
    parser.add_argument("lang_dir", help="lang folder (phones.txt, lexicon.txt)")
    parser.add_argument("exp_dir", help="output folder: ali.1.gz, model.pkl, num_pdfs")
    parser.add_argument("--model-dir", help="align with this existing model instead of "
                        "training one (e.g. dev/test with the train model)")
    parser.add_argument("--nj", type=int, default=2, help="worker processes")
    parser.add_argument("--iters", type=int, default=6, help="EM iterations")
    parser.add_argument("--max-gauss", type=int, default=4,
                        help="Gaussians per HMM state after mixing up")
    parser.add_argument("--hclg", action="store_true",
                        help="Kaldi's way with kaldi-hmm-gmm: transition-id "
                        "alignments, final.mdl.pkl; lang_dir must hold L.fst (see "
                        "--prepare-lang)")
    parser.add_argument("--prepare-lang", metavar="DICT_DIR",
                        help="with --hclg: first write lang_dir (L.fst, topo, ...) "
                        "from this Kaldi dict folder")
    parser.add_argument("--totgauss", type=int, default=1000,
                        help="with --hclg: total Gaussians after mixing up")


def _run_hclg(args: argparse.Namespace) -> int:
    from pytorch_kaldi_snn.kaldi import langfst, mono

    if args.prepare_lang:
        langfst.prepare_lang(args.prepare_lang, args.lang_dir)
    if args.model_dir:
        mono.align_data(args.data_dir, args.model_dir, args.exp_dir, nj=args.nj)
    else:
        mono.train_mono_and_align(args.data_dir, args.lang_dir, args.exp_dir,
                                  nj=args.nj, totgauss=args.totgauss)
    err = mono.boundary_error(args.data_dir, args.exp_dir)
    extra = "" if err is None else f" (median boundary error {err:.1f} frames)"
    print(f"transition-id alignments written to {args.exp_dir}/ali.*.gz{extra}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.hclg:
        return _run_hclg(args)
    if args.model_dir:
        align_data(args.data_dir, args.model_dir, args.exp_dir, args.lang_dir,
                   nj=args.nj)
    else:
        train_mono_and_align(args.data_dir, args.lang_dir, args.exp_dir, nj=args.nj,
                             num_iters=args.iters, max_gauss=args.max_gauss)
    err = boundary_error(args.data_dir, args.exp_dir)
    extra = "" if err is None else f" (median boundary error {err:.1f} frames)"
    print(f"alignments written to {args.exp_dir}/ali.1.gz{extra}")
    return 0
