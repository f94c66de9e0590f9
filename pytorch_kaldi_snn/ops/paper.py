"""The authors' tally, recomputed from our event counts (for comparison only).

The paper's Table 1 normalises "multiplications per inference" to the LSTM. Reading
the authors' released fork, their per-frame tally differs from
ours (docs/ops-counting.md) in three ways, all reproduced here so both can be printed
side by side:

1. the readout is included: the last layer's events times the readout size O;
2. the term meant as the recurrent cost of layer i uses the events *entering* layer i
   (not the layer's own previous outputs), so every layer's input MACs are tallied twice
   and the v2 recurrence itself is absent (it is zero for v1 and for the traditional
   layer, which has no such term);
3. a fixed per-neuron constant stands for the element-wise work: 6 (traditional),
   8 (v1, v2), 12 (LSTM, GRU); LSTM/GRU add their dense recurrent products G H^2.

With e_0 the input events per frame, e_i the output events per frame of layer i
(i = 1..L, sizes H_i), G the weight blocks per layer (traditional 1, v1/v2 2, GRU 3,
LSTM 4)::

    tally = G e_0 H_1 + sum_i [ next_i + rec_i + c H_i ]
    next_i = G e_i H_{i+1} (i < L),  e_L O (i = L)
    rec_i  = G e_{i-1} H_i (v1, v2),  0 (traditional),  G H_i^2 (LSTM, GRU)

>>> dense = [40, 550, 550]
>>> round(authors_tally("gru", dense, [550, 550], 1936)
...       / authors_tally("lstm", dense, [550, 550], 1936), 2)
0.81
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

GATES = {"traditional": 1, "v1": 2, "v2": 2, "gru": 3, "lstm": 4}
CONSTANT = {"traditional": 6, "v1": 8, "v2": 8, "gru": 12, "lstm": 12}


def authors_tally(
    kind: str, events: Sequence[float], sizes: Sequence[int], out_dim: int
) -> float:
    """Per-frame tally in the authors' convention.

    ``events``: ``[e_0, e_1, ..., e_L]`` non-zero values per frame entering layer 1
    and leaving each layer; ``sizes``: ``[H_1, ..., H_L]``; ``out_dim``: readout size O.
    """
    if kind not in GATES:
        raise ValueError(f"unknown kind {kind!r}; allowed: {sorted(GATES)}")
    if len(events) != len(sizes) + 1:
        raise ValueError("events must hold one more entry than sizes (e_0 .. e_L)")
    g, c = GATES[kind], CONSTANT[kind]
    total = g * events[0] * sizes[0]
    for i, h in enumerate(sizes):
        last = i == len(sizes) - 1
        total += events[i + 1] * out_dim if last else g * events[i + 1] * sizes[i + 1]
        if kind in ("v1", "v2"):
            total += g * events[i] * h
        elif kind in ("lstm", "gru"):
            total += g * h * h
        total += c * h
    return float(total)


def tally_from_summary(summary: dict[str, Any], out_dim: int) -> dict[str, float]:
    """The authors' tally of a :func:`~pytorch_kaldi_snn.ops.report.summarize` result
    and of dense LSTM/GRU stacks of the same sizes (unobserved events: dense).

    Returns ``{"model", "lstm", "gru", "model_vs_lstm", "model_vs_gru"}``.
    """
    layers = [d for d in summary["layers"] if d["role"] == "recurrent"]
    if not layers:
        raise ValueError("the summary holds no recurrent layer")
    kinds = {d["kind"] for d in layers}
    if len(kinds) != 1:
        raise ValueError(f"mixed layer kinds {sorted(kinds)}")
    kind = kinds.pop()
    enc = [d for d in summary["layers"] if d["role"] == "encoder"]
    first = enc[0] if enc else layers[0]
    e0 = first["per_frame"]["out_events" if enc else "in_events"]
    events = [layers[0]["input_size"] if e0 is None else e0]
    for d in layers:
        e = d["per_frame"]["out_events"]
        events.append(d["hidden_size"] * d["directions"] if e is None else e)
    sizes = [d["hidden_size"] for d in layers]
    dense = [layers[0]["input_size"], *sizes]
    out = {
        "model": authors_tally(kind, events, sizes, out_dim),
        "lstm": authors_tally("lstm", dense, sizes, out_dim),
        "gru": authors_tally("gru", dense, sizes, out_dim),
    }
    out["model_vs_lstm"] = out["model"] / out["lstm"]
    out["model_vs_gru"] = out["model"] / out["gru"]
    return out
