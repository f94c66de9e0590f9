r"""Decoding network output with HCLG: what Kaldi's ``latgen-faster-mapped`` +
scoring do.

For each utterance the ``[T, num_pdfs]`` pseudo log-likelihoods (log-posteriors minus
log-priors) are spread over transition ids and scaled,
:math:`m_{t, k-1} = \mathrm{acwt} \cdot \ell_{t,\, \mathrm{pdf}(k)}` for transition id
:math:`k`, wrapped in kaldi-decoder's ``DecodableCtc`` and searched with its
``LatticeSimpleDecoder`` (beam ``beam``, lattice beam ``latbeam``). The raw lattice
(graph cost :math:`g` and scaled acoustic cost :math:`a` per arc) is then rescored as
Kaldi's ``lattice-scale --inv-acoustic-scale=LMWT | lattice-add-penalty
--word-ins-penalty=WIP | lattice-best-path``: the best path minimises

.. math::  \sum_{arcs} g + \mathrm{WIP} \cdot [\text{word arc}] +
           \frac{a}{\mathrm{acwt} \cdot \mathrm{LMWT}}

for every (LMWT, WIP) pair in one pass over the lattice. Utterances are split over
``nj`` worker processes. ``out_dir`` receives ``hyp_<LMWT>_<WIP>.txt`` (``utt words``),
``graph_kind`` and ``decode.log`` (frames, seconds, real-time factor).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Union

import numpy as np

from pytorch_kaldi_snn.errors import DataError
from pytorch_kaldi_snn.kaldi.fstio import read_matrices, read_symbols, write_text
from pytorch_kaldi_snn.kaldi.gmm import MODEL_FILE, MonoModel

logger = logging.getLogger(__name__)
LoglikesLike = Union[Mapping[str, np.ndarray], str, Path, Sequence[str]]
_WORK: dict = {}


def parse_lattice(text: str) -> tuple[np.ndarray, np.ndarray, dict[int, np.ndarray]]:
    """OpenFst text of a Kaldi lattice -> (arcs [N, 4] int src,dst,ilab,olab,
    weights [N, 2] graph/acoustic costs, finals {state: [g, a]})."""
    arcs, weights, finals = [], [], {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 4:
            arcs.append([int(x) for x in parts[:4]])
            w = parts[4].split(",") if len(parts) > 4 else ["0", "0"]
            weights.append([float(w[0]), float(w[1])])
        elif parts:
            w = parts[1].split(",") if len(parts) > 1 else ["0", "0"]
            finals[int(parts[0])] = np.array([float(w[0]), float(w[1])])
    return (np.asarray(arcs, dtype=np.int64).reshape(-1, 4),
            np.asarray(weights, dtype=np.float64).reshape(-1, 2), finals)


def best_paths(arcs: np.ndarray, weights: np.ndarray, finals: dict[int, np.ndarray],
               start: int, ac_scales: np.ndarray, wips: np.ndarray) -> list[list[int]]:
    """Best word sequence of an acyclic lattice for each (ac_scale, wip) column."""
    top = [start, *finals]
    if len(arcs):
        top.append(int(arcs[:, :2].max()))
    n_states = max(top) + 1
    out_arcs: list[list[int]] = [[] for _ in range(n_states)]
    indeg = np.zeros(n_states, dtype=np.int64)
    for k, (s, d, _, _) in enumerate(arcs):
        out_arcs[s].append(k)
        indeg[d] += 1
    order, stack = [], [s for s in range(n_states) if indeg[s] == 0]
    while stack:
        s = stack.pop()
        order.append(s)
        for k in out_arcs[s]:
            d = arcs[k, 1]
            indeg[d] -= 1
            if indeg[d] == 0:
                stack.append(d)
    if len(order) != n_states:
        raise DataError("lattice has a cycle (not a raw decoder lattice)")
    n_p = len(ac_scales)
    cost = np.full((n_states, n_p), np.inf)
    back = np.full((n_states, n_p), -1, dtype=np.int64)
    cost[start] = 0.0
    for s in order:
        if not np.isfinite(cost[s]).any():
            continue
        for k in out_arcs[s]:
            d, olab = arcs[k, 1], arcs[k, 3]
            c = cost[s] + weights[k, 0] + weights[k, 1] * ac_scales + \
                (wips if olab else 0.0)
            better = c < cost[d]
            cost[d] = np.where(better, c, cost[d])
            back[d] = np.where(better, k, back[d])
    total = np.full(n_p, np.inf)
    end = np.full(n_p, -1, dtype=np.int64)
    for s, w in finals.items():
        c = cost[s] + w[0] + w[1] * ac_scales
        better = c < total
        total = np.where(better, c, total)
        end = np.where(better, s, end)
    paths = []
    for p in range(n_p):
        words, s = [], int(end[p])
        while s >= 0 and s != start:
            k = back[s, p]
            if k < 0:
                break
            if arcs[k, 3]:
                words.append(int(arcs[k, 3]))
            s = int(arcs[k, 0])
        paths.append(words[::-1])
    return paths


def _decode_one(utt: str) -> tuple[str, list[list[int]], int]:
    from pytorch_kaldi_snn.kaldi._backend import kaldi_decoder

    w = _WORK
    ll = w["loglikes"][utt]
    m = np.ascontiguousarray(w["acwt"] * ll[:, w["pdf_of"][1:]], dtype=np.float32)
    dec = w["decoder"]
    dec.decode(kaldi_decoder.DecodableCtc(m))
    ok, lat = dec.get_raw_lattice()
    if not ok or lat.num_states == 0:
        logger.warning("utterance %s: no path reached a final state", utt)
        return utt, [[] for _ in w["scales"]], len(ll)
    arcs, weights, finals = parse_lattice(lat.to_str(show_weight_one=True))
    return utt, best_paths(arcs, weights, finals, lat.start, w["scales"], w["wips"]), \
        len(ll)


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
    from pytorch_kaldi_snn.kaldi.hclg import read_fst

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
        pdf_of=model.pdf_of(), scales=np.array([1.0 / (acwt * a) for a, _ in grid]),
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
    frames = sum(n for _, _, n in results)
    out_dir.mkdir(parents=True, exist_ok=True)
    for j, (lmwt, wip) in enumerate(grid):
        lines = [f"{u} {' '.join(words[i] for i in paths[j])}".rstrip()
                 for u, paths, _ in results]
        write_text(out_dir / f"hyp_{_fmt(lmwt)}_{_fmt(wip)}.txt",
                          "\n".join(lines) + "\n")
    kind_file = graph_dir / "graph_kind"
    write_text(out_dir / "graph_kind",
                      (kind_file.read_text().strip() if kind_file.is_file() else "word")
                      + "\n")
    rtf = seconds / max(frames * 0.01, 1e-9)
    write_text(out_dir / "decode.log",
               f"utterances {len(utts)}\nframes {frames}\nseconds {seconds:.3f}\n"
               f"nj {nj}\nreal_time_factor {rtf:.4f}\n")
    logger.info("decoded %d utterances (%d frames) x %d settings in %.1f s (RTF %.3f)",
                len(utts), frames, len(grid), seconds, rtf)
    return out_dir


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)
