"""``pytorch-kaldi-snn align``: monophone training and alignment (Kaldi's
``train_mono.sh`` and ``align_si.sh``) with kaldi-hmm-gmm."""

from __future__ import annotations

import argparse

from pytorch_kaldi_snn.kaldi import mono


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data_dir",
                        help="Kaldi data folder (feats.scp, cmvn.scp, text)")
    parser.add_argument("lang_dir", help="lang folder (L.fst, topo, phones.txt, "
                        "words.txt, phones/), see prepare-lang")
    parser.add_argument("exp_dir", help="output folder: ali.*.gz (transition ids), "
                        "final.mdl.pkl, num_pdfs, phones.txt, phones/")
    parser.add_argument("--model-dir", help="align with this existing model instead of "
                        "training one (e.g. dev/test with the train model)")
    parser.add_argument("--nj", type=int, default=2, help="worker processes")
    parser.add_argument("--iters", type=int, default=20,
                        help="EM passes of monophone training")
    parser.add_argument("--totgauss", type=int, default=1000,
                        help="total Gaussians after mixing up")
    parser.add_argument("--prepare-lang", metavar="DICT_DIR",
                        help="first write lang_dir (L.fst, topo, ...) from this Kaldi "
                        "dict folder")


def run(args: argparse.Namespace) -> int:
    if args.prepare_lang:
        from pytorch_kaldi_snn.kaldi.lang import prepare_lang

        prepare_lang(args.prepare_lang, args.lang_dir)
    if args.model_dir:
        mono.align_data(args.data_dir, args.model_dir, args.exp_dir, args.lang_dir,
                        nj=args.nj)
    else:
        mono.train_mono_and_align(args.data_dir, args.lang_dir, args.exp_dir,
                                  nj=args.nj, num_iters=args.iters,
                                  totgauss=args.totgauss)
    err = mono.boundary_error(args.data_dir, args.exp_dir)
    extra = "" if err is None else f" (median boundary error {err:.1f} frames)"
    print(f"transition-id alignments written to {args.exp_dir}/ali.*.gz{extra}")
    return 0
