"""Comparison tables and plots for a demo (or any) set of experiment folders.

``python -m pytorch_kaldi_snn.reports DIR --archs lstm gru trad v1 v2 --seeds N`` reads
``DIR/<arch>_seed<N>/`` (res.res, table1.json, decode_word/best_wer) and writes
``DIR/results/summary.{md,csv}`` and ``DIR/results/curves.png``; with
``--sweep 1,2,4,6,0`` also ``DIR/v2_b<bits>_seed<N>/`` into
``DIR/results/sweep.{md,csv}`` and ``DIR/results/precision_sweep.png`` (the paper's
Fig. 5a: error against spike precision; 0 bits means full precision).
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

logger = logging.getLogger(__name__)
NAMES = {"lstm": "LSTM", "gru": "GRU", "trad": "SNN traditional", "v1": "SNN v1",
         "v2": "SNN v2"}
_EPOCH = re.compile(r"ep=(\d+) .*?loss=([0-9.naif]+) err=([0-9.naif]+) valid=\S+ "
                    r"loss=([0-9.naif]+) err=([0-9.naif]+)")
_WER = re.compile(r"%WER\s+([0-9.]+)")


def read_res(path: Path) -> dict[str, object]:
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


def collect(root: Path, archs: list[str], seeds: int,
            folder: str = "{arch}_seed{seed}") -> list[dict]:
    """One row per finished run ``root/<folder>`` (``folder`` formatted with the arch
    and the seed): PER from res.res, WER from decode_word/best_wer, Table-1 columns from
    table1.json, and the per-epoch curves."""
    rows = []
    for a in archs:
        for seed in range(1, seeds + 1):
            exp = root / folder.format(arch=a, seed=seed)
            if not (exp / "res.res").is_file():
                logger.warning("no results in %s", exp)
                continue
            res = read_res(exp / "res.res")
            row = {"arch": a, "seed": seed, "exp": str(exp), "per": res["per"],
                   "wer": None,
                   "zero_outputs_pct": None, "mults_vs_lstm": None,
                   "mults_vs_gru": None,
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


def _avg(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return mean(vals) if vals else None


def summarise(rows: list[dict]) -> list[dict]:
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


def to_markdown(summary: list[dict]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(_fmt(s[c]) for c in COLUMNS) + " |" for s in summary]
    return "\n".join(lines) + "\n"


def to_csv(summary: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(COLUMNS)
    for s in summary:
        w.writerow(["" if s[c] is None else s[c] for c in COLUMNS])
    return buf.getvalue()


def plot_curves(rows: list[dict], path: Path) -> None:
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


def run_lines(rows: list[dict]) -> str:
    """The lines the demo prints per run: PER (phone graph), WER (word graph),
    Table 1."""
    out = []
    for r in rows:
        name = f"{NAMES.get(r['arch'], r['arch'])} seed {r['seed']}"
        out.append(f"PER {_fmt(r['per'])} % (phone graph)  {name}  {r['exp']}")
        out.append(f"WER {_fmt(r['wer'])} % (word graph)   {name}  {r['exp']}")
        t1 = Path(r["exp"]) / "table1.md"
        if t1.is_file():
            out.append(f"Table-1 row of {name} ({t1}):")
            out.append(t1.read_text().rstrip())
    return "\n".join(out) + "\n"


def sweep_rows(root: Path, bits: list[int], seeds: int) -> list[dict]:
    """Precision-sweep runs ``root/v2_b<bits>_seed<N>``, averaged over seeds, sorted by
    bits (0 = full precision goes last)."""
    out = []
    for b in sorted(bits, key=lambda x: (x == 0, x)):
        rows = collect(root, ["v2"], seeds, folder=f"v2_b{b}_seed{{seed}}")
        if not rows:
            continue
        s = summarise(rows)[0]
        s["model"] = f"SNN v2, {b}-bit spikes" if b else "SNN v2, full precision"
        s["bits"] = b
        out.append(s)
    return out


def plot_sweep(sweep: list[dict], path: Path) -> None:
    """PER and WER against spike precision (paper Fig. 5a)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [str(s["bits"]) if s["bits"] else "full" for s in sweep]
    fig, ax = plt.subplots(figsize=(5, 4))
    for key, name in (("per", "PER"), ("wer", "WER")):
        ys = [s[key] for s in sweep]
        if any(y is not None for y in ys):
            ax.plot(labels, [float("nan") if y is None else y for y in ys], "o-",
                    label=name)
    ax.set(xlabel="spike precision (bits)", ylabel="error %",
           title="SNN v2: error against spike precision")
    ax.legend()
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _bits(text: str) -> list[int]:
    try:
        bits = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"bit widths like 1,2,4,6,0, not {text!r}")
    if not bits or any(b < 0 or b > 16 for b in bits):
        raise argparse.ArgumentTypeError(f"bit widths in 0..16, not {text!r}")
    return bits


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("root", help="folder holding <arch>_seed<N>/ experiment folders")
    p.add_argument("--archs", nargs="+", default=list(NAMES), help="architectures")
    p.add_argument("--seeds", type=int, default=1, help="seeds per architecture")
    p.add_argument("--sweep", type=_bits, default=None,
                   help="spike bit widths of a precision sweep, e.g. 1,2,4,6,0 "
                   "(0 = full precision)")
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
    _write(out / "summary.md", md)
    _write(out / "summary.csv", to_csv(summary))
    plot_curves(rows, out / "curves.png")
    print(run_lines(rows), end="")
    print(md, end="")
    print(f"results: {out}/summary.md, summary.csv, curves.png")
    if args.sweep:
        sweep = sweep_rows(root, args.sweep, args.seeds)
        if sweep:
            smd = to_markdown(sweep)
            _write(out / "sweep.md", smd)
            _write(out / "sweep.csv", to_csv(sweep))
            plot_sweep(sweep, out / "precision_sweep.png")
            print(smd, end="")
            print(f"precision sweep: {out}/sweep.md, sweep.csv, precision_sweep.png")
        else:
            logger.warning("no finished precision-sweep runs under %s", root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
