r"""Raw lattices in Kaldi's text form, and their rescoring for an (LMWT, WIP) grid.

A lattice archive ``lat.1.gz`` holds, per utterance, the utterance id on a line, then
one line per arc ``src dst transition-id word graph_cost,acoustic_cost`` and one per
final state ``state graph_cost,acoustic_cost``, then an empty line: Kaldi's
non-compact ``Lattice`` text archive (what ``lattice-copy ark:x ark,t:-`` prints), so
``lattice-scale "ark:gunzip -c lat.1.gz|" ...`` reads it. As with
``latgen-faster-mapped``, acoustic costs are stored unscaled (divided by the decoding
acoustic scale); the first arc leaves the start state.

Rescoring is Kaldi's ``lattice-scale --inv-acoustic-scale=LMWT | lattice-add-penalty
--word-ins-penalty=WIP | lattice-best-path``: the best path minimises

.. math::  \sum_{arcs} g + \mathrm{WIP} \cdot [\text{word arc}] + a / \mathrm{LMWT}

and :func:`best_paths` finds it for every grid point in one pass over the lattice.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from pytorch_kaldi_snn.errors import DataError
from pytorch_kaldi_snn.kaldi.io import PathLike, read_symbols, write_text, write_with

Lattice = tuple[np.ndarray, np.ndarray, dict[int, np.ndarray]]
_HYP = re.compile(r"^hyp_([0-9.eE+-]+)_([0-9.eE+-]+)\.txt$")


def parse_lattice(text: str) -> Lattice:
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


def start_state(lat: Lattice) -> int:
    """The start state: the source of the first arc (OpenFst's text convention)."""
    arcs, _, finals = lat
    return int(arcs[0, 0]) if len(arcs) else next(iter(finals), 0)


def lattice_text(lat: Lattice, start: int) -> str:
    """The Kaldi text lines of one lattice (without the utterance id); the arcs
    leaving ``start`` come first, as OpenFst's text form requires."""
    arcs, weights, finals = lat
    order = np.argsort(arcs[:, 0] != start, kind="stable") if len(arcs) else []
    lines = [f"{s}\t{d}\t{i}\t{o}\t{g:.6g},{a:.6g}"
             for (s, d, i, o), (g, a) in zip(arcs[order].tolist(),
                                             weights[order].tolist())]
    lines += [f"{s}\t{w[0]:.6g},{w[1]:.6g}" for s, w in finals.items()]
    return "\n".join(lines) + "\n"


def write_lattices(path: PathLike, lattices: Mapping[str, tuple[Lattice, int]]
                   ) -> None:
    """Write ``{utt: (lattice, start state)}`` as a gzipped Kaldi text lattice
    archive."""
    def _write(tmp: str) -> None:
        with gzip.open(tmp, "wt", encoding="utf-8", compresslevel=1) as f:
            for utt in sorted(lattices):
                lat, start = lattices[utt]
                f.write(f"{utt}\n{lattice_text(lat, start)}\n")

    write_with(path, _write)


def read_lattices(path: PathLike) -> Iterator[tuple[str, Lattice]]:
    """Yield (utt, lattice) from an archive written by :func:`write_lattices`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: lattice archive not found (decode first)")
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            text = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: truncated or corrupt lattice archive: {exc}") from exc
    for block in text.split("\n\n"):
        lines = block.strip("\n").split("\n", 1)
        if lines[0].strip():
            yield lines[0].strip(), parse_lattice(lines[1] if len(lines) > 1 else "")


def _levels(arcs: np.ndarray, n_states: int) -> np.ndarray:
    """Depth of every state (longest arc count from a source); DataError on a cycle."""
    out_arcs: list[list[int]] = [[] for _ in range(n_states)]
    indeg = np.zeros(n_states, dtype=np.int64)
    src, dst = arcs[:, 0].tolist(), arcs[:, 1].tolist()
    for k, s in enumerate(src):
        out_arcs[s].append(k)
        indeg[dst[k]] += 1
    depth = [0] * n_states
    stack = [s for s in range(n_states) if indeg[s] == 0]
    done = 0
    while stack:
        s = stack.pop()
        done += 1
        for k in out_arcs[s]:
            d = dst[k]
            depth[d] = max(depth[d], depth[s] + 1)
            indeg[d] -= 1
            if indeg[d] == 0:
                stack.append(d)
    if done != n_states:
        raise DataError("lattice has a cycle (not a raw decoder lattice)")
    return np.asarray(depth, dtype=np.int64)


def best_paths(arcs: np.ndarray, weights: np.ndarray, finals: dict[int, np.ndarray],
               start: int, ac_scales: np.ndarray, wips: np.ndarray) -> list[list[int]]:
    """Best word sequence of an acyclic lattice for each (ac_scale, wip) column.

    Viterbi over the states in order of depth: all arcs leaving one depth are relaxed
    together, for every column at once.
    """
    top = [start, *finals]
    if len(arcs):
        top.append(int(arcs[:, :2].max()))
    n_states = max(top) + 1
    n_p = len(ac_scales)
    cost = np.full((n_states, n_p), np.inf)
    back = np.full((n_states, n_p), -1, dtype=np.int64)
    cost[start] = 0.0
    if len(arcs):
        depth = _levels(arcs, n_states)
        arc_cost = (weights[:, :1] + weights[:, 1:2] * ac_scales[None, :]
                    + (arcs[:, 3:4] != 0) * wips[None, :])
        by_level = np.argsort(depth[arcs[:, 0]], kind="stable")
        levels = depth[arcs[by_level, 0]]
        cuts = np.flatnonzero(np.diff(levels)) + 1
        for group in np.split(by_level, cuts):
            cand = cost[arcs[group, 0]] + arc_cost[group]
            dst = arcs[group, 1]
            order = np.lexsort((np.arange(len(group)), dst))
            dst_sorted = dst[order]
            first = np.flatnonzero(np.r_[True, dst_sorted[1:] != dst_sorted[:-1]])
            best_val = np.minimum.reduceat(cand[order], first, axis=0)
            gid = np.repeat(np.arange(len(first)), np.diff(np.r_[first, len(order)]))
            hit = cand[order] == best_val[gid]
            rank = np.where(hit, np.arange(len(order))[:, None], len(order))
            pick = np.minimum.reduceat(rank, first, axis=0)
            targets = dst_sorted[first]
            ok = np.isfinite(best_val) & (best_val < cost[targets])
            chosen = group[order[np.minimum(pick, len(order) - 1)]]
            cost[targets] = np.where(ok, best_val, cost[targets])
            back[targets] = np.where(ok, chosen, back[targets])
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


def fmt(x: float) -> str:
    """A grid value as it appears in file names (``10``, ``0.5``)."""
    return str(int(x)) if float(x).is_integer() else f"{float(x):g}"


def hyp_name(lmwt: float, wip: float) -> str:
    """``hyp_<LMWT>_<WIP>.txt``."""
    return f"hyp_{fmt(lmwt)}_{fmt(wip)}.txt"


def grid_of(decode_dir: PathLike) -> list[tuple[float, float]]:
    """The (LMWT, WIP) settings that have a hypothesis file in ``decode_dir``."""
    out = []
    for p in Path(decode_dir).glob("hyp_*.txt"):
        m = _HYP.match(p.name)
        if m:
            out.append((float(m.group(1)), float(m.group(2))))
    return sorted(out)


def write_hyps(out_dir: Path, words: Mapping[int, str],
               results: Sequence[tuple[str, list[list[int]]]],
               grid: Sequence[tuple[float, float]]) -> None:
    """One ``hyp_<LMWT>_<WIP>.txt`` per grid point from per-utterance best paths."""
    for j, (lmwt, wip) in enumerate(grid):
        lines = [f"{u} {' '.join(words[i] for i in paths[j])}".rstrip()
                 for u, paths in results]
        write_text(out_dir / hyp_name(lmwt, wip), "\n".join(lines) + "\n")


def load_lattices(decode_dir: PathLike) -> list[tuple[str, Lattice]]:
    """Every lattice of ``decode_dir/lat.*.gz``, in file order."""
    files = sorted(Path(decode_dir).glob("lat.*.gz"))
    if not files:
        raise DataError(f"{decode_dir}: no lat.*.gz to rescore (decode first)")
    return [item for path in files for item in read_lattices(path)]


def rescore(decode_dir: PathLike, grid: Sequence[tuple[float, float]],
            lattices: Sequence[tuple[str, Lattice]] | None = None) -> None:
    """Write the hypothesis files of ``grid`` from ``decode_dir/lat.*.gz`` (or the
    already loaded ``lattices``); no new search: the lattices were pruned at the
    decoding acoustic scale."""
    decode_dir = Path(decode_dir)
    grid = [(float(a), float(b)) for a, b in grid]
    if not grid:
        return
    if min(a for a, _ in grid) <= 0:
        raise DataError(f"{decode_dir}: every LM weight must be > 0 ({grid})")
    words = {i: w for w, i in read_symbols(decode_dir / "words.txt").items()}
    scales = np.array([1.0 / a for a, _ in grid])
    wips = np.array([b for _, b in grid])
    results = []
    for utt, lat in (load_lattices(decode_dir) if lattices is None else lattices):
        if not lat[2]:
            results.append((utt, [[] for _ in grid]))
            continue
        results.append((utt, best_paths(*lat, start_state(lat), scales, wips)))
    write_hyps(decode_dir, words, sorted(results), grid)
