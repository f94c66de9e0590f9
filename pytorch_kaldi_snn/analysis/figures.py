"""Plots of a results set (matplotlib, Agg, atomic PNG writes).

- :func:`plot_curves`: training loss and dev frame error per epoch, one line per run;
  a marker where newbob halved the learning rate.
- :func:`plot_precision`: the paper's Fig. 5(a), PER against spike precision
  (1 .. N bits, then full precision) with the 95 % CI over seeds as error bars.
- :func:`plot_precision_width`: Fig. 5(b), the same with one line per width.
- :func:`plot_spike_ranges`: the tracked spike range b of each layer per epoch, one
  colour per precision (log scale: at 1-2 bits b runs away).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from pytorch_kaldi_snn.analysis.results import NAMES, Run


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    plt = _pyplot()
    tmp = path.with_name(path.stem + ".tmp.png")
    try:
        fig.savefig(tmp, dpi=100)
    finally:
        plt.close(fig)
    tmp.replace(path)


def plot_curves(runs: Sequence[Run], path: Path) -> None:
    """Training loss and dev frame error per epoch; x where the lr was halved."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    # one colour per architecture, one line style per seed (15 runs outgrow the
    # 10-colour cycle)
    archs = list(dict.fromkeys(r.arch for r in runs))
    colours = {a: f"C{i % 10}" for i, a in enumerate(archs)}
    styles = ("-", "--", ":", "-.")
    for r in runs:
        if not r.epochs:
            continue
        ep = [e[0] for e in r.epochs]
        label = f"{NAMES.get(r.arch, r.arch)} s{r.seed}"
        look = {"color": colours[r.arch], "linestyle": styles[(r.seed - 1) % 4]}
        axes[0].plot(ep, [e[1] for e in r.epochs], label=label, **look)
        line = axes[1].plot(ep, [100 * e[4] for e in r.epochs], label=label, **look)[0]
        halved = [i for i in range(1, len(r.lrs)) if r.lrs[i] is not None
                  and r.lrs[i - 1] is not None and r.lrs[i] < r.lrs[i - 1]]
        axes[1].plot([ep[i] for i in halved], [100 * r.epochs[i][4] for i in halved],
                     "x", color=line.get_color())
    axes[0].set(xlabel="epoch", ylabel="training loss (NLL)", title="training loss")
    axes[1].set(xlabel="epoch", ylabel="dev frame error %",
                title="dev frame error (x: lr halved)")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)


def _bit_labels(bits: Sequence[int]) -> list[str]:
    return ["full" if b == 0 else str(b) for b in bits]


def plot_precision_width(rows: Mapping[str, Sequence[dict]], path: Path,
                         title: str) -> None:
    """PER (mean, 95 % CI bars) against bits, one line per width label.

    ``rows[width]``: dicts with ``bits`` (0 = full precision), ``per``,
    ``per_ci_low``, ``per_ci_high`` (CI None with one seed), sorted by bits.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    all_bits = sorted({r["bits"] for rs in rows.values() for r in rs},
                      key=lambda b: (b == 0, b))
    pos = {b: i for i, b in enumerate(all_bits)}
    for width, rs in rows.items():
        by_bits = {r["bits"]: r for r in rs if r["per"] is not None}
        if not by_bits:
            continue
        # every precision gets a slot; a missing one is NaN, which breaks the line
        # there instead of joining its neighbours
        ys = [by_bits[b]["per"] if b in by_bits else float("nan") for b in all_bits]
        lo = [0.0 if b not in by_bits or by_bits[b]["per_ci_low"] is None
              else by_bits[b]["per"] - by_bits[b]["per_ci_low"] for b in all_bits]
        hi = [0.0 if b not in by_bits or by_bits[b]["per_ci_high"] is None
              else by_bits[b]["per_ci_high"] - by_bits[b]["per"] for b in all_bits]
        ax.errorbar([pos[b] for b in all_bits], ys, yerr=[lo, hi], marker="o",
                    capsize=3, label=width)
    ax.set_xticks(range(len(all_bits)), _bit_labels(all_bits))
    ax.set(xlabel="spike precision (bits)", ylabel="test PER % (95% CI over seeds)",
           title=title)
    ax.grid(True, alpha=0.3)
    ax.legend(title="width")
    fig.tight_layout()
    _save(fig, path)


def plot_precision(rows: Sequence[dict], path: Path) -> None:
    """Fig. 5(a): one width."""
    plot_precision_width({"1x": rows}, path, "SNN v2: error against spike precision")


def plot_spike_ranges(ranges: Mapping[str, Sequence[Mapping[str, float]]], path: Path,
                      title: str) -> None:
    """b at the end of each epoch, log scale; ``ranges[label]`` is
    :func:`pytorch_kaldi_snn.analysis.spike_ranges.epoch_ranges` of one run, one
    colour per label and one line style per layer."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    styles = ("-", "--", ":", "-.")
    for i, (label, per_epoch) in enumerate(ranges.items()):
        layers = list(dict.fromkeys(k for ep in per_epoch for k in ep))
        for j, layer in enumerate(layers):
            pts = [(ep, r[layer]) for ep, r in enumerate(per_epoch) if layer in r]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], color=f"C{i % 10}",
                    linestyle=styles[j % 4], marker=".",
                    label=f"{label}, layer {j}")
    ax.set_yscale("log")
    ax.set(xlabel="epoch", ylabel="tracked range b (end of epoch)", title=title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    _save(fig, path)
