"""Results of a set of experiment folders: one :class:`Run` per (arch, seed), Table-1
rows with mean, sd and 95 % CI over seeds, and paired comparisons matched by seed.

A run is *decoded* when its ``res.res`` holds a ``%WER`` line (the phone error rate
of the phone graph, PyTorch-Kaldi's label). Runs without one are listed as missing
(``not run``: no res.res; ``not decoded``: training lines only) and never enter a
mean. Per run::

    accuracy = 100 - PER                 (the paper's "accuracy" on TIMIT phones)
    zero outputs %, mults / LSTM, mults / GRU       (our convention, table1.json)
    authors' mults / LSTM, / GRU                    (ops.paper.authors_tally on the
                                                    test forward's event counts)
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pytorch_kaldi_snn.analysis import stats

logger = logging.getLogger(__name__)
NAMES = {"lstm": "LSTM", "gru": "GRU", "trad": "SNN traditional", "v1": "SNN v1",
         "v2": "SNN v2"}
_EPOCH = re.compile(r"ep=(\d+) .*?loss=([0-9.naif]+) err=([0-9.naif]+) valid=\S+ "
                    r"loss=([0-9.naif]+) err=([0-9.naif]+)")
_LR = re.compile(r"lr_architecture1=([0-9.e+-]+)")
_WER = re.compile(r"%WER\s+([0-9.]+)")
_DECODE_DIR = re.compile(r"/(decode_[^/\s]+)/")
METRICS = ("per", "wer", "accuracy", "heldout_per", "heldout_wer", "zero_outputs_pct",
           "mults_vs_lstm", "mults_vs_gru", "authors_vs_lstm", "authors_vs_gru",
           "epochs_run", "final_dev_err")


def read_res(path: Path) -> dict[str, object]:
    """Epoch lines (ep, tr loss, tr err, dev loss, dev err), the learning rate of
    architecture1 per epoch and the PERs of a PyTorch-Kaldi res.res: ``per`` from the
    %WER line whose decode folder names a test set (the last %WER line when none
    does), ``heldout_per`` from the one naming a heldout set (None without one)."""
    epochs, lrs, last, by_set = [], [], None, {}
    for line in path.read_text().splitlines():
        m = _EPOCH.search(line)
        if m:
            epochs.append(tuple(float(x) for x in m.groups()))
            lr = _LR.search(line)
            lrs.append(float(lr.group(1)) if lr else None)
        w = _WER.search(line)
        if w:
            last = float(w.group(1))
            folder = _DECODE_DIR.search(line)
            name = folder.group(1) if folder else ""
            for kind in ("heldout", "test"):  # decode_demo_heldout_out_dnn2, ...
                if kind in name:
                    by_set[kind] = last
                    break
    per = by_set.get("test", last if not by_set else None)
    return {"epochs": epochs, "lrs": lrs, "per": per,
            "heldout_per": by_set.get("heldout")}


def _selected_wer(folder: Path) -> float | None:
    """The WER at dev's best setting of a word-decoding folder (its Kaldi-style
    best_wer, best on that set, only for folders made before dev selection)."""
    best = folder / "dev_selected_wer"
    if not best.is_file():
        best = folder / "best_wer"
    if not best.is_file():
        return None
    m = _WER.search(best.read_text())
    return float(m.group(1)) if m else None


@dataclass
class Run:
    """One experiment folder and what it produced (None where it produced nothing)."""

    arch: str
    seed: int
    exp: str
    status: str  # "decoded", "not decoded" or "not run"
    values: dict[str, float | None] = field(default_factory=dict)
    epochs: list[tuple] = field(default_factory=list)
    lrs: list[float | None] = field(default_factory=list)

    @property
    def decoded(self) -> bool:
        return self.status == "decoded"

    def get(self, key: str) -> float | None:
        return self.values.get(key)


def _test_entry(data) -> dict:
    """The Table-1 row of the test set in a table1.json (the first row otherwise)."""
    rows = data if isinstance(data, list) else [data]
    rows = [r for r in rows if isinstance(r, dict)]
    for r in rows:
        if "test" in str(r.get("data", "")):
            return r
    return rows[0] if rows else {}


def authors_ratios(exp: Path) -> tuple[float | None, float | None]:
    """The authors' tally over dense LSTM and GRU from ``ops_*test*.json`` (readout
    size O = the head's last layer), or (None, None) when it cannot be computed."""
    from pytorch_kaldi_snn.ops.paper import tally_from_summary

    files = sorted(exp.glob("ops_*test*.json")) or sorted(exp.glob("ops_*.json"))
    if not files:
        return None, None
    try:
        summary = json.loads(files[0].read_text())
        head = [d for d in summary.get("layers", []) if d.get("role") == "head"]
        if not head:
            return None, None
        t = tally_from_summary(summary, int(head[-1]["hidden_size"]))
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as e:
        logger.warning("%s: no authors' tally (%s)", files[0], e)
        return None, None
    return t["model_vs_lstm"], t["model_vs_gru"]


def read_run(exp: Path, arch: str, seed: int) -> Run:
    """Everything a report needs from one experiment folder."""
    if not (exp / "res.res").is_file():
        return Run(arch, seed, str(exp), "not run")
    res = read_res(exp / "res.res")
    per = res["per"]
    v: dict[str, float | None] = {k: None for k in METRICS}
    v["per"] = per
    v["accuracy"] = None if per is None else 100.0 - per
    v["epochs_run"] = float(len(res["epochs"])) if res["epochs"] else None
    v["final_dev_err"] = 100.0 * res["epochs"][-1][4] if res["epochs"] else None
    v["wer"] = _selected_wer(exp / "decode_word")
    v["heldout_per"] = res["heldout_per"]
    v["heldout_wer"] = _selected_wer(exp / "decode_word_heldout")
    t1 = exp / "table1.json"
    if t1.is_file():
        entry = _test_entry(json.loads(t1.read_text()))
        for k in ("zero_outputs_pct", "mults_vs_lstm", "mults_vs_gru"):
            v[k] = entry.get(k)
    v["authors_vs_lstm"], v["authors_vs_gru"] = authors_ratios(exp)
    status = "decoded" if per is not None else "not decoded"
    return Run(arch, seed, str(exp), status, v, res["epochs"], res["lrs"])


def collect(root: Path, archs: Sequence[str], seeds: int | Sequence[int],
            folder: str = "{arch}_seed{seed}") -> list[Run]:
    """One :class:`Run` per arch and seed (``folder`` formatted with both), finished
    or not; ``seeds`` is a count (1..N) or the seed numbers."""
    seed_list = range(1, seeds + 1) if isinstance(seeds, int) else seeds
    return [read_run(root / folder.format(arch=a, seed=s), a, s)
            for a in archs for s in seed_list]


def missing(runs: Sequence[Run]) -> list[Run]:
    """Runs that did not decode (excluded from every mean)."""
    return [r for r in runs if not r.decoded]


def summarise(runs: Sequence[Run], label: dict[str, str] | None = None) -> list[dict]:
    """One row per architecture over its decoded runs: ``runs``, ``missing`` and, per
    metric, ``<metric>`` (mean), ``<metric>_sd``, ``<metric>_ci_low/_ci_high``."""
    names = {**NAMES, **(label or {})}
    out = []
    for a in dict.fromkeys(r.arch for r in runs):
        group = [r for r in runs if r.arch == a]
        done = [r for r in group if r.decoded]
        row: dict = {"arch": a, "model": names.get(a, a), "runs": len(done),
                     "missing": len(group) - len(done),
                     "seeds": [r.seed for r in done]}
        for k in METRICS:
            s = stats.describe([r.get(k) for r in done if r.get(k) is not None])
            row[k], row[f"{k}_sd"] = s.mean, s.sd
            row[f"{k}_ci_low"], row[f"{k}_ci_high"] = s.ci_low, s.ci_high
            row[f"{k}_n"] = s.n
        out.append(row)
    return out


PAIRS = (("v2", "v1"), ("v2", "lstm"), ("v1", "trad"), ("v2", "gru"), ("lstm", "gru"))


def comparisons(runs: Sequence[Run], metric: str = "per",
                pairs: Sequence[tuple[str, str]] = PAIRS) -> list[dict]:
    """Paired t-tests of ``metric`` (A - B) matched by seed, for the pairs whose two
    architectures both have decoded runs with that metric."""
    by = {}
    for r in runs:
        if r.decoded and r.get(metric) is not None:
            by.setdefault(r.arch, {})[r.seed] = r.get(metric)
    out = []
    for a, b in pairs:
        if a in by and b in by:
            p = stats.paired(a, by[a], b, by[b]).to_dict()
            p["metric"] = metric
            out.append(p)
    return out
