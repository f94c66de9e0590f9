"""Monophone training and alignment (Kaldi's train_mono.sh + align_si.sh, pip-only).

Outputs in ``exp_dir``: ``ali.1.gz`` (a gzipped Kaldi int-vector ark of per-frame pdf
ids: our model has no separate transition ids, so ``ali-to-pdf`` is the identity here),
``model.pkl`` (:class:`~.hmm.MonophoneModel`), ``num_pdfs``, ``phones.txt`` and, when
the data has true phone timings, ``boundary_error.txt``.
"""

from __future__ import annotations

import glob
import logging
import multiprocessing as mp
import os
import shutil
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from pytorch_kaldi_snn.errors import DataError
from pytorch_kaldi_snn.kaldi import hmm
from pytorch_kaldi_snn.kaldi.io import (
    atomic_write_text,
    load_features,
    read_int_vectors,
    read_table,
    write_int_vectors,
)
from pytorch_kaldi_snn.kaldi.lang import read_lexicon, read_symbols

logger = logging.getLogger(__name__)
MODEL = "model.pkl"
_WORK: dict = {}


def _transcripts(data_dir: Path, lang_dir: Path,
                 phones: List[str]) -> Dict[str, List[str]]:
    """Phone transcripts: text_phones when the corpus knows them, else text + lexicon
    (first pronunciation) with optional silence at both ends."""
    known = set(phones)
    if (data_dir / "text_phones").is_file():
        table = {u: v.split() for u, v in read_table(data_dir / "text_phones").items()}
    else:
        lex = {}
        for w, p in read_lexicon(lang_dir / "lexicon.txt"):
            lex.setdefault(w, p)
        sil = (lang_dir / "phones" / "optional_silence.txt").read_text().split()[0]
        table = {}
        for utt, text in read_table(data_dir / "text").items():
            seq = [sil]
            for w in text.split():
                if w not in lex:
                    raise DataError(f"{data_dir / 'text'}: utterance {utt}: word {w!r} "
                                    f"is not in {lang_dir / 'lexicon.txt'}")
                seq += lex[w]
            table[utt] = seq + [sil]
    for utt, seq in table.items():
        bad = [p for p in seq if p not in known]
        if bad:
            raise DataError(f"{data_dir}: utterance {utt} has phones {bad} unknown to "
                            f"{lang_dir / 'phones.txt'}")
    return table


def _model_phones(lang_dir: Path):
    table = read_symbols(lang_dir / "phones.txt")
    items = [(p, i) for p, i in table.items() if p != "<eps>" and not p.startswith("#")]
    items.sort(key=lambda x: x[1])
    return [p for p, _ in items], [i for _, i in items]


def _align_one(utt: str):
    model, feats, chains = _WORK["model"], _WORK["feats"], _WORK["chains"]
    ll = model.log_likelihoods(feats[utt], chains[utt])
    try:
        return utt, hmm.viterbi_chain(ll, chains[utt], model.log_stay,
                                      model.log_move)[0]
    except ValueError:
        return utt, None


def _align_all(model, feats, chains, nj: int) -> Dict[str, np.ndarray]:
    _WORK.update(model=model, feats=feats, chains=chains)
    utts = sorted(chains)
    if nj > 1 and len(utts) > 8:
        with mp.get_context("fork").Pool(nj) as pool:
            out = pool.map(_align_one, utts, chunksize=8)
    else:
        out = [_align_one(u) for u in utts]
    failed = [u for u, a in out if a is None]
    if failed:
        logger.warning("%d utterances failed to align (e.g. %s)", len(failed),
                       failed[0])
    return {u: a for u, a in out if a is not None}


def _transitions(ali: Dict[str, np.ndarray], num_pdfs: int):
    frames = np.ones(num_pdfs)
    leaves = np.ones(num_pdfs)
    for a in ali.values():
        frames += np.bincount(a, minlength=num_pdfs)
        change = np.flatnonzero(np.diff(a) != 0)
        leaves += np.bincount(a[change], minlength=num_pdfs)
    p_move = np.clip(leaves / frames, 0.02, 0.98)
    return np.log(1 - p_move), np.log(p_move)


def train_mono_and_align(data_dir, lang_dir, exp_dir, nj: int = 2, seed: int = 0,
                         num_iters: int = 6, max_gauss: int = 4) -> Path:
    """Flat start, EM with Viterbi realignment, Gaussian splitting; writes exp_dir.

    Deterministic (no random initialisation); ``seed`` is kept for the API.
    """
    data_dir, lang_dir, exp_dir = Path(data_dir), Path(lang_dir), Path(exp_dir)
    phones, ids = _model_phones(lang_dir)
    index = {p: i for i, p in enumerate(phones)}
    trans = _transcripts(data_dir, lang_dir, phones)
    feats = load_features(data_dir)
    missing = sorted(set(trans) - set(feats))
    if missing:
        raise DataError(f"{data_dir / 'feats.scp'}: no features for utterance "
                        f"{missing[0]}")
    chains = {u: hmm.chain_pdfs(index, trans[u]) for u in sorted(trans)}
    num_pdfs = hmm.NUM_STATES * len(phones)
    allx = np.concatenate([feats[u] for u in chains])
    floor = 0.01 * allx.var(0)
    ali = {}
    for u, c in chains.items():
        try:
            ali[u] = hmm.equal_alignment(c, len(feats[u]))
        except ValueError:
            logger.warning("utterance %s is too short for its transcript", u)
    model = None
    from tqdm import tqdm

    for it in tqdm(range(num_iters + 1), desc="monophone training", disable=None):
        n_mix = min(max_gauss, 1 + it // 2)
        means, variances, log_w = hmm._estimate(feats, ali, num_pdfs, model, n_mix,
                                                floor)
        stay, move = _transitions(ali, num_pdfs)
        model = hmm.MonophoneModel(phones, ids, means, variances, log_w, stay, move)
        if it < num_iters:
            ali = _align_all(model, feats, chains, nj)
    model.info = {"num_pdfs": num_pdfs, "gaussians_per_state": int(means.shape[1]),
                  "iterations": num_iters, "utterances": len(ali)}
    _write(exp_dir, model, ali, lang_dir)
    err = boundary_error(data_dir, exp_dir)
    logger.info("monophone model: %d pdfs; alignments in %s%s", num_pdfs, exp_dir,
                "" if err is None else f"; median boundary error {err:.1f} frames")
    return exp_dir


def align_data(data_dir, model_dir, out_dir, lang_dir=None, nj: int = 2) -> Path:
    """Align another data set (dev, test) with an existing model."""
    data_dir, model_dir, out_dir = Path(data_dir), Path(model_dir), Path(out_dir)
    model = hmm.MonophoneModel.load(model_dir / MODEL)
    lang_dir = Path(lang_dir) if lang_dir else model_dir
    index = {p: i for i, p in enumerate(model.phones)}
    trans = _transcripts(data_dir, lang_dir, model.phones)
    feats = load_features(data_dir)
    chains = {u: hmm.chain_pdfs(index, trans[u]) for u in sorted(trans) if u in feats}
    ali = _align_all(model, feats, chains, nj)
    _write(out_dir, model, ali, model_dir)
    boundary_error(data_dir, out_dir)
    return out_dir


def _write(exp_dir: Path, model, ali, lang_dir: Path) -> None:
    exp_dir.mkdir(parents=True, exist_ok=True)
    model.save(exp_dir / MODEL)
    write_int_vectors(exp_dir / "ali.1.gz", sorted(ali.items()))
    atomic_write_text(exp_dir / "num_pdfs", f"{model.num_pdfs}\n")
    if (lang_dir / "phones.txt").is_file() and lang_dir != exp_dir:
        shutil.copyfile(lang_dir / "phones.txt", exp_dir / "phones.txt")


def _ali_files(ali_dir) -> List[str]:
    files = sorted(glob.glob(os.path.join(str(ali_dir), "ali.*.gz")))
    if not files:
        raise DataError(f"{ali_dir}: no ali.*.gz alignment files")
    return files


def _hclg_dir(ali_dir) -> bool:
    """A folder written by :mod:`.mono` (transition ids + final.mdl.pkl)."""
    return (Path(ali_dir) / "final.mdl.pkl").is_file() and \
        not (Path(ali_dir) / MODEL).is_file()


def ali_to_pdf(ali_dir) -> Dict[str, np.ndarray]:
    """Per-frame pdf ids (what ``ali-to-pdf`` gives); folders of the HCLG path
    (:mod:`.mono`) are mapped through their transition model."""
    if _hclg_dir(ali_dir):
        from pytorch_kaldi_snn.kaldi import mono

        return mono.ali_to_pdf(ali_dir)
    return read_int_vectors(_ali_files(ali_dir))


def ali_to_phones_per_frame(ali_dir) -> Dict[str, np.ndarray]:
    """Per-frame phone ids of phones.txt (``ali-to-phones --per-frame=true``)."""
    if _hclg_dir(ali_dir):
        from pytorch_kaldi_snn.kaldi import mono

        return mono.ali_to_phones_per_frame(ali_dir)
    model = hmm.MonophoneModel.load(Path(ali_dir) / MODEL)
    table = model.pdf_to_phone_id()
    return {u: table[a] for u, a in ali_to_pdf(ali_dir).items()}


def num_pdfs(ali_dir) -> int:
    if _hclg_dir(ali_dir):
        from pytorch_kaldi_snn.kaldi import mono

        return mono.num_pdfs(ali_dir)
    return hmm.MonophoneModel.load(Path(ali_dir) / MODEL).num_pdfs


def pdf_counts(ali_dir) -> np.ndarray:
    """Frame counts per pdf over the alignments (for priors)."""
    n = num_pdfs(ali_dir)
    counts = np.zeros(n, dtype=np.int64)
    for a in ali_to_pdf(ali_dir).values():
        counts += np.bincount(a, minlength=n)
    return counts


def boundary_error(data_dir, ali_dir) -> Optional[float]:
    """Median |aligned - true| phone onset in frames, when phone_times.txt exists."""
    truth_file = Path(data_dir) / "phone_times.txt"
    if not truth_file.is_file():
        return None
    truth: Dict[str, List[int]] = {}
    for line in truth_file.read_text().splitlines():
        utt, start, _end, _p = line.split()
        truth.setdefault(utt, []).append(int(start))
    errors = []
    for utt, a in ali_to_pdf(ali_dir).items():
        starts = [0] + [int(i) + 1
                        for i in np.flatnonzero(np.diff(a // hmm.NUM_STATES) != 0)]
        ref = truth.get(utt, [])
        # Same phone sequence -> same number of onsets unless a phone was skipped.
        if len(ref) == len(starts):
            errors += list(np.abs(np.asarray(ref) - np.asarray(starts)))
    if not errors:
        return None
    med = float(np.median(errors))
    atomic_write_text(Path(ali_dir) / "boundary_error.txt",
                      f"median_boundary_error_frames {med:.2f}\n"
                      f"phones_compared {len(errors)}\n")
    return med
