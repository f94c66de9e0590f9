r"""Viterbi decoding of frame log-likelihoods with a :mod:`.graph` (what Kaldi's
``latgen-faster-mapped`` + lattice rescoring do for a hybrid network).

For LM weight ``lmwt`` and word insertion penalty ``wip`` the best path maximises

.. math::  \frac{1}{\mathrm{lmwt}} (\log p(X|\text{states}) + \log P_{\text{trans}})
           + \log P_{\text{LM}}(\text{units}) - \mathrm{wip} \cdot |\text{units}|

the same objective Kaldi's scoring obtains by scaling a lattice with acoustic scale
1/lmwt. Each (lmwt, wip) pair is a separate exact Viterbi pass over the unit loop (no
lattice), with beam pruning of unit exits; utterances are split over ``nj`` processes.
Hypotheses go to ``out_dir/hyp_<lmwt>_<wip>.txt``.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Sequence, Union

import numpy as np

from pytorch_kaldi_snn.errors import DataError
from pytorch_kaldi_snn.kaldi.align import MODEL
from pytorch_kaldi_snn.kaldi.graph import Graph
from pytorch_kaldi_snn.kaldi.hmm import LOG_SKIP, MonophoneModel
from pytorch_kaldi_snn.kaldi.io import atomic_write_text, read_matrices

logger = logging.getLogger(__name__)
NEG = -1e30
_WORK: dict = {}


class _Loop:
    """The graph flattened into arrays: state s belongs to unit unit_of[s]."""

    def __init__(self, graph: Graph, model: MonophoneModel) -> None:
        self.pdf = np.concatenate(graph.chains)
        lens = np.array([len(c) for c in graph.chains])
        self.first = np.concatenate([[0], np.cumsum(lens)[:-1]])
        self.last = self.first + lens - 1
        self.unit_of = np.repeat(np.arange(len(lens)), lens)
        self.pos = np.arange(len(self.pdf)) - self.first[self.unit_of]
        self.stay = model.log_stay[self.pdf]
        self.move = model.log_move[self.pdf]
        self.n_units = len(lens)
        n_lm = graph.lm.shape[0] - 1
        # lm_in[h, v]: log P(unit v | history h) with the silence unit spliced in.
        u = self.n_units
        lm = np.full((u + 1, u + 1), NEG, dtype=np.float64)
        words = np.arange(n_lm)
        lm[np.ix_(words, words)] = graph.lm[:n_lm, :n_lm]
        lm[u, :n_lm] = graph.lm[n_lm, :n_lm]  # <s> -> word
        lm[words, u] = graph.lm[:n_lm, n_lm]  # word -> </s>
        if graph.silence is not None:
            s = graph.silence
            uni = np.log(np.exp(graph.lm[:n_lm, :n_lm]).mean(0))
            lm[:, s] = graph.silence_logprob
            lm[s, :n_lm] = uni - np.log(np.exp(uni).sum())
            lm[s, u] = np.log(0.5)
            lm[s, s] = NEG
        self.lm = lm


def viterbi(loop: _Loop, ll: np.ndarray, lmwt: float, wip: float,
            beam: float = 15.0) -> List[int]:
    """Best unit sequence for one utterance (``ll``: [T, num_pdfs])."""
    scale = 1.0 / lmwt
    emit = ll[:, loop.pdf] * scale
    stay, move = loop.stay * scale, loop.move * scale
    skip = LOG_SKIP * scale
    t_len, s_len = emit.shape
    u_bos = loop.n_units
    not_first = loop.pos > 0
    can_skip = loop.pos > 1
    # back: 0 stay 1 step 2 skip 3 enter 4 enter+skip
    back = np.zeros((t_len, s_len), dtype=np.int8)
    entry_from = np.full((t_len, loop.n_units), -1, dtype=np.int32)
    exit_state = np.zeros((t_len, loop.n_units), dtype=np.int32)
    entry0 = loop.lm[u_bos, : loop.n_units] - wip
    delta = np.full(s_len, NEG)
    delta[loop.first] = entry0 + emit[0, loop.first]
    second = loop.first + 1
    ok = second <= loop.last
    delta[second[ok]] = entry0[ok] + skip + emit[0, second[ok]]
    back[0, loop.first] = 3
    back[0, second[ok]] = 4
    entry_from[0] = u_bos
    for t in range(1, t_len):
        c = np.empty((3, s_len))
        c[0] = delta + stay
        c[1] = NEG
        c[1, 1:] = delta[:-1] + move[:-1]
        c[1, ~not_first] = NEG
        c[2] = NEG
        c[2, 2:] = delta[:-2] + move[:-2] + skip
        c[2, ~can_skip] = NEG
        # unit exits: from the last state, or skipping it from the one before
        ex_last = delta[loop.last] + move[loop.last]
        prev = np.maximum(loop.last - 1, loop.first)
        ex_skip = np.where(loop.last > loop.first, delta[prev] + move[prev] + skip, NEG)
        use_skip = ex_skip > ex_last
        exits = np.where(use_skip, ex_skip, ex_last)
        exit_state[t - 1] = np.where(use_skip, prev, loop.last)
        active = np.flatnonzero(exits > exits.max() - beam)
        scores = exits[active, None] + loop.lm[active, : loop.n_units]
        best = scores.argmax(0)
        enter = scores[best, np.arange(loop.n_units)] - wip
        entry_from[t] = active[best]
        choice = c.argmax(0)
        val = c[choice, np.arange(s_len)]
        into_first = enter > val[loop.first]
        val[loop.first] = np.where(into_first, enter, val[loop.first])
        choice[loop.first] = np.where(into_first, 3, choice[loop.first])
        sk = enter[ok] + skip
        better = sk > val[second[ok]]
        idx = second[ok][better]
        val[idx] = sk[better]
        choice[idx] = 4
        back[t] = choice
        delta = val + emit[t]
        delta[delta < delta.max() - 4 * beam] = NEG
    ex_last = delta[loop.last] + move[loop.last]
    final = ex_last + loop.lm[: loop.n_units, u_bos]
    u = int(final.argmax())
    s = int(loop.last[u])
    units = [u]
    t = t_len - 1
    while t >= 0:
        code = back[t, s]
        if code in (3, 4):
            u_prev = int(entry_from[t, loop.unit_of[s]])
            if t == 0 or u_prev == u_bos:
                break
            s = int(exit_state[t - 1, u_prev])
            units.append(u_prev)
        elif code == 0:
            pass
        else:
            s -= int(code)
        t -= 1
    return units[::-1]


def _decode_one(utt: str):
    loop, graph, ll_table, grid = (_WORK[k] for k in ("loop", "graph", "ll", "grid"))
    ll = ll_table[utt]
    out = {}
    for lmwt, wip in grid:
        ids = viterbi(loop, ll, lmwt, wip)
        out[(lmwt, wip)] = [graph.units[i] for i in ids if i != graph.silence]
    return utt, out


LoglikesLike = Union[Mapping[str, np.ndarray], str, Sequence[str]]


def _load_loglikes(loglikes: LoglikesLike) -> Dict[str, np.ndarray]:
    if isinstance(loglikes, Mapping):
        return {k: np.asarray(v, dtype=np.float32) for k, v in loglikes.items()}
    paths = [loglikes] if isinstance(loglikes, (str, Path)) else list(loglikes)
    table: Dict[str, np.ndarray] = {}
    for p in paths:
        table.update(read_matrices(str(p)))
    return table


def decode_loglikes(loglikes: LoglikesLike, graph_dir, out_dir, *,
                    lmwts: Iterable[float] = (1, 2, 4, 6, 8, 10, 13, 16),
                    wips: Iterable[float] = (0.0, 0.5, 1.0), nj: int = 2,
                    beam: float = 15.0, **_ignored) -> Path:
    """Decode ``{utt: [T, num_pdfs]}`` pseudo log-likelihoods (or ark/scp paths).

    Extra keyword arguments (Kaldi's acwt, max_active, ...) are accepted and ignored:
    the LM-weight sweep replaces the acoustic scale, and the search is exact.
    A graph folder of the HCLG path (``HCLG.fst``, no ``graph.pkl``) is decoded by
    :func:`.latgen.decode_loglikes` with the same arguments.
    """
    if (Path(graph_dir) / "HCLG.fst").is_file() and \
            not (Path(graph_dir) / "graph.pkl").is_file():
        from pytorch_kaldi_snn.kaldi import latgen

        return latgen.decode_loglikes(loglikes, graph_dir, out_dir, lmwts=lmwts,
                                      wips=wips, nj=nj, beam=beam, **_ignored)
    graph = Graph.load(graph_dir)
    model = MonophoneModel.load(Path(graph_dir) / MODEL)
    if list(model.phones) != list(graph.phones):
        raise DataError(f"{graph_dir}: graph and acoustic model disagree on the phones")
    table = _load_loglikes(loglikes)
    for utt, m in table.items():
        if m.ndim != 2 or m.shape[1] != model.num_pdfs:
            raise DataError(f"utterance {utt}: log-likelihoods of shape {m.shape} "
                            f"do not match the model's {model.num_pdfs} pdfs "
                            f"({graph_dir})")
    grid = [(float(a), float(b)) for a in lmwts for b in wips]
    _WORK.update(loop=_Loop(graph, model), graph=graph, ll=table, grid=grid)
    from tqdm import tqdm

    utts = sorted(table)
    if nj > 1 and len(utts) > 4:
        with mp.get_context("fork").Pool(nj) as pool:
            results = list(tqdm(pool.imap(_decode_one, utts, chunksize=2),
                                total=len(utts), desc="decoding", disable=None))
    else:
        results = [_decode_one(u) for u in tqdm(utts, desc="decoding", disable=None)]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for lmwt, wip in grid:
        lines = [f"{u} {' '.join(h[(lmwt, wip)])}".rstrip() for u, h in results]
        atomic_write_text(out_dir / f"hyp_{_fmt(lmwt)}_{_fmt(wip)}.txt",
                          "\n".join(lines) + "\n")
    atomic_write_text(out_dir / "graph_kind", graph.kind + "\n")
    logger.info("decoded %d utterances x %d settings into %s", len(utts), len(grid),
                out_dir)
    return out_dir


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)
