"""Which of the paper's orderings our measured data reproduce (computed, not typed).

The paper's Table 1 (TIMIT, 2 x 550, 6 bits) gives accuracy = 100 - PER:
LSTM 82.68 > GRU 82.26 > v2 81.28 > v1 79.64 > traditional 70.66; zero outputs
v2 84.29 % > v1 70.89 % > traditional 59.90 %; multiplications per inference against
the LSTM (the authors' tally) v2 0.08 < traditional 0.13 < v1 0.15 < GRU 0.81 < 1.
Fig. 5: error falls as spike precision rises (1 .. 6 bits, then full precision), and
a wider v2 network is more accurate at a given precision.

A claim "A < B" on a per-seed metric is judged by the paired difference d = A - B:

    holds                 mean d < 0 and the 95 % CI of d lies below 0
    holds in the mean     mean d < 0, CI includes 0 (not significant)
    does not hold         mean d >= 0 (and "reversed" when the CI lies above 0)

with "(1 seed, untested)" appended when only one seed pairs up.

Orderings of means without seed pairing (sparsity, cost, sweeps) hold when every
adjacent pair of means is in the paper's order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pytorch_kaldi_snn.analysis import stats
from pytorch_kaldi_snn.analysis.results import NAMES, Run

PAPER_ACCURACY = {"lstm": 82.68, "gru": 82.26, "v2": 81.28, "v1": 79.64,
                  "trad": 70.66}
PAPER_ZERO = {"v2": 84.29, "v1": 70.89, "trad": 59.90}
PAPER_MULTS = {"v2": 0.08, "trad": 0.13, "v1": 0.15, "gru": 0.81, "lstm": 1.0}
# Paired per-seed claims on PER: (A, B) means "A has the lower PER".
PER_CLAIMS = (("v2", "v1"), ("v1", "trad"), ("lstm", "v2"), ("gru", "v2"),
              ("lstm", "gru"))


def judge_paired(a: str, b: str, per_seed_a: Mapping[int, float],
                 per_seed_b: Mapping[int, float], what: str) -> dict:
    """Verdict on "A's ``what`` is lower than B's" from seed-matched pairs."""
    p = stats.paired(a, per_seed_a, b, per_seed_b)
    d = p.diff
    claim = f"{NAMES.get(a, a)} has a lower {what} than {NAMES.get(b, b)}"
    if d.n == 0:
        return {"claim": claim, "verdict": "not measured", "detail": "no paired seeds"}
    if d.n == 1:
        verdict = ("holds" if d.mean < 0 else "does not hold") + " (1 seed, untested)"
    elif d.mean < 0:
        sig = d.ci_high is not None and d.ci_high < 0
        verdict = "holds" if sig else "holds in the mean (not significant)"
    else:
        rev = d.ci_low is not None and d.ci_low > 0
        verdict = "does not hold (reversed, significant)" if rev else "does not hold"
    ci = ("" if d.ci_low is None
          else f", 95% CI [{d.ci_low:+.2f}, {d.ci_high:+.2f}]")
    pv = "" if p.p is None else f", p = {p.p:.3g}"
    detail = f"{a} - {b} = {d.mean:+.2f} over {d.n} seed(s){ci}{pv}"
    return {"claim": claim, "verdict": verdict, "detail": detail}


def judge_order(names: Sequence[str], means: Mapping[str, float | None],
                what: str, descending: bool) -> dict:
    """Verdict on the ordering of ``means`` over ``names`` (adjacent pairs)."""
    shown = [n for n in names if means.get(n) is not None]
    rel = " > " if descending else " < "
    claim = f"{what}: " + rel.join(NAMES.get(n, n) for n in names)
    if len(shown) < 2:
        return {"claim": claim, "verdict": "not measured", "detail": "fewer than 2"}
    bad = []
    for x, y in zip(shown, shown[1:]):
        ok = means[x] > means[y] if descending else means[x] < means[y]
        if not ok:
            bad.append(f"{NAMES.get(x, x)} vs {NAMES.get(y, y)}")
    values = ", ".join(f"{NAMES.get(n, n)} {means[n]:.3g}" for n in shown)
    verdict = "holds" if not bad else "does not hold (" + "; ".join(bad) + ")"
    if len(shown) < len(names):
        verdict += " [partial: " + ", ".join(n for n in names if n not in shown) + \
            " not measured]"
    return {"claim": claim, "verdict": verdict, "detail": values}


def table1_claims(runs: Sequence[Run], summary: Sequence[dict]) -> list[dict]:
    """Every Table-1 ordering of the paper, judged on ``runs`` / ``summary``."""
    by: dict[str, dict[int, float]] = {}
    for r in runs:
        if r.decoded and r.get("per") is not None:
            by.setdefault(r.arch, {})[r.seed] = r.get("per")
    out = [judge_paired(a, b, by.get(a, {}), by.get(b, {}), "PER")
           for a, b in PER_CLAIMS]
    mean = {k: {s["arch"]: s[k] for s in summary} for k in
            ("zero_outputs_pct", "authors_vs_lstm", "mults_vs_lstm")}
    out.append(judge_order(sorted(PAPER_ZERO, key=PAPER_ZERO.get, reverse=True),
                           mean["zero_outputs_pct"], "zero outputs %", True))
    order = sorted(PAPER_MULTS, key=PAPER_MULTS.get)
    out.append(judge_order(order, mean["authors_vs_lstm"],
                           "mults / LSTM, authors' tally", False))
    out.append(judge_order(order, mean["mults_vs_lstm"],
                           "mults / LSTM, our convention", False))
    return out


def sweep_claims(grid: Mapping[tuple[str, int], float | None], bits: Sequence[int],
                 widths: Sequence[str]) -> list[dict]:
    """Fig. 5: at each width PER falls as bits rise (0 = full precision, last); at
    each precision PER falls as the width grows. ``grid[(width, bits)]`` = mean PER."""
    order = sorted(bits, key=lambda b: (b == 0, b))
    label = {b: ("full" if b == 0 else f"{b} bits") for b in order}
    out = []
    for w in widths:
        means = {label[b]: grid.get((w, b)) for b in order}
        if sum(v is not None for v in means.values()) >= 2:
            out.append(judge_order([label[b] for b in order], means,
                                   f"PER at width {w} (fewer bits -> more error)",
                                   True))
    if len(widths) > 1:
        for b in order:
            means = {w: grid.get((w, b)) for w in widths}
            if sum(v is not None for v in means.values()) >= 2:
                out.append(judge_order(list(widths), means,
                                       f"PER at {label[b]} (wider -> less error)",
                                       True))
    return out


def claims_markdown(claims: Sequence[dict]) -> str:
    """A Markdown table: claim, verdict, measured values."""
    lines = ["| paper's claim | verdict on our data | measured |", "|---|---|---|"]
    lines += [f"| {c['claim']} | {c['verdict']} | {c['detail']} |" for c in claims]
    return "\n".join(lines) + "\n"
