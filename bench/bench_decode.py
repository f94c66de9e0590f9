"""Benchmark of the Kaldi stack: corpus build, alignment, graphs, decoding RTF, the
monophone GMM's own PER/WER.

    python bench/bench_decode.py --size small --nj 2 [--work DIR]

Builds the demo corpus (or reuses ``--work/corpus``), writes the lang folder, trains
the kaldi-hmm-gmm monophone model and aligns train, dev and test, builds the
phone-bigram and word-bigram HCLG, then decodes dev, test and heldout (voices in no
other set) with the GMM's own log-likelihoods (acwt 0.1). Dev's LM-weight / insertion-
penalty grid widens until its best is inside; test and heldout are scored at the
dev-best setting (and, labelled, at their own best).
Prints the seconds of each step, the decoding real-time factor (decoding seconds /
seconds of speech at 10 ms per frame, over ``nj`` processes), the alignment's median
boundary error against the synthesiser's phone timings and the frames SIL got.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path


def main(argv=None) -> int:
    """Run the benchmark; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="small",
                        help="corpus size (tiny, small, large)")
    parser.add_argument("--nj", type=int, default=2, help="worker processes")
    parser.add_argument("--work", help="work folder (default: a temporary one)")
    parser.add_argument("--max-utts", type=int, default=0,
                        help="decode at most this many dev utterances (0: all)")
    parser.add_argument("--beam", type=float, default=13.0, help="decoding beam")
    parser.add_argument("--lattice-beam", type=float, default=6.0, help="lattice beam")
    parser.add_argument("--decode-only", action="store_true",
                        help="reuse --work's alignments and graphs; only decode/score")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    import numpy as np

    from pytorch_kaldi_snn.corpus import make_corpus
    from pytorch_kaldi_snn.kaldi import gmm, mono
    from pytorch_kaldi_snn.kaldi.io import load_features, read_symbols
    from pytorch_kaldi_snn.kaldi.latgen import decode_loglikes
    from pytorch_kaldi_snn.kaldi.sweep import score_sweep

    work = Path(args.work or tempfile.mkdtemp(prefix="bench_decode_"))
    rows = []

    def step(name, fn):
        t0 = time.time()
        out = fn()
        rows.append((name, time.time() - t0))
        return out

    corpus = work / "corpus"
    if not (corpus / "data" / "train" / "feats.scp").is_file():
        step(f"corpus build ({args.size})",
             lambda: make_corpus(corpus, size=args.size, seed=0, nj=args.nj))
    data, exp = corpus / "data", work / "exp"
    if not args.decode_only:
        _align_and_graphs(step, data, exp, args.nj)
    model = mono.load_model(exp / "mono")
    tables = {}
    splits = [s for s in ("dev", "test", "heldout") if (data / s).is_dir()]
    for split in splits:
        feats = load_features(data / split)
        utts = sorted(feats)[: args.max_utts or None]
        tables[split] = step(f"GMM log-likelihoods ({split})",
                             lambda f=feats, u=utts: {k: gmm.loglikes(model, f[k])
                                                      for k in u})
    results = {}
    for kind in ("phone", "word"):
        for split in splits:
            out = exp / f"decode_{split}_{kind}"
            step(f"decode {split}, {kind} graph",
                 lambda kind=kind, split=split, out=out: decode_loglikes(
                     tables[split], exp / f"graph_{kind}", out, nj=args.nj,
                     lmwts=[4, 6, 8, 10, 12, 14], wips=[0.0, 0.5, 1.0],
                     beam=args.beam, latbeam=args.lattice_beam))
            dev_dir = exp / f"decode_dev_{kind}" if split != "dev" else None
            results[(kind, split)] = (step(
                f"score {split}, {kind} graph",
                lambda out=out, split=split, dev_dir=dev_dir: score_sweep(
                    out, data / split, widen=dev_dir is None, select_from=dev_dir)),
                (out / "decode.log").read_text())
    phones = read_symbols(exp / "lang" / "phones.txt")
    per_frame = np.concatenate(list(mono.ali_to_phones_per_frame(exp / "mono")
                                    .values()))
    counts = mono.pdf_counts(exp / "mono")
    print(f"work folder: {work}; beam {args.beam:g}, lattice beam "
          f"{args.lattice_beam:g}")
    for split, table in tables.items():
        frames = sum(len(x) for x in table.values())
        print(f"{split}: {len(table)} utterances, {frames} frames "
              f"({frames / 100:.1f} s)")
    for name, sec in rows:
        print(f"{name:45s} {sec:8.2f} s")
    for ali in ("mono", "mono_dev", "mono_test"):
        boundary = exp / ali / "boundary_error.txt"
        if boundary.is_file():
            print(f"alignment {ali}: " + boundary.read_text().replace("\n", "  "))
    print(f"train alignment: SIL {int((per_frame == phones['SIL']).sum())} of "
          f"{len(per_frame)} frames; {int((counts == 0).sum())} of {len(counts)} pdfs "
          "unseen")
    for (kind, split), (summary, log) in results.items():
        rtf = next(x.split()[1] for x in log.splitlines() if x.startswith("real_time"))
        best = summary["best"]
        text = (f"{kind:5s} {split:7s}: RTF {rtf} (nj={args.nj}); best of grid "
                f"LMWT={best['lmwt']:g} WIP={best['wip']:g}: "
                f"{best['line'].split('[')[0]}")
        if "selected" in summary:
            sel = summary["selected"]
            text += (f"; dev-selected LMWT={sel['lmwt']:g} WIP={sel['wip']:g}: "
                     f"{sel['line'].split('[')[0]}")
        print(text)
    return 0


def _align_and_graphs(step, data: Path, exp: Path, nj: int) -> None:
    from pytorch_kaldi_snn.kaldi import hclg, lang, mono

    step("prepare_lang", lambda: lang.prepare_lang(data / "local" / "dict",
                                                   exp / "lang"))
    step("monophone training + train alignment",
         lambda: mono.train_mono_and_align(data / "train", exp / "lang", exp / "mono",
                                           nj=nj))
    for split in ("dev", "test"):
        step(f"{split} alignment",
             lambda split=split: mono.align_data(data / split, exp / "mono",
                                                 exp / f"mono_{split}", nj=nj))
    step("phone HCLG", lambda: hclg.make_phone_graph(exp / "lang", exp / "mono",
                                                     exp / "graph_phone"))
    step("word HCLG", lambda: hclg.make_word_graph(exp / "lang", exp / "mono",
                                                   data / "train" / "text",
                                                   exp / "graph_word"))


if __name__ == "__main__":
    raise SystemExit(main())
