"""Table 1, paired comparisons, Fig. 5 and the paper's orderings for a set of runs.

``python -m pytorch_kaldi_snn.reports DIR --archs lstm gru trad v1 v2 --seeds N``
reads ``DIR/<arch>_seed<N>/`` (res.res, table1.json, ops_*test*.json,
decode_word/dev_selected_wer: test at dev's best setting) and writes into
``DIR/results/``:

- ``runs.csv``: one row per expected run with its status (decoded / not decoded /
  not run) and every metric;
- ``summary.{md,csv,json}``: Table 1 per architecture over the decoded runs only
  (mean, sd and 95 % t CI over seeds; accuracy = 100 - PER; zero outputs; mults per
  frame against LSTM and GRU in our convention and in the authors' tally), the paired
  comparisons (v2 - v1, v2 - LSTM, v1 - trad, ...) and the list of missing runs;
- ``report.md``: all of it plus which of the paper's orderings hold on this data;
- ``curves.png``: training loss and dev frame error per epoch.

With ``--sweep 1,2,3,4,5,6,0`` also ``DIR/v2_b<bits>_seed<N>/`` (width 1x) and, with
``--widths 1x,2x,3x``, ``DIR/v2_b<bits>_w<W>_seed<N>/`` for the other widths (``1.5x``
is spelled ``1p5x`` in folder names): ``sweep.{md,csv,json}``,
``precision_sweep.png`` (Fig. 5a, width 1x) and ``precision_width.png`` (Fig. 5b).
0 bits means full precision.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pytorch_kaldi_snn.analysis import figures, orderings, results, spike_ranges
from pytorch_kaldi_snn.analysis.results import METRICS, NAMES, Run

logger = logging.getLogger(__name__)

# Table-1 columns: (key, header, digits).
TABLE = (("accuracy", "accuracy (100 - PER)", 2), ("per", "test PER %", 2),
         ("wer", "test WER %", 2), ("heldout_per", "heldout PER %", 2),
         ("heldout_wer", "heldout WER %", 2), ("zero_outputs_pct", "zero outputs %", 1),
         ("mults_vs_lstm", "mults / LSTM (ours)", 3),
         ("mults_vs_gru", "mults / GRU (ours)", 3),
         ("authors_vs_lstm", "mults / LSTM (authors' tally)", 3),
         ("authors_vs_gru", "mults / GRU (authors' tally)", 3),
         ("epochs_run", "epochs", 0))


def _fmt(v, digits: int = 2) -> str:
    if v is None:
        return "-"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def _cell(row: dict, key: str, digits: int) -> str:
    """``mean +- half-width of the 95 % CI`` (mean alone with one run)."""
    m = row.get(key)
    if m is None:
        return "-"
    lo, hi = row.get(f"{key}_ci_low"), row.get(f"{key}_ci_high")
    if lo is None or hi is None:
        return _fmt(m, digits)
    return f"{_fmt(m, digits)} ± {_fmt((hi - lo) / 2, digits)}"


def table_markdown(summary: Sequence[dict]) -> str:
    """Table 1: ``mean ± 95 % CI half-width`` over the decoded seeds."""
    heads = ["model", "runs"] + [h for _, h, _ in TABLE]
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for s in summary:
        runs = str(s["runs"]) + (f" (+{s['missing']} missing)" if s["missing"] else "")
        lines.append("| " + " | ".join([s["model"], runs] + [
            _cell(s, k, d) for k, _, d in TABLE]) + " |")
    return "\n".join(lines) + "\n"


def stats_markdown(summary: Sequence[dict], key: str = "per") -> str:
    """Mean, sd and the 95 % CI of one metric per architecture."""
    lines = [f"| model | n | mean {key} | sd | 95% CI |", "|---|---|---|---|---|"]
    for s in summary:
        ci = ("-" if s[f"{key}_ci_low"] is None
              else f"[{s[f'{key}_ci_low']:.2f}, {s[f'{key}_ci_high']:.2f}]")
        lines.append(f"| {s['model']} | {s[f'{key}_n']} | {_fmt(s[key])} | "
                     f"{_fmt(s[f'{key}_sd'])} | {ci} |")
    return "\n".join(lines) + "\n"


def comparisons_markdown(comps: Sequence[dict]) -> str:
    """Paired differences A - B matched by seed (negative: A has the lower error)."""
    lines = ["| metric | A - B | seeds | mean difference | 95% CI | t | p (paired t) |",
             "|---|---|---|---|---|---|---|"]
    for c in comps:
        ci = ("-" if c["ci_low"] is None
              else f"[{c['ci_low']:+.2f}, {c['ci_high']:+.2f}]")
        t = "-" if c["t"] is None else f"{c['t']:.2f}"
        p = "-" if c["p"] is None else f"{c['p']:.3g}"
        diff = "-" if c["diff_mean"] is None else f"{c['diff_mean']:+.2f}"
        name = f"{NAMES.get(c['a'], c['a'])} - {NAMES.get(c['b'], c['b'])}"
        lines.append(f"| {c['metric']} | {name} | {','.join(map(str, c['seeds']))} | "
                     f"{diff} | {ci} | {t} | {p} |")
    return "\n".join(lines) + "\n"


def missing_markdown(runs: Sequence[Run]) -> str:
    miss = results.missing(runs)
    if not miss:
        return "All expected runs decoded.\n"
    return "Missing (excluded from every mean):\n\n" + "".join(
        f"- {Path(r.exp).name} ({NAMES.get(r.arch, r.arch)} seed {r.seed}): "
        f"{r.status}\n"
        for r in miss)


def _csv(rows: Sequence[dict], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(columns)
    for r in rows:
        w.writerow(["" if r.get(c) is None else r.get(c) for c in columns])
    return buf.getvalue()


SUMMARY_COLUMNS = ["model", "arch", "runs", "missing"] + [
    f"{k}{suffix}" for k in METRICS for suffix in ("", "_sd", "_ci_low", "_ci_high")]
RUN_COLUMNS = ["arch", "seed", "status", "exp"] + list(METRICS)


def run_rows(runs: Sequence[Run]) -> list[dict]:
    return [{"arch": r.arch, "seed": r.seed, "status": r.status, "exp": r.exp,
             **r.values} for r in runs]


def run_lines(runs: Sequence[Run]) -> str:
    """The lines the demo prints per run: PER (phone graph), WER (word graph),
    the run's table1.md."""
    out = []
    for r in runs:
        name = f"{NAMES.get(r.arch, r.arch)} seed {r.seed}"
        if not r.decoded:
            out.append(f"MISSING ({r.status})  {name}  {r.exp}")
            continue
        out.append(f"PER {_fmt(r.get('per'))} % (phone graph)  {name}  {r.exp}")
        out.append(f"WER {_fmt(r.get('wer'))} % (word graph)   {name}  {r.exp}")
        if r.get("heldout_per") is not None:
            out.append(f"heldout voices: PER {_fmt(r.get('heldout_per'))} %, WER "
                       f"{_fmt(r.get('heldout_wer'))} %  {name}")
        t1 = Path(r.exp) / "table1.md"
        if t1.is_file():
            out.append(f"Table-1 row of {name} ({t1}):")
            out.append(t1.read_text().rstrip())
    return "\n".join(out) + "\n"


def width_folder(width: str) -> str:
    """Folder-name spelling of a width label: ``1.5x`` -> ``1p5x``."""
    return width.replace(".", "p")


def sweep_folder(bits: int, width: str, seed: int | str) -> str:
    """The experiment folder of a sweep point, as benchmark.sh names it.

    >>> sweep_folder(4, "1x", 1), sweep_folder(0, "1.5x", "{seed}")
    ('v2_b4_seed1', 'v2_b0_w1p5x_seed{seed}')
    """
    tag = "" if width == "1x" else f"_w{width_folder(width)}"
    return f"v2_b{bits}{tag}_seed{seed}"


def sweep_summary(root: Path, bits: Sequence[int], widths: Sequence[str],
                  seeds: int) -> tuple[dict[str, list[dict]], list[Run]]:
    """Per width, the v2 sweep rows sorted by bits (full precision last)."""
    out: dict[str, list[dict]] = {}
    all_runs: list[Run] = []
    for w in widths:
        rows = []
        for b in sorted(bits, key=lambda x: (x == 0, x)):
            runs = results.collect(root, ["v2"], seeds,
                                   folder=sweep_folder(b, w, "{seed}"))
            all_runs += runs
            if not any(r.decoded for r in runs):
                continue
            s = results.summarise(runs)[0]
            s.update(model=("SNN v2, " if w == "1x" else f"SNN v2 {w}, ")
                     + (f"{b}-bit spikes" if b else "full precision"),
                     bits=b, width=w)
            rows.append(s)
        if rows:
            out[w] = rows
    return out, all_runs


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


def _widths(text: str) -> list[str]:
    out = [w.strip() for w in text.split(",") if w.strip()]
    for w in out:
        try:
            ok = w.endswith("x") and float(w[:-1]) > 0
        except ValueError:
            ok = False
        if not ok:
            raise argparse.ArgumentTypeError(f"widths like 1x,1.5x,2x,3x, not {text!r}")
    return out


def _ranges_section(root: Path, grid: dict[str, list[dict]], out: Path) -> list[str]:
    """``spike_ranges.md`` (b of each layer at the end of training, seed 1, for the
    sweep points of ``grid``) and ``spike_ranges.png`` (b per epoch at width 1x);
    returns the report's lines."""
    lines = ["| width | bits | b, layer 0 | b, layer 1 |", "|---|---|---|---|"]
    curves = {}
    for w, rows in grid.items():
        for b in (r["bits"] for r in rows if r["bits"]):
            per_epoch = spike_ranges.epoch_ranges(root / sweep_folder(b, w, 1))
            if not per_epoch or not per_epoch[-1]:
                continue
            final = list(per_epoch[-1].values())[:2]
            lines.append(f"| {w} | {b} | " + " | ".join(f"{v:.4g}" for v in final)
                         + " |")
            if w == "1x":
                curves[f"{b} bits"] = per_epoch
    if len(lines) == 2:
        return []
    md = "\n".join(lines) + "\n"
    _write(out / "spike_ranges.md", md)
    if curves:
        figures.plot_spike_ranges(curves, out / "spike_ranges.png",
                                  "SNN v2 (1x): tracked spike range per epoch")
    return ["### Tracked spike range b at the end of training (seed 1)", "", md,
            "![spike ranges](spike_ranges.png)", ""]


def _sweep_section(root: Path, out: Path, args) -> list[str]:
    """Write the sweep files; returns the report's Markdown lines."""
    grid, sruns = sweep_summary(root, args.sweep, args.widths,
                                args.sweep_seeds or args.seeds)
    if not grid:
        logger.warning("no finished precision-sweep runs under %s", root)
        return []
    rows = [r for rs in grid.values() for r in rs]
    md = table_markdown(rows)
    _write(out / "sweep.md", md)
    _write(out / "sweep.csv", _csv(rows, ["width", "bits"] + SUMMARY_COLUMNS))
    _write(out / "sweep.json", json.dumps(rows, indent=2) + "\n")
    if "1x" in grid:
        figures.plot_precision(grid["1x"], out / "precision_sweep.png")
    figures.plot_precision_width(grid, out / "precision_width.png",
                                 "SNN v2: error against precision and width")
    ranges_md = _ranges_section(root, grid, out)
    means = {(r["width"], r["bits"]): r["per"] for r in rows}
    claims = orderings.sweep_claims(means, args.sweep, list(grid))
    print(md, end="")
    print(f"precision sweep: {out}/sweep.md, sweep.csv, precision_sweep.png")
    return ["## Fig. 5: precision (and width) sweep of SNN v2", "", md,
            "![Fig. 5a](precision_sweep.png) ![Fig. 5b](precision_width.png)", "",
            orderings.claims_markdown(claims), missing_markdown(sruns)] + ranges_md


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("root", help="folder holding <arch>_seed<N>/ experiment folders")
    p.add_argument("--archs", nargs="+", default=list(NAMES), help="architectures")
    p.add_argument("--seeds", type=int, default=1, help="seeds per architecture")
    p.add_argument("--sweep", type=_bits, default=None,
                   help="spike bit widths of a precision sweep, e.g. 1,2,4,6,0 "
                   "(0 = full precision)")
    p.add_argument("--widths", type=_widths, default=["1x"],
                   help="widths of the sweep (Fig. 5b), e.g. 1x,1.5x,2x,3x")
    p.add_argument("--sweep-seeds", type=int, default=None,
                   help="seeds per sweep point (default: --seeds)")
    p.add_argument("--title", default="Demo benchmark", help="report title")
    args = p.parse_args(argv)
    root = Path(args.root)
    runs = results.collect(root, args.archs, args.seeds)
    if not any(r.decoded for r in runs):
        print(f"no decoded experiments under {root}", file=sys.stderr)
        return 1
    summary = results.summarise(runs)
    comps = results.comparisons(runs, "per") + results.comparisons(runs, "wer")
    if any(r.get("heldout_per") is not None for r in runs):
        comps += results.comparisons(runs, "heldout_per")
    claims = orderings.table1_claims(runs, summary)
    out = root / "results"
    out.mkdir(parents=True, exist_ok=True)
    md = table_markdown(summary)
    _write(out / "summary.md", md + "\n" + comparisons_markdown(comps) + "\n" +
           missing_markdown(runs))
    _write(out / "summary.csv", _csv(summary, SUMMARY_COLUMNS))
    _write(out / "runs.csv", _csv(run_rows(runs), RUN_COLUMNS))
    _write(out / "summary.json", json.dumps(
        {"summary": summary, "comparisons": comps, "claims": claims,
         "runs": run_rows(runs)}, indent=2) + "\n")
    figures.plot_curves([r for r in runs if r.epochs], out / "curves.png")
    report = [f"# {args.title}", "", f"Runs under `{root}`; mean ± half-width of the "
              "95% t confidence interval over the decoded seeds.", "",
              "## Table 1", "", md, "### Test PER per architecture", "",
              stats_markdown(summary), "### Paired comparisons (matched by seed)", "",
              comparisons_markdown(comps), missing_markdown(runs),
              "## The paper's orderings on this data", "",
              orderings.claims_markdown(claims), "![curves](curves.png)", ""]
    print(run_lines(runs), end="")
    print(md, end="")
    print(comparisons_markdown(comps), end="")
    print(orderings.claims_markdown(claims), end="")
    if args.sweep:
        report += _sweep_section(root, out, args)
    _write(out / "report.md", "\n".join(report) + "\n")
    print(f"results: {out}/report.md, summary.md/.csv/.json, runs.csv, curves.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
