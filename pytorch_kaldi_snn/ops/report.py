"""Reports of operation counts: JSON/CSV per layer, Table-1 rows, markdown.

A *summary* (:func:`summarize`) is a plain dict, JSON-ready::

    {"label": str,
     "frames": int,                       # frames seen by the first recurrent layer
     "layers": [LayerCount.to_dict(), ...],
     "totals": {"network": {...}, "head": {...}, "all": {...}},   # per frame
     "reference": {"lstm": {...}, "gru": {...}},                  # dense, per frame
     "table1": {"model", "zero_outputs_pct", "mults_per_frame", "mults_vs_lstm",
                "mults_vs_gru", "adds_per_frame", "adds_vs_lstm", "adds_vs_gru"}}

"network" sums the recurrent layers and the input encoder (what Table 1 of the paper
compares); "head" the dense readout/MLP layers, which are the same for every model.
The references are dense LSTM and GRU stacks with the network's recurrent layer sizes
(:mod:`.costs`): ``mults_vs_lstm = network mults / LSTM mults``, both per frame.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

from pytorch_kaldi_snn.fileio import atomic_write_text
from pytorch_kaldi_snn.ops import costs
from pytorch_kaldi_snn.ops.counter import LayerCount

NETWORK_ROLES = ("recurrent", "encoder")
CSV_FIELDS = (
    "name", "kind", "role", "input_size", "hidden_size", "directions", "frames",
    "in_events_per_frame", "out_events_per_frame", "zero_outputs_pct",
    "mults_per_frame", "adds_per_frame", "nonlin_per_frame",
    "mults_input", "mults_recurrent", "mults_elementwise",
)


def _per_frame(records: Iterable[LayerCount]) -> dict[str, float]:
    """Sum of per-frame means of ``records`` (layers seen on the same frames)."""
    out = {"mults": 0.0, "adds": 0.0, "nonlin": 0.0}
    for r in records:
        n = max(r.frames, 1)
        out["mults"] += r.mults / n
        out["adds"] += r.adds / n
        out["nonlin"] += r.nonlin / n
    return out


def reference_costs(records: Sequence[LayerCount]) -> dict[str, dict[str, float]]:
    """Dense LSTM and GRU per-frame costs with the recurrent layers' sizes."""
    ref = {"lstm": costs.ZERO, "gru": costs.ZERO}
    for r in records:
        if r.role != "recurrent":
            continue
        ref["lstm"] = ref["lstm"] + costs.lstm_layer_cost(
            r.input_size, r.hidden_size
        ).scale(r.directions)
        ref["gru"] = ref["gru"] + costs.gru_layer_cost(
            r.input_size, r.hidden_size
        ).scale(r.directions)
    return {
        k: {"mults": float(c.mults), "adds": float(c.adds), "nonlin": float(c.nonlin)}
        for k, c in ref.items()
    }


def zero_outputs_pct(records: Iterable[LayerCount]) -> float | None:
    """Percentage of exactly-zero outputs pooled over the recurrent layers seen."""
    events = slots = 0
    for r in records:
        if r.role == "recurrent" and r.observed_out:
            events += r.out_events
            slots += r.out_slots
    return None if slots == 0 else 100.0 * (1.0 - events / slots)


def _ratio(a: float, b: float) -> float | None:
    return None if b == 0 else a / b


def summarize(records: Sequence[LayerCount], label: str = "model") -> dict[str, Any]:
    """The summary dict of a list of layer records (see the module docstring)."""
    network = [r for r in records if r.role in NETWORK_ROLES]
    head = [r for r in records if r.role not in NETWORK_ROLES]
    net = _per_frame(network)
    ref = reference_costs(records)
    frames = next((r.frames for r in records if r.role == "recurrent"), 0)
    if not frames and records:
        frames = records[0].frames
    row = {
        "model": label,
        "zero_outputs_pct": zero_outputs_pct(records),
        "mults_per_frame": net["mults"],
        "mults_vs_lstm": _ratio(net["mults"], ref["lstm"]["mults"]),
        "mults_vs_gru": _ratio(net["mults"], ref["gru"]["mults"]),
        "adds_per_frame": net["adds"],
        "adds_vs_lstm": _ratio(net["adds"], ref["lstm"]["adds"]),
        "adds_vs_gru": _ratio(net["adds"], ref["gru"]["adds"]),
    }
    return {
        "label": label,
        "frames": frames,
        "layers": [r.to_dict() for r in records],
        "totals": {
            "network": net, "head": _per_frame(head), "all": _per_frame(records)
        },
        "reference": ref,
        "table1": row,
    }


SILENT_PCT = 99.9


def silent_layers(summary: dict[str, Any], min_zero_pct: float = SILENT_PCT
                  ) -> list[tuple[str, float]]:
    """``(name, zero outputs %)`` of the recurrent layers of a summary whose outputs
    were at least ``min_zero_pct`` % zeros: such a layer passes (almost) nothing on,
    so everything above it sees no input.

    >>> silent_layers({"layers": [
    ...     {"name": "l0", "role": "recurrent", "zero_outputs_pct": 99.99},
    ...     {"name": "l1", "role": "recurrent", "zero_outputs_pct": 93.4},
    ...     {"name": "lstm", "role": "recurrent", "zero_outputs_pct": None}]})
    [('l0', 99.99)]
    """
    return [(d["name"], d["zero_outputs_pct"]) for d in summary.get("layers", [])
            if d.get("role") == "recurrent" and d.get("zero_outputs_pct") is not None
            and d["zero_outputs_pct"] >= min_zero_pct]


def records_from_summary(summary: dict[str, Any]) -> list[LayerCount]:
    """Rebuild the layer records of a summary (to merge runs or chunks)."""
    return [LayerCount.from_dict(d) for d in summary.get("layers", [])]


def merge_records(groups: Iterable[Sequence[LayerCount]]) -> list[LayerCount]:
    """Sum layer records by name over several runs, keeping first-seen order."""
    merged: dict[str, LayerCount] = {}
    for group in groups:
        for r in group:
            if r.name in merged:
                merged[r.name].merge(r)
            else:
                merged[r.name] = LayerCount.from_dict(r.to_dict())
    return list(merged.values())


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def table1_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown table of Table-1 rows (zero outputs, mults normalised to LSTM/GRU)."""
    lines = [
        ("| model | zero outputs (%) | mults / frame | mults vs LSTM | mults vs GRU |"
        " adds vs LSTM |"),
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {_fmt(r['zero_outputs_pct'])} | "
            f"{_fmt(r['mults_per_frame'], 0)} | {_fmt(r['mults_vs_lstm'], 3)} | "
            f"{_fmt(r['mults_vs_gru'], 3)} | {_fmt(r['adds_vs_lstm'], 3)} |"
        )
    return "\n".join(lines) + "\n"


def layer_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Flat per-layer rows (the CSV columns :data:`CSV_FIELDS`)."""
    rows = []
    for d in summary["layers"]:
        pf = d["per_frame"]
        rows.append({
            **{k: d[k] for k in CSV_FIELDS if k in d},
            "in_events_per_frame": pf["in_events"],
            "out_events_per_frame": pf["out_events"],
            "mults_per_frame": pf["mults"],
            "adds_per_frame": pf["adds"],
            "nonlin_per_frame": pf["nonlin"],
        })
    return rows


def layers_markdown(summary: dict[str, Any]) -> str:
    """Markdown table of the per-layer counts of one summary (per frame)."""
    lines = [
        ("| layer | kind | F | H | in events | out events | zero out (%) | mults |"
        " adds |"),
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in layer_rows(summary):
        lines.append(
            f"| {r['name']} | {r['kind']} | {r['input_size']} | {r['hidden_size']} | "
            f"{_fmt(r['in_events_per_frame'], 1)} | "
            f"{_fmt(r['out_events_per_frame'], 1)} | {_fmt(r['zero_outputs_pct'])} | "
            f"{_fmt(r['mults_per_frame'], 0)} | "
            f"{_fmt(r['adds_per_frame'], 0)} |"
        )
    return "\n".join(lines) + "\n"




def write_json(path: str, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_csv(path: str, summaries: Sequence[dict[str, Any]]) -> None:
    """Atomically write the per-layer rows of several summaries (column ``model``)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=("model", *CSV_FIELDS))
    writer.writeheader()
    for s in summaries:
        for row in layer_rows(s):
            writer.writerow({"model": s["label"], **row})
    atomic_write_text(path, buf.getvalue())
