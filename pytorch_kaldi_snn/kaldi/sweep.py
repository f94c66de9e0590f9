r"""Decoding settings chosen on dev, applied to test.

:func:`score_sweep` scores a decode folder's (LMWT, WIP) grid. With ``widen`` the grid
grows until its best setting is not at an edge: while the best LM weight is the largest
of the grid, :math:`\mathrm{LMWT}_{max} + \Delta` is added (:math:`\Delta` the last
spacing); while it is the smallest, :math:`\mathrm{LMWT}_{min} - \Delta` (or half of
it when that is not positive); the same for WIP in steps of the grid's spacing (0.5
for a one-value grid). New points are rescored from the folder's lattices
(:func:`.lattice.rescore`, no new search). Bounds: LMWT in [0.25, 100], WIP in
[-5, 10], at most 16 rounds. Ties go to an interior point, then the smallest LMWT,
then the smallest |WIP|.

With ``select_from`` (a scored dev decode folder) the dev-best setting is also scored
here: the honest test number.

Files written into the decode folder (besides ``wer_<LMWT>_<WIP>`` per setting):

- ``best_wer``: the best line of this folder's grid (Kaldi's ``best_wer.sh``; on test
  this is a best-on-test number, optimistic by construction);
- ``scoring.json``: ``{"grid": [[lmwt, wip, rate], ...], "best": {"lmwt", "wip",
  "rate", "line", "at_edge"}, "widened": rounds}`` and, with ``select_from``,
  ``"selected": {"lmwt", "wip", "rate", "line", "chosen_on"}``;
- ``dev_selected_wer`` (with ``select_from``): the ``%WER`` line at the dev-best
  setting followed by ``(LMWT=.. WIP=.. chosen on <dev decode folder>)``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from pytorch_kaldi_snn.errors import DataError
from pytorch_kaldi_snn.kaldi.io import PathLike, write_text
from pytorch_kaldi_snn.kaldi.lattice import (
    fmt,
    grid_of,
    hyp_name,
    load_lattices,
    rescore,
)
from pytorch_kaldi_snn.kaldi.score import references, score_file

logger = logging.getLogger(__name__)
LMWT_RANGE = (0.25, 100.0)
WIP_RANGE = (-5.0, 10.0)
MAX_ROUNDS = 16
SCORING = "scoring.json"


def _on_edge(grid, point: tuple[float, float]) -> bool:
    lmwts = [a for a, _ in grid]
    wips = [b for _, b in grid]
    return point[0] in (min(lmwts), max(lmwts)) or point[1] in (min(wips), max(wips))


def _best(rates: dict) -> tuple[float, float]:
    """Lowest rate; among ties an interior point, then the smallest LMWT and |WIP|
    (a plateau does not drag the grid to its bounds)."""
    return min(rates, key=lambda k: (round(rates[k][1], 6), _on_edge(rates, k), k[0],
                                     abs(k[1])))


def _step(values: list[float], at_top: bool, default: float) -> float:
    if len(values) < 2:
        return default
    return values[-1] - values[-2] if at_top else values[1] - values[0]


def _widen(grid: list[tuple[float, float]], best: tuple[float, float]
           ) -> list[tuple[float, float]]:
    """The points to add so that ``best`` is no longer on an edge (empty: done)."""
    lmwts = sorted({a for a, _ in grid})
    wips = sorted({b for _, b in grid})
    new_l, new_w = [], []
    if best[0] == lmwts[-1] and lmwts[-1] < LMWT_RANGE[1]:
        new_l.append(min(LMWT_RANGE[1], lmwts[-1] + _step(lmwts, True,
                                                          max(1.0, lmwts[-1] / 2))))
    if best[0] == lmwts[0] and lmwts[0] > LMWT_RANGE[0]:
        low = lmwts[0] - _step(lmwts, False, max(1.0, lmwts[0] / 2))
        new_l.append(max(LMWT_RANGE[0], low if low > 0 else lmwts[0] / 2))
    if best[1] == wips[-1] and wips[-1] < WIP_RANGE[1]:
        new_w.append(min(WIP_RANGE[1], wips[-1] + _step(wips, True, 0.5)))
    if best[1] == wips[0] and wips[0] > WIP_RANGE[0]:
        new_w.append(max(WIP_RANGE[0], wips[0] - _step(wips, False, 0.5)))
    all_l, all_w = lmwts + new_l, wips + new_w
    have = set(grid)
    return sorted({(a, b) for a in all_l for b in all_w} - have)


def _score(decode_dir: Path, refs, grid, rates: dict) -> None:
    for a, b in grid:
        if (a, b) not in rates:
            rates[(a, b)] = score_file(decode_dir / hyp_name(a, b), refs)


def score_sweep(decode_dir: PathLike, data_dir: PathLike, *, widen: bool = True,
                select_from: PathLike | None = None) -> dict:
    """Score, widen and select (see the module text); returns the scoring.json
    content."""
    decode_dir = Path(decode_dir)
    grid = grid_of(decode_dir)
    if not grid:
        raise DataError(f"{decode_dir}: no hyp_<LMWT>_<WIP>.txt to score")
    refs = references(decode_dir, data_dir)
    rates: dict = {}
    _score(decode_dir, refs, grid, rates)
    rounds, lattices = 0, None
    while widen and rounds < MAX_ROUNDS:
        new = _widen(list(rates), _best(rates))
        if not new:
            break
        if lattices is None:  # read once, rescored every round
            lattices = load_lattices(decode_dir)
        rescore(decode_dir, new, lattices)
        _score(decode_dir, refs, new, rates)
        rounds += 1
    best = _best(rates)
    at_edge = _on_edge(rates, best)
    if widen and at_edge:
        logger.warning("%s: the best setting LMWT=%s WIP=%s is still at the edge of "
                       "the grid (widened %d rounds, bounds or limit reached)",
                       decode_dir, fmt(best[0]), fmt(best[1]), rounds)
    line, rate = rates[best]
    write_text(decode_dir / "best_wer", line + "\n")
    summary = {"grid": [[a, b, rates[(a, b)][1]] for a, b in sorted(rates)],
               "best": {"lmwt": best[0], "wip": best[1], "rate": rate, "line": line,
                        "at_edge": at_edge},
               "widened": rounds}
    if select_from is not None:
        summary["selected"] = _select(decode_dir, refs, rates, Path(select_from))
        sel = summary["selected"]
        write_text(decode_dir / "dev_selected_wer",
                   f"{sel['line']} (LMWT={fmt(sel['lmwt'])} WIP={fmt(sel['wip'])} "
                   f"chosen on {sel['chosen_on']})\n")
    write_text(decode_dir / SCORING, json.dumps(summary, indent=1) + "\n")
    return summary


def chosen_setting(dev_decode_dir: PathLike) -> tuple[float, float]:
    """The best (LMWT, WIP) of a decode folder scored by :func:`score_sweep`."""
    path = Path(dev_decode_dir) / SCORING
    if not path.is_file():
        raise DataError(f"{path}: not found (score the dev decode folder first)")
    try:
        best = json.loads(path.read_text())["best"]
        return float(best["lmwt"]), float(best["wip"])
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: not a scoring summary ({exc})") from exc


def _select(decode_dir: Path, refs, rates: dict, dev_dir: Path) -> dict:
    setting = chosen_setting(dev_dir)
    if setting not in rates:
        rescore(decode_dir, [setting])
        _score(decode_dir, refs, [setting], rates)
    line, rate = rates[setting]
    return {"lmwt": setting[0], "wip": setting[1], "rate": rate, "line": line,
            "chosen_on": str(dev_dir)}


def selected_line(decode_dir: PathLike) -> tuple[str, float] | None:
    """``(line, rate)`` at the dev-chosen setting of a scored folder, else None."""
    path = Path(decode_dir) / SCORING
    if not path.is_file():
        return None
    sel = json.loads(path.read_text()).get("selected")
    if not sel:
        return None
    return (f"{sel['line']} (LMWT={fmt(sel['lmwt'])} WIP={fmt(sel['wip'])} chosen on "
            f"{sel['chosen_on']})", float(sel["rate"]))
