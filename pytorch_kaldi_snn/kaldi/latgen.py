r"""Decoding network output with HCLG: what Kaldi's ``latgen-faster-mapped`` +
scoring do.

For each utterance the ``[T, num_pdfs]`` pseudo log-likelihoods (log-posteriors minus
log-priors) are spread over transition ids and scaled,
:math:`m_{t, k-1} = \mathrm{acwt} \cdot \ell_{t,\, \mathrm{pdf}(k)}` for transition id
:math:`k`, wrapped in kaldi-decoder's ``DecodableCtc`` and searched with its
``LatticeSimpleDecoder`` (beam ``beam``, lattice beam ``latbeam``). The raw lattice
(graph cost :math:`g` and acoustic cost :math:`a`, unscaled, per arc) is then rescored
as Kaldi's ``lattice-scale --inv-acoustic-scale=LMWT | lattice-add-penalty
--word-ins-penalty=WIP | lattice-best-path`` (:mod:`.lattice`) for every (LMWT, WIP)
pair in one pass. Utterances are split over ``nj`` worker processes.

``out_dir`` receives what Kaldi's decode folders hold: ``lat.1.gz`` (the raw lattices,
a Kaldi text lattice archive; more LM weights later need no new search, see
:func:`.lattice.rescore`), ``hyp_<LMWT>_<WIP>.txt`` (``utt words``), plus
``words.txt`` (a copy of the graph's), ``graph_kind`` and ``decode.log`` (frames, wall
seconds, real-time factor, worker CPU seconds and CPU real-time factor, graph).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Union

import numpy as np

from pytorch_kaldi_snn.errors import DataError
from pytorch_kaldi_snn.kaldi.gmm import MODEL_FILE, MonoModel
from pytorch_kaldi_snn.kaldi.io import (
    read_fst,
    read_matrices,
    read_symbols,
    write_text,
)
from pytorch_kaldi_snn.kaldi.lattice import (
    best_paths,
    parse_lattice,
    write_hyps,
    write_lattices,
)

logger = logging.getLogger(__name__)
LoglikesLike = Union[Mapping[str, np.ndarray], str, Path, Sequence[str]]
_WORK: dict = {}
STALE = ("hyp_*.txt", "wer_*", "best_wer", "scoring.json", "dev_selected_wer",
         "lat.*.gz")


def _decode_one(utt: str):
    from pytorch_kaldi_snn.kaldi._backend import kaldi_decoder

    w = _WORK
    t0 = time.process_time()
    ll = w["loglikes"][utt]
    m = np.ascontiguousarray(w["acwt"] * ll[:, w["pdf_of"][1:]], dtype=np.float32)
    dec = w["decoder"]
    dec.decode(kaldi_decoder.DecodableCtc(m))
    ok, lat = dec.get_raw_lattice()
    if not ok or lat.num_states == 0:
        logger.warning("utterance %s: no path reached a final state", utt)
        empty = (np.zeros((0, 4), np.int64), np.zeros((0, 2)), {})
        return (utt, [[] for _ in w["scales"]], len(ll), (empty, 0),
                time.process_time() - t0)
    arcs, weights, finals = parse_lattice(lat.to_str(show_weight_one=True))
    weights[:, 1] /= w["acwt"]  # stored unscaled, as latgen-faster-mapped does
    for f in finals.values():
        f[1] /= w["acwt"]
    paths = best_paths(arcs, weights, finals, lat.start, w["scales"], w["wips"])
    return (utt, paths, len(ll), ((arcs, weights, finals), int(lat.start)),
            time.process_time() - t0)


def load_loglikes(loglikes: LoglikesLike) -> dict[str, np.ndarray]:
    """{utt: [T, C]} from a mapping, an ark/scp path or a list of them."""
    if isinstance(loglikes, Mapping):
        return {k: np.asarray(v, dtype=np.float32) for k, v in loglikes.items()}
    paths = [loglikes] if isinstance(loglikes, (str, Path)) else list(loglikes)
    table: dict[str, np.ndarray] = {}
    for p in paths:
        table.update(read_matrices(str(p)))
    return table


def decode_loglikes(loglikes: LoglikesLike, graph_dir, out_dir, *, exp_dir=None,
                    acwt: float = 0.1, beam: float = 13.0, latbeam: float = 6.0,
                    lmwts: Iterable[float] = range(1, 21),
                    wips: Iterable[float] = (0.0, 0.5, 1.0), nj: int = 2,
                    **_kaldi_options) -> Path:
    """Decode pseudo log-likelihoods with ``graph_dir/HCLG.fst``; see the module text.

    ``exp_dir`` (optional) is checked to hold the same model as the graph. Kaldi
    options without an equivalent here (max_active, min_active, max_mem, ...) are
    accepted and ignored. Returns ``out_dir``.
    """
    from tqdm import tqdm

    from pytorch_kaldi_snn.kaldi._backend import kaldi_decoder

    graph_dir, out_dir = Path(graph_dir), Path(out_dir)
    model = MonoModel.load(graph_dir / MODEL_FILE)
    if exp_dir is not None:
        other = MonoModel.load(Path(exp_dir) / MODEL_FILE)
        if (other.tm.num_transition_ids != model.tm.num_transition_ids
                or other.num_pdfs != model.num_pdfs):
            raise DataError(f"{graph_dir}: graph was built for a different model than "
                            f"{exp_dir} ({model.num_pdfs} vs {other.num_pdfs} pdfs)")
    words = {i: w for w, i in read_symbols(graph_dir / "words.txt").items()}
    table = load_loglikes(loglikes)
    for utt, m in table.items():
        if m.ndim != 2 or m.shape[1] != model.num_pdfs:
            raise DataError(f"utterance {utt}: log-likelihoods of shape {m.shape} "
                            f"do not match the graph's model ({model.num_pdfs} pdfs, "
                            f"{graph_dir})")
        if not np.isfinite(m).all():
            raise DataError(f"utterance {utt}: log-likelihoods contain NaN or inf")
    grid = [(float(a), float(b)) for a in lmwts for b in wips]
    if not grid or min(a for a, _ in grid) <= 0 or acwt <= 0:
        raise DataError(f"acwt and every LM weight must be > 0 (acwt={acwt})")
    cfg = kaldi_decoder.LatticeSimpleDecoderConfig(beam=float(beam),
                                                   lattice_beam=float(latbeam))
    fst = read_fst(graph_dir / "HCLG.fst")  # the decoder keeps only a pointer to it
    _WORK.update(fst=fst, decoder=kaldi_decoder.LatticeSimpleDecoder(fst, cfg),
                 loglikes=table, acwt=float(acwt),
        pdf_of=model.pdf_of(), scales=np.array([1.0 / a for a, _ in grid]),
        wips=np.array([b for _, b in grid]))
    utts = sorted(table)
    t0 = time.time()
    try:
        if nj > 1 and len(utts) >= 2 * nj:
            with mp.get_context("fork").Pool(nj) as pool:
                results = list(tqdm(pool.imap(_decode_one, utts,
                                              chunksize=max(1, len(utts) // (4 * nj))),
                                    total=len(utts), desc="decoding", disable=None))
        else:
            results = [_decode_one(u) for u in tqdm(utts, desc="decoding",
                                                    disable=None)]
    finally:
        _WORK.clear()
    seconds = time.time() - t0
    frames = sum(r[2] for r in results)
    out_dir.mkdir(parents=True, exist_ok=True)
    for pattern in STALE:  # results of an earlier decode into this folder
        for old in out_dir.glob(pattern):
            old.unlink()
    write_lattices(out_dir / "lat.1.gz", {r[0]: r[3] for r in results})
    shutil.copyfile(graph_dir / "words.txt", out_dir / "words.txt")
    write_hyps(out_dir, words, [(r[0], r[1]) for r in results], grid)
    kind_file = graph_dir / "graph_kind"
    write_text(out_dir / "graph_kind",
               (kind_file.read_text().strip() if kind_file.is_file() else "word")
               + "\n")
    rtf = seconds / max(frames * 0.01, 1e-9)
    cpu = sum(r[4] for r in results)  # worker CPU time: what a loaded machine hides
    write_text(out_dir / "decode.log",
               f"utterances {len(utts)}\nframes {frames}\nseconds {seconds:.3f}\n"
               f"nj {nj}\nreal_time_factor {rtf:.4f}\ncpu_seconds {cpu:.3f}\n"
               f"cpu_real_time_factor {cpu / max(frames * 0.01, 1e-9):.4f}\n"
               f"graph {graph_dir}\n")
    logger.info("decoded %d utterances (%d frames) x %d settings in %.1f s (RTF %.3f)",
                len(utts), frames, len(grid), seconds, rtf)
    return out_dir
