"""MFCC / fbank features and per-speaker CMVN statistics for a Kaldi data dir
(Kaldi's ``make_mfcc.sh`` / ``make_fbank.sh`` + ``compute_cmvn_stats.sh``, pip-only).

``python -m pytorch_kaldi_snn.datasets.features DATA_DIR OUT_DIR --kind mfcc`` copies
the data dir's tables to OUT_DIR (which may be DATA_DIR itself) and writes
``feats.ark`` / ``feats.scp`` and ``cmvn.ark`` / ``cmvn.scp`` there.

MFCC: 13 cepstra (Kaldi defaults: 25 ms windows every 10 ms, 23 mel bins, c0 energy
replaced by log energy); fbank: 40 log mel bins. No dither, so features are
reproducible. CMVN statistics per speaker: ``[[sum_t x_t, T], [sum_t x_t^2, 0]]``.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import shutil
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pytorch_kaldi_snn.corpus.audio import cmvn_stats
from pytorch_kaldi_snn.datasets.audio import read_audio
from pytorch_kaldi_snn.errors import ConfigError, DataError

logger = logging.getLogger(__name__)
KINDS = ("mfcc", "fbank")
TABLES = ("wav.scp", "text", "utt2spk", "spk2utt", "text_phones", "phone_times.txt")


def extract(samples: np.ndarray, rate: int, kind: str) -> np.ndarray:
    """[T, D] float32 features of int16-scale samples (D = 13 for mfcc, 40 for
    fbank)."""
    import kaldi_native_fbank as knf

    if kind == "mfcc":
        opts = knf.MfccOptions()
        make = knf.OnlineMfcc
    elif kind == "fbank":
        opts = knf.FbankOptions()
        opts.mel_opts.num_bins = 40
        make = knf.OnlineFbank
    else:
        raise ConfigError("unknown feature kind", key="kind", value=kind,
                          allowed=KINDS)
    opts.frame_opts.dither = 0.0
    opts.frame_opts.samp_freq = float(rate)
    ex = make(opts)
    ex.accept_waveform(float(rate), samples.astype(np.float32).tolist())
    ex.input_finished()
    n = ex.num_frames_ready
    if n == 0:
        raise DataError(f"audio of {len(samples)} samples is shorter than one frame")
    return np.stack([np.asarray(ex.get_frame(i)) for i in range(n)]).astype(np.float32)


def _one(job: tuple[str, str, str]) -> tuple[str, np.ndarray]:
    utt, path, kind = job
    samples, rate = read_audio(path)
    try:
        return utt, extract(samples, rate, kind)
    except DataError as e:
        raise DataError(f"{path} (utterance {utt}): {e}") from None


def _read_table(path: Path) -> list[tuple[str, str]]:
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split(None, 1)
        if not parts:
            continue
        if len(parts) < 2:
            raise DataError(f"{path}:{n}: expected 'key value', got {line!r}")
        rows.append((parts[0], parts[1].strip()))
    return rows


def compute_features(data_dir, out_dir=None, kind: str = "mfcc", nj: int = 2) -> Path:
    """Features of every utterance in ``data_dir/wav.scp`` into ``out_dir`` (default:
    ``data_dir``), with the data dir's tables copied beside them."""
    if kind not in KINDS:
        raise ConfigError("unknown feature kind", key="kind", value=kind, allowed=KINDS)
    data_dir = Path(data_dir)
    out = Path(out_dir) if out_dir else data_dir
    wav_scp = data_dir / "wav.scp"
    if not wav_scp.is_file():
        raise DataError(f"{wav_scp}: missing (not a Kaldi data dir)")
    out.mkdir(parents=True, exist_ok=True)
    if out.resolve() != data_dir.resolve():
        for name in TABLES:
            if (data_dir / name).is_file():
                shutil.copyfile(data_dir / name, out / name)
    jobs = [(u, p, kind) for u, p in _read_table(wav_scp)]
    utt2spk = dict(_read_table(data_dir / "utt2spk"))
    feats: dict[str, np.ndarray] = {}
    bar = {"total": len(jobs), "desc": f"{kind} {data_dir.name}", "disable": None}
    if nj > 1 and len(jobs) > 1:
        with mp.get_context("fork").Pool(nj) as pool:
            for utt, x in tqdm(pool.imap(_one, jobs, chunksize=8), **bar):
                feats[utt] = x
    else:
        for utt, x in tqdm(map(_one, jobs), **bar):
            feats[utt] = x
    _write_arks(out, feats, utt2spk)
    logger.info("%s features of %d utterances in %s", kind, len(feats), out)
    return out


def _write_arks(out: Path, feats: dict[str, np.ndarray], utt2spk: dict[str, str]):
    import kaldiio

    by_spk: dict[str, list[np.ndarray]] = {}
    for utt in sorted(feats):
        if utt not in utt2spk:
            raise DataError(f"{out}: utterance {utt} is not in utt2spk")
        by_spk.setdefault(utt2spk[utt], []).append(feats[utt])
    for name, items in (("feats", [(u, feats[u]) for u in sorted(feats)]),
                        ("cmvn", [(s, cmvn_stats(v))
                                  for s, v in sorted(by_spk.items())])):
        ark, scp = out / f"{name}.ark", out / f"{name}.scp"
        tmp_ark, tmp_scp = out / f".{name}.tmp.ark", out / f".{name}.tmp.scp"
        with kaldiio.WriteHelper(f"ark,scp:{tmp_ark},{tmp_scp}") as w:
            for key, mat in items:
                w(key, mat)
        # The scp names the ark it points into: rewrite it for the final name.
        text = tmp_scp.read_text().replace(str(tmp_ark), str(ark))
        tmp_ark.replace(ark)
        tmp_scp.write_text(text)
        tmp_scp.replace(scp)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data_dir", help="Kaldi data dir with wav.scp and utt2spk")
    p.add_argument("out_dir", nargs="?", default=None,
                   help="where feats/cmvn go, with the tables copied "
                   "(default: data_dir)")
    p.add_argument("--kind", choices=KINDS, default="mfcc",
                   help="mfcc (13 dims) or fbank (40 log mel bins)")
    p.add_argument("--nj", type=int, default=2, help="parallel processes")


def run(args: argparse.Namespace) -> int:
    """``pytorch-kaldi-snn compute-features``; the console script sets up logging
    and turns errors into one line."""
    out = compute_features(args.data_dir, args.out_dir, args.kind, args.nj)
    print(f"{args.kind} features written to {out}/feats.scp")
    return 0


if __name__ == "__main__":  # python -m: the same as the subcommand
    from pytorch_kaldi_snn.cli import main

    sys.exit(main(["compute-features", *sys.argv[1:]]))
