"""``pytorch-kaldi-snn decode``: decode log-likelihood arks with an HCLG graph, then
score (settings widened on this set, or chosen on a dev decode folder)."""

from __future__ import annotations

import argparse

from pytorch_kaldi_snn.kaldi.latgen import decode_loglikes


def _floats(text: str):
    return [float(x) for x in text.split(",") if x]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("graph_dir", help="folder written by mkgraph (HCLG.fst)")
    parser.add_argument("out_dir", help="decode folder (lat.1.gz, hyp_*, wer_*, "
                        "best_wer, scoring.json)")
    parser.add_argument("loglikes", nargs="+", help="ark/scp files of [T, num_pdfs] "
                        "log-likelihoods (log-posteriors minus log-priors)")
    parser.add_argument("--data-dir", help="score against this data folder's text "
                        "(word graph) or text_phones (phone graph)")
    parser.add_argument("--lmwts", type=_floats, default=[4, 6, 8, 10, 12, 14],
                        help="comma-separated LM weights (acoustic scale = 1/lmwt)")
    parser.add_argument("--wips", type=_floats, default=[0.0, 0.5, 1.0],
                        help="comma-separated word insertion penalties")
    parser.add_argument("--select-from", metavar="DEV_DECODE_DIR",
                        help="a scored dev decode folder: its best setting is applied "
                        "here (dev_selected_wer); this grid is not widened")
    parser.add_argument("--no-widen", action="store_true",
                        help="score only the given grid (default: widen it until the "
                        "best setting is not at an edge)")
    parser.add_argument("--acwt", type=float, default=0.1,
                        help="acoustic scale of the search (lattice pruning)")
    parser.add_argument("--beam", type=float, default=13.0, help="decoding beam")
    parser.add_argument("--lattice-beam", type=float, default=6.0,
                        help="lattice beam")
    parser.add_argument("--nj", type=int, default=2, help="worker processes")


def run(args: argparse.Namespace) -> int:
    decode_loglikes(args.loglikes, args.graph_dir, args.out_dir, lmwts=args.lmwts,
                    wips=args.wips, nj=args.nj, acwt=args.acwt, beam=args.beam,
                    latbeam=args.lattice_beam)
    if not args.data_dir:
        print(f"hypotheses written to {args.out_dir}")
        return 0
    from pytorch_kaldi_snn.kaldi.sweep import score_sweep

    summary = score_sweep(args.out_dir, args.data_dir,
                          widen=not (args.no_widen or args.select_from),
                          select_from=args.select_from)
    best = summary["best"]
    print(f"{best['line']} (best of this grid: LMWT={best['lmwt']:g} "
          f"WIP={best['wip']:g})")
    if "selected" in summary:
        sel = summary["selected"]
        print(f"{sel['line']} (dev-selected: LMWT={sel['lmwt']:g} WIP={sel['wip']:g})")
    return 0
