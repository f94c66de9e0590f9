"""Comparison tables and plots for a demo (or any) set of experiment folders.

``python -m pytorch_kaldi_snn.reports DIR --archs lstm gru trad v1 v2 --seeds N`` reads
``DIR/<arch>_seed<N>/`` (res.res, table1.json, decode_word/best_wer) and writes
``DIR/results/summary.{md,csv}`` and ``DIR/results/curves.png``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import re
import sys
from pathlib import Path
from statistics import mean
from typing import Dict, List, Optional

logger = logging.getLogger(__name__)
NAMES = {"lstm": "LSTM", "gru": "GRU", "trad": "SNN traditional", "v1": "SNN v1",
         "v2": "SNN v2"}
_EPOCH = re.compile(r"ep=(\d+) .*?loss=([0-9.naif]+) err=([0-9.naif]+) valid=\S+ "
                    r"loss=([0-9.naif]+) err=([0-9.naif]+)")
_WER = re.compile(r"%WER\s+([0-9.]+)")


def read_res(path: Path) -> Dict[str, object]:
    """Epoch lines and the last %WER line of a PyTorch-Kaldi res.res."""
    epochs, per = [], None
    for line in path.read_text().splitlines():
        m = _EPOCH.search(line)
        if m:
            epochs.append(tuple(float(x) for x in m.groups()))
        w = _WER.search(line)
        if w:
            per = float(w.group(1))
    return {"epochs": epochs, "per": per}


def collect(root: Path, archs: List[str], seeds: int) -> List[dict]:
    rows = []
    for a in archs:
        for seed in range(1, seeds + 1):
            exp = root / f"{a}_seed{seed}"
            if not (exp / "res.res").is_file():
                logger.warning("no results in %s", exp)
                continue
            res = read_res(exp / "res.res")
            row = {"arch": a, "seed": seed, "per": res["per"], "wer": None,
                   "zero_outputs_pct": None, "mults_vs_lstm": None, "mults_vs_gru": None,
                   "epochs": res["epochs"]}
            best = exp / "decode_word" / "best_wer"
            if best.is_file():
                m = _WER.search(best.read_text())
                row["wer"] = float(m.group(1)) if m else None
            t1 = exp / "table1.json"
            if t1.is_file():
                data = json.loads(t1.read_text())
                entry = data[0] if isinstance(data, list) and data else data
                if isinstance(entry, dict):
                    for k in ("zero_outputs_pct", "mults_vs_lstm", "mults_vs_gru"):
                        row[k] = entry.get(k)
            rows.append(row)
    return rows


def _avg(values: List[Optional[float]]) -> Optional[float]:
    vals = [v for v in values if v is not None]
    return mean(vals) if vals else None


def summarise(rows: List[dict]) -> List[dict]:
    out = []
    for a in dict.fromkeys(r["arch"] for r in rows):
        group = [r for r in rows if r["arch"] == a]
        summary = {"model": NAMES.get(a, a), "runs": len(group)}
        for k in ("per", "wer", "zero_outputs_pct", "mults_vs_lstm", "mults_vs_gru"):
            summary[k] = _avg([r[k] for r in group])
        summary["accuracy"] = None if summary["per"] is None else 100 - summary["per"]
        out.append(summary)
    return out


COLUMNS = ["model", "runs", "per", "wer", "accuracy", "zero_outputs_pct",
           "mults_vs_lstm", "mults_vs_gru"]
HEADERS = ["model", "runs", "PER %", "WER %", "accuracy (100-PER)", "zero outputs %",
           "mults / LSTM", "mults / GRU"]


def _fmt(v) -> str:
    if v is None:
        return "-"
    return f"{v:.2f}" if isinstance(v, float) else str(v)


def to_markdown(summary: List[dict]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(_fmt(s[c]) for c in COLUMNS) + " |" for s in summary]
    return "\n".join(lines) + "\n"


def to_csv(summary: List[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(COLUMNS)
    for s in summary:
        w.writerow(["" if s[c] is None else s[c] for c in COLUMNS])
    return buf.getvalue()


def plot_curves(rows: List[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for r in rows:
        if not r["epochs"]:
            continue
        ep = [e[0] for e in r["epochs"]]
        label = f"{NAMES.get(r['arch'], r['arch'])} s{r['seed']}"
        axes[0].plot(ep, [e[1] for e in r["epochs"]], label=label)
        axes[1].plot(ep, [100 * e[4] for e in r["epochs"]], label=label)
    axes[0].set(xlabel="epoch", ylabel="training loss (NLL)", title="training loss")
    axes[1].set(xlabel="epoch", ylabel="dev frame error %", title="dev frame error")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("root", help="folder holding <arch>_seed<N>/ experiment folders")
    p.add_argument("--archs", nargs="+", default=list(NAMES), help="architectures")
    p.add_argument("--seeds", type=int, default=1, help="seeds per architecture")
    args = p.parse_args(argv)
    root = Path(args.root)
    rows = collect(root, args.archs, args.seeds)
    if not rows:
        print(f"no finished experiments under {root}", file=sys.stderr)
        return 1
    summary = summarise(rows)
    out = root / "results"
    out.mkdir(parents=True, exist_ok=True)
    md = to_markdown(summary)
    for name, text in (("summary.md", md), ("summary.csv", to_csv(summary))):
        tmp = out / (name + ".tmp")
        tmp.write_text(text)
        tmp.replace(out / name)
    plot_curves(rows, out / "curves.png")
    print(md, end="")
    print(f"results: {out}/summary.md, summary.csv, curves.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
