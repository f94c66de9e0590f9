"""Test PER of the monophone GMM itself (the labels' source) with the network's
decoder and graph: ``python recipes/demo/local/gmm_per.py DIR [--lmwts L --wips W]``.

Writes ``DIR/mono_test_decode/`` (hyp_*, wer_*, best_wer) from the GMM's test-set
log-likelihoods log p(x_t | pdf) on the phone-bigram graph of the demo; the features
are the model's own (MFCC + deltas, per-speaker CMVN). For the headroom comparison of
docs/benchmark.md: a network's PER against its labels' model under the same grids.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dir", help="demo working folder (corpus/, mono/, graph_phone/)")
    p.add_argument("--lmwts", default="4,6,8,10,13,16,20", help="LM weights")
    p.add_argument("--wips", default="-2,-1,0,0.5,1", help="insertion penalties")
    p.add_argument("--nj", type=int, default=1, help="decoding processes")
    args = p.parse_args(argv)
    from pytorch_kaldi_snn.kaldi import decode_loglikes, score_dir
    from pytorch_kaldi_snn.kaldi.hmm import MonophoneModel
    from pytorch_kaldi_snn.kaldi.io import load_features

    d = Path(args.dir)
    model = MonophoneModel.load(d / "mono" / "model.pkl")
    data = d / "corpus" / "data" / "test"
    table = {u: model.log_likelihoods(x) for u, x in load_features(data).items()}
    out = d / "mono_test_decode"
    decode_loglikes(table, d / "graph_phone", out, nj=args.nj,
                    lmwts=[float(x) for x in args.lmwts.split(",")],
                    wips=[float(x) for x in args.wips.split(",")])
    print(score_dir(out, data)[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
