"""Monophone GMM-HMM training and alignment with kaldi-hmm-gmm (``train_mono.sh``).

``exp_dir`` receives what a Kaldi alignment folder holds, in formats our readers and
kaldiio understand:

- ``ali.1.gz .. ali.<nj>.gz``: gzipped Kaldi int-vector arks of TRANSITION ids, one
  entry per utterance and one id per feature frame (utterances split in sorted order);
- ``final.mdl.pkl``: the model (kaldi-hmm-gmm TransitionModel, tree, AmDiagGmm; a
  pickle, see :mod:`.gmm`: the bindings cannot write Kaldi's binary ``final.mdl``),
  ``num_pdfs``, and from the lang folder ``phones.txt``, ``words.txt``, ``L.fst``,
  ``topo`` and ``phones/`` (so that :func:`align_data` needs no lang folder);
- ``boundary_error.txt`` when the data folder has the true phone timings.

``ali_to_pdf`` and ``ali_to_phones_per_frame`` are what ``ali-to-pdf`` and
``ali-to-phones --per-frame=true`` give.
"""

from __future__ import annotations

import glob
import logging
import multiprocessing as mp
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from pytorch_kaldi_snn.errors import DataError
from pytorch_kaldi_snn.kaldi import gmm
from pytorch_kaldi_snn.kaldi.flatstart import (
    silence_framed_graphs,
    training_graphs,
    utt_seed,
)
from pytorch_kaldi_snn.kaldi.gmm import MODEL_FILE, MonoModel
from pytorch_kaldi_snn.kaldi.io import (
    load_features,
    read_int_ali_gz,
    read_symbols,
    read_table,
    write_int_ali_gz,
    write_text,
)
from pytorch_kaldi_snn.kaldi.lang import load_lang

logger = logging.getLogger(__name__)
MODEL = MODEL_FILE
REALIGN = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 18}
_WORK: dict = {}


def _word_ids(data_dir: Path, words: dict[str, int]) -> dict[str, list[int]]:
    """Transcripts as word ids; a word missing from the lexicon is an error."""
    out = {}
    for utt, text in read_table(data_dir / "text", "text").items():
        ids = []
        for w in text.split():
            if w not in words:
                raise DataError(f"{data_dir / 'text'}: utterance {utt}: word {w!r} "
                                "is not in the lexicon (words.txt)")
            ids.append(words[w])
        out[utt] = ids
    return out


def _align_one(utt: str) -> tuple[str, list[int] | None]:
    return utt, gmm.align(_WORK["model"], _WORK["graphs"][utt], _WORK["feats"][utt],
                          utt)


def _align_all(model: MonoModel, graphs, feats, nj: int) -> dict[str, list[int]]:
    _WORK.update(model=model, graphs=graphs, feats=feats)
    utts = sorted(graphs)
    try:
        if nj > 1 and len(utts) >= 4 * nj:
            with mp.get_context("fork").Pool(nj) as pool:
                out = pool.map(_align_one, utts,
                               chunksize=max(1, len(utts) // (4 * nj)))
        else:
            out = [_align_one(u) for u in utts]
    finally:
        _WORK.clear()
    return {u: a for u, a in out if a is not None}


def _check_frames(data_dir: Path, feats, transcripts) -> None:
    missing = sorted(set(transcripts) - set(feats))
    if missing:
        raise DataError(f"{data_dir / 'feats.scp'}: no features for utterance "
                        f"{missing[0]} (listed in {data_dir / 'text'})")
    empty = [u for u in transcripts if len(feats[u]) == 0]
    if empty:
        raise DataError(f"{data_dir / 'feats.scp'}: utterance {empty[0]} has no frames")


def train_mono_and_align(data_dir, lang_dir, exp_dir, nj: int = 2, seed: int = 0,
                         num_iters: int = 20, totgauss: int = 1000) -> Path:
    """Train a monophone GMM-HMM on ``data_dir`` and write its alignments to
    ``exp_dir``.

    Flat start (equal alignment with ``seed``, see
    :func:`.flatstart.silence_framed_graphs`), ``num_iters`` EM passes with Viterbi
    realignment at passes 1-10, 12, ..., 18, Gaussians mixed up linearly towards
    ``totgauss`` over the first three quarters of the passes. Deterministic: same
    inputs, same bytes. Returns ``exp_dir``.
    """
    from tqdm import tqdm

    data_dir, lang_dir, exp_dir = Path(data_dir), Path(lang_dir), Path(exp_dir)
    lang = load_lang(lang_dir)
    transcripts = _word_ids(data_dir, lang.words)
    feats = load_features(data_dir)
    _check_frames(data_dir, feats, transcripts)
    model = gmm.init_mono(lang.topo_text(), lang.phones,
                          [feats[u] for u in sorted(transcripts)])
    graphs = training_graphs(model, lang_dir / "L.fst", lang.disambig, transcripts)
    framed = silence_framed_graphs(model, lang, transcripts)
    ali = {}
    for u in sorted(graphs):
        a = None
        if u in framed:
            a = gmm.equal_align(framed[u], len(feats[u]), utt_seed(u, seed))
        if a is None:
            a = gmm.equal_align(graphs[u], len(feats[u]), utt_seed(u, seed))
        if a is None:
            logger.warning("%s: utterance %s is too short for its transcript; skipped",
                           data_dir, u)
        else:
            ali[u] = a
    if not ali:
        raise DataError(f"{data_dir}: no utterance could be aligned")
    start = model.am.num_gauss
    grow = max(1, int(0.75 * num_iters))
    for it in tqdm(range(num_iters), desc="monophone training", disable=None):
        if it in REALIGN:
            ali.update(_align_all(model, graphs, feats, nj))
        acc, tstats, ll = gmm.accumulate(model, feats, ali)
        occs = gmm.update(model, acc, tstats)
        target = start + (totgauss - start) * min(it + 1, grow) // grow
        gmm.mix_up(model, occs, target)
        logger.debug("pass %d: log-likelihood per frame %.3f, %d Gaussians", it, ll,
                     model.am.num_gauss)
    final = _align_all(model, graphs, feats, nj)
    _finish_failed(final, graphs, feats, data_dir, seed)
    _write(exp_dir, model, final, nj, lang_dir)
    err = boundary_error(data_dir, exp_dir)
    logger.info("monophone model: %d pdfs, %d Gaussians; %d utterances aligned in %s%s",
                model.num_pdfs, model.am.num_gauss, len(final), exp_dir,
                "" if err is None else f"; median boundary error {err:.2f} frames")
    return exp_dir


def _finish_failed(ali, graphs, feats, data_dir: Path, seed: int) -> None:
    """Utterances the beam lost get an equal alignment, so every one has labels."""
    for u in sorted(set(graphs) - set(ali)):
        a = gmm.equal_align(graphs[u], len(feats[u]), utt_seed(u, seed))
        if a is None:
            raise DataError(f"{data_dir}: utterance {u} cannot be aligned: "
                            f"{len(feats[u])} frames are too few for its transcript")
        logger.warning("%s: utterance %s failed to align; equal alignment used",
                       data_dir, u)
        ali[u] = a


def align_data(data_dir, model_dir, out_dir, lang_dir=None, nj: int = 2,
               seed: int = 0) -> Path:
    """Align another data set (dev, test) with the model of ``model_dir``."""
    data_dir, model_dir, out_dir = Path(data_dir), Path(model_dir), Path(out_dir)
    model = MonoModel.load(model_dir / MODEL)
    src = Path(lang_dir) if lang_dir else model_dir
    words = read_symbols(src / "words.txt")
    dis_file = src / "phones" / "disambig.int"
    disambig = [int(x) for x in dis_file.read_text().split()] if dis_file.is_file() \
        else []
    transcripts = _word_ids(data_dir, words)
    feats = load_features(data_dir)
    _check_frames(data_dir, feats, transcripts)
    graphs = training_graphs(model, src / "L.fst", disambig, transcripts)
    ali = _align_all(model, graphs, feats, nj)
    _finish_failed(ali, graphs, feats, data_dir, seed)
    _write(out_dir, model, ali, nj, src)
    boundary_error(data_dir, out_dir)
    return out_dir


def _write(exp_dir: Path, model: MonoModel, ali: dict[str, list[int]], nj: int,
           lang_dir: Path) -> None:
    exp_dir.mkdir(parents=True, exist_ok=True)
    utts = sorted(ali)
    parts = np.array_split(np.arange(len(utts)), max(1, min(nj, len(utts))))
    written = set()
    for j, idx in enumerate(parts, 1):
        write_int_ali_gz(exp_dir / f"ali.{j}.gz", {utts[i]: ali[utts[i]] for i in idx})
        written.add(str(exp_dir / f"ali.{j}.gz"))
    for stale in set(glob.glob(str(exp_dir / "ali.*.gz"))) - written:
        os.unlink(stale)
    model.save(exp_dir / MODEL)
    write_text(exp_dir / "num_pdfs", f"{model.num_pdfs}\n")
    if lang_dir.resolve() != exp_dir.resolve():
        for name in ("phones.txt", "words.txt", "L.fst", "topo"):
            if (lang_dir / name).is_file():
                shutil.copyfile(lang_dir / name, exp_dir / name)
        if (lang_dir / "phones").is_dir():
            shutil.copytree(lang_dir / "phones", exp_dir / "phones",
                            dirs_exist_ok=True)


def _ali_files(ali_dir) -> list[str]:
    files = sorted(glob.glob(os.path.join(str(ali_dir), "ali.*.gz")),
                   key=lambda p: int(p.rsplit(".", 2)[-2]) if
                   p.rsplit(".", 2)[-2].isdigit() else 0)
    if not files:
        raise DataError(f"{ali_dir}: no ali.*.gz alignment files")
    return files


def load_model(ali_dir) -> MonoModel:
    """The model of an alignment folder (a real Kaldi ``final.mdl`` needs
    KALDI_ROOT)."""
    path = Path(ali_dir) / MODEL
    if not path.is_file() and (Path(ali_dir) / "final.mdl").is_file():
        raise DataError(f"{ali_dir}: holds a real Kaldi final.mdl; set KALDI_ROOT and "
                        "put Kaldi's binaries on PATH to read its alignments")
    return MonoModel.load(path)


def read_alignments(ali_dir) -> Iterator[tuple[str, np.ndarray]]:
    """Yield (utt, transition ids) from ``ali_dir/ali.*.gz`` in file order."""
    for path in _ali_files(ali_dir):
        yield from read_int_ali_gz(path)


def ali_to_pdf(model_or_dir: MonoModel | str | os.PathLike,
               ali: np.ndarray | None = None):
    """``ali-to-pdf``: with a model and one alignment, its pdf ids (ndarray); with an
    alignment folder, {utt: pdf ids} for all its utterances."""
    if ali is not None:
        return _lookup(model_or_dir.pdf_of(), ali, "pdf")
    model = load_model(model_or_dir)
    table = model.pdf_of()
    return {u: _lookup(table, a, "pdf", model_or_dir, u)
            for u, a in read_alignments(model_or_dir)}


def ali_to_phones_per_frame(model_or_dir, ali: np.ndarray | None = None):
    """``ali-to-phones --per-frame=true``: phone ids of phones.txt per frame."""
    if ali is not None:
        return _lookup(model_or_dir.phone_of(), ali, "phone")
    model = load_model(model_or_dir)
    table = model.phone_of()
    return {u: _lookup(table, a, "phone", model_or_dir, u)
            for u, a in read_alignments(model_or_dir)}


def _lookup(table: np.ndarray, ali, what: str, where=None, utt=None) -> np.ndarray:
    ali = np.asarray(ali, dtype=np.int64)
    if len(ali) and (ali.min() < 1 or ali.max() >= len(table)):
        raise DataError(f"{where or 'alignment'}: utterance {utt}: transition id "
                        f"{int(ali.max())} outside the model's 1..{len(table) - 1} "
                        "(alignment and model do not match)")
    return table[ali]


def phone_sequence(model: MonoModel, ali) -> list[int]:
    """``ali-to-phones``: the phone ids of an alignment, one per phone occurrence."""
    ali = np.asarray(ali, dtype=np.int64)
    start = model.phone_start()[ali]
    start[:1] = True
    return [int(p) for p in model.phone_of()[ali[start]]]


def check_alignments(ali_dir, data_dir) -> int:
    """Every utterance of ``data_dir/feats.scp`` has an alignment with as many frames as
    its features; DataError naming the file and the utterance otherwise. Returns the
    number of utterances checked."""
    from pytorch_kaldi_snn.kaldi.io import read_feats_scp

    tids = dict(read_alignments(ali_dir))
    n = 0
    for utt, x in read_feats_scp(Path(data_dir) / "feats.scp"):
        if utt not in tids:
            raise DataError(f"{ali_dir}/ali.*.gz: no alignment for utterance {utt} of "
                            f"{data_dir}/feats.scp")
        if len(tids[utt]) != len(x):
            raise DataError(f"{ali_dir}/ali.*.gz: utterance {utt} has {len(tids[utt])} "
                            f"aligned frames but {len(x)} feature frames in "
                            f"{data_dir}/feats.scp")
        n += 1
    return n


def num_pdfs(ali_dir) -> int:
    """Number of pdfs of the folder's model."""
    path = Path(ali_dir) / "num_pdfs"
    if path.is_file():
        return int(path.read_text().split()[0])
    return load_model(ali_dir).num_pdfs


def pdf_counts(ali_dir) -> np.ndarray:
    """Frames per pdf over the alignments (priors: counts / counts.sum())."""
    n = num_pdfs(ali_dir)
    counts = np.zeros(n, dtype=np.int64)
    for a in ali_to_pdf(ali_dir).values():
        counts += np.bincount(a, minlength=n)
    return counts


def boundary_error(data_dir, ali_dir) -> float | None:
    """Median |aligned - true| onset (frames) of non-silence phones, from
    ``phone_times.txt`` (``utt start end phone`` in frames); utterances whose
    non-silence phone sequences differ are skipped. Writes boundary_error.txt."""
    truth_file = Path(data_dir) / "phone_times.txt"
    if not truth_file.is_file():
        return None
    truth: dict[str, list[tuple[int, str]]] = {}
    for line in truth_file.read_text().splitlines():
        parts = line.split()
        if len(parts) == 4:
            truth.setdefault(parts[0], []).append((int(parts[1]), parts[3]))
    model = load_model(ali_dir)
    names = {i: p for p, i in model.phones.items()}
    sil = set()
    if (Path(ali_dir) / "phones.txt").is_file():
        names = {i: p for p, i in read_symbols(Path(ali_dir) / "phones.txt").items()}
    sil = {p for p in names.values() if p.upper() in ("SIL", "!SIL", "<SIL>", "SPN")}
    start_tab, phone_tab = model.phone_start(), model.phone_of()
    errors = []
    for utt, a in read_alignments(ali_dir):
        a = np.asarray(a, dtype=np.int64)
        starts = np.flatnonzero(start_tab[a])
        hyp = [(int(t), names[int(phone_tab[a[t]])]) for t in starts]
        hyp = [h for h in hyp if h[1] not in sil]
        ref = [r for r in truth.get(utt, []) if r[1] not in sil]
        if ref and [p for _, p in ref] == [p for _, p in hyp]:
            errors += [abs(r[0] - h[0]) for r, h in zip(ref, hyp)]
    if not errors:
        return None
    med = float(np.median(errors))
    write_text(Path(ali_dir) / "boundary_error.txt",
                      f"median_boundary_error_frames {med:.2f}\n"
                      f"phones_compared {len(errors)}\n")
    return med
