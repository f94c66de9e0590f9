"""Benchmark of the pip-only Kaldi path: corpus build, alignment time, decoding RTF.

    python bench/bench_decode.py --size small --nj 2 [--work DIR]

Builds the demo corpus (or reuses ``--work/corpus``), trains the kaldi-hmm-gmm
monophone model and aligns train and dev, builds the phone-bigram and word-bigram HCLG,
then decodes dev with the GMM's own log-likelihoods (acwt 0.1) and prints the seconds of
each step, the decoding real-time factor (decoding seconds / seconds of speech at 10 ms
per frame, over ``nj`` processes) and the best PER / WER of the LM-weight sweep.
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
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from pytorch_kaldi_snn.corpus import make_corpus
    from pytorch_kaldi_snn.kaldi import gmm, hclg, langfst, mono
    from pytorch_kaldi_snn.kaldi.fstio import load_features
    from pytorch_kaldi_snn.kaldi.latgen import decode_loglikes
    from pytorch_kaldi_snn.kaldi.score import score_dir

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
    step("prepare_lang", lambda: langfst.prepare_lang(data / "local" / "dict",
                                                      exp / "lang"))
    step("monophone training + train alignment",
         lambda: mono.train_mono_and_align(data / "train", exp / "lang", exp / "mono",
                                           nj=args.nj))
    step("dev alignment", lambda: mono.align_data(data / "dev", exp / "mono",
                                                  exp / "mono_dev", nj=args.nj))
    step("phone HCLG", lambda: hclg.make_phone_graph(exp / "lang", exp / "mono",
                                                     exp / "graph_phone"))
    step("word HCLG", lambda: hclg.make_word_graph(exp / "lang", exp / "mono",
                                                   data / "train" / "text",
                                                   exp / "graph_word"))
    model = mono.load_model(exp / "mono")
    feats = load_features(data / "dev")
    utts = sorted(feats)[: args.max_utts or None]
    table = step("GMM log-likelihoods (dev)",
                 lambda: {u: gmm.loglikes(model, feats[u]) for u in utts})
    results = {}
    for kind in ("phone", "word"):
        out = step(f"decode dev, {kind} graph",
                   lambda kind=kind: decode_loglikes(table, exp / f"graph_{kind}",
                                                     exp / f"decode_dev_{kind}",
                                                     nj=args.nj))
        results[kind] = (score_dir(out, data / "dev")[0],
                         (out / "decode.log").read_text())
    frames = sum(len(table[u]) for u in utts)
    boundary = (exp / "mono" / "boundary_error.txt")
    print(f"work folder: {work}")
    print(f"dev: {len(utts)} utterances, {frames} frames ({frames / 100:.1f} s)")
    for name, sec in rows:
        print(f"{name:45s} {sec:8.2f} s")
    if boundary.is_file():
        print("alignment " + boundary.read_text().splitlines()[0])
    for kind, (line, log) in results.items():
        rtf = next(x.split()[1] for x in log.splitlines() if x.startswith("real_time"))
        print(f"{kind:5s} graph: RTF {rtf} (nj={args.nj}, 60 LMWT x WIP settings); "
              f"{line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
