"""The whole ``run_exp``: cfg -> plan -> train -> forward -> decode -> score -> reports.

Every cfg error is raised by ``load_config`` before anything is written (no checkpoint,
no res.res). After training, each ``forward_with`` dataset is forwarded; outputs with
``require_decoding`` are decoded and scored by :mod:`pytorch_kaldi_snn.kaldi` and the
best ``%WER`` line is appended to ``res.res`` and printed. A Table-1 style row is
written to ``<out_folder>/table1.{json,md}``::

    accuracy = 100 - PER   (phone graph: the %WER line of a phone graph is a PER)
    accuracy = 100 - WER   (word graph)
    accuracy = 100 - 100 * frame error   (nothing was decoded)

The run holds the out folder's lock throughout, removes temp files a killed run left,
and (from a cfg) records the effective cfg as ``conf.cfg`` or refuses to continue a run
made with another one (:mod:`pytorch_kaldi_snn.runner.folder`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

import torch

from pytorch_kaldi_snn.errors import ConfigError, DataError
from pytorch_kaldi_snn.runner.checkpoint import atomic_write_text
from pytorch_kaldi_snn.runner.decoding import (
    ForwardResult,
    decode_and_score,
    forward_experiment,
    write_json,
)
from pytorch_kaldi_snn.runner.distributed import (
    DistContext,
    barrier,
    init_distributed,
    leave_distributed,
    set_cpu_threads,
)
from pytorch_kaldi_snn.runner.experiment import train_experiment, used_archs
from pytorch_kaldi_snn.runner.folder import (
    check_and_record,
    clear_outputs,
    effective_cfg,
    hold_folder,
    remove_stale_parts,
)
from pytorch_kaldi_snn.runner.plan import ExperimentPlan

logger = logging.getLogger(__name__)


def _final_checkpoints(plan: ExperimentPlan) -> dict[str, str]:
    exp = os.path.join(plan.out_folder, "exp_files")
    final = {n: os.path.join(exp, f"final_{plan.arch(n).section}.pkl")
             for n in used_archs(plan)}
    missing = [p for p in final.values() if not os.path.exists(p)]
    if missing:
        raise DataError(f"{missing[0]}: no final checkpoint; run the training stage "
                        "first")
    return final


def append_res(plan: ExperimentPlan, line: str) -> None:
    """Append one line to ``res.res`` (atomically rewritten)."""
    path = os.path.join(plan.out_folder, "res.res")
    old = ""
    if os.path.exists(path):
        with open(path) as fh:
            old = fh.read()
    if old and not old.endswith("\n"):
        old += "\n"
    atomic_write_text(path, old + line.rstrip("\n") + "\n")


def error_unit(line: str) -> str:
    """``PER`` when the decode folder named after the counts of a ``%WER`` line
    (``%WER r [ ... ] DIR/wer_LMWT_WIP`` and maybe a note on how it was chosen)
    was decoded with a phone graph (its ``graph_kind`` says ``phone``), else ``WER``."""
    words = line.split()
    path = words[words.index("]") + 1] if "]" in words[:-1] else ""
    kind = os.path.join(os.path.dirname(path), "graph_kind") if path else ""
    if kind and os.path.isfile(kind):
        with open(kind) as fh:
            if fh.read().strip() == "phone":
                return "PER"
    return "WER"


def table1_row(label: str, data: str, result: ForwardResult,
               wer: float | None, unit: str = "WER") -> dict:
    """Accuracy, zero outputs and multiplications of one forward dataset (``unit``:
    what the decoded error rate ``wer`` is, PER or WER)."""
    ops = (result.ops or {}).get("table1", {})
    if wer is not None:
        accuracy, source = 100.0 - wer, f"100 - {unit}"
    elif result.frame_err is not None:
        accuracy, source = 100.0 * (1.0 - result.frame_err), "100 - frame error %"
    else:
        accuracy, source = None, "none"
    return {
        "model": label, "data": data, "accuracy": accuracy, "accuracy_from": source,
        "zero_outputs_pct": ops.get("zero_outputs_pct"),
        "mults_per_frame": ops.get("mults_per_frame"),
        "mults_vs_lstm": ops.get("mults_vs_lstm"),
        "mults_vs_gru": ops.get("mults_vs_gru"),
    }


def _fmt(v) -> str:
    if v is None:
        return "-"
    return f"{v:.2f}" if isinstance(v, float) else str(v)


def write_table1(plan: ExperimentPlan, rows: list[dict]) -> None:
    """``table1.json`` and ``table1.md`` in the out folder."""
    write_json(os.path.join(plan.out_folder, "table1.json"), rows)
    keys = ["model", "data", "accuracy", "zero_outputs_pct", "mults_per_frame",
            "mults_vs_lstm", "mults_vs_gru", "accuracy_from"]
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(_fmt(r.get(k)) for k in keys) + " |" for r in rows]
    atomic_write_text(os.path.join(plan.out_folder, "table1.md"),
                      "\n".join(lines) + "\n")


def forward_and_decode(plan: ExperimentPlan, ctx: DistContext,
                       final: Mapping[str, str]) -> list[dict]:
    """Forward, decode and score; returns the Table-1 rows."""
    results = forward_experiment(plan, ctx, final)
    label = "+".join(a.name for a in plan.archs)
    wers: dict[str, tuple[float, str]] = {}
    # dev first: its best decoding settings are applied to the other sets
    for data in sorted(results, key=lambda d: d not in plan.valid_with):
        for i, out in enumerate(plan.forward.outs):
            if not plan.forward.require_decoding[i] or not ctx.is_main:
                continue
            scored = decode_and_score(plan, data, out, results[data].arks[out])
            if scored is not None:
                line, value = scored
                append_res(plan, line)
                print(line)
                wers.setdefault(data, (value, error_unit(line)))
    rows = [table1_row(label, data, result, *wers.get(data, (None, "WER")))
            for data, result in results.items()]
    if ctx.is_main and rows:
        write_table1(plan, rows)
    return rows


def run_plan(plan: ExperimentPlan, stage: str = "all", threads: int = 0, *,
             restart: bool = False, cfg_text: str | None = None) -> None:
    """Train and/or forward+decode a plan (``stage``: all, train or forward).

    Under torchrun all ranks train; forward, decoding and scoring run on rank 0 alone
    (the only writer of their files) after the process group is left.
    ``restart`` first deletes the folder's earlier outputs; ``cfg_text`` is the
    effective cfg to compare with the folder's ``conf.cfg`` (and record there).
    """
    set_cpu_threads(threads)
    with hold_folder(plan.out_folder):
        ctx = init_distributed(plan.use_cuda)
        if ctx.is_main:
            if restart:
                clear_outputs(plan.out_folder)
            remove_stale_parts(plan.out_folder)
        barrier(ctx)
        if cfg_text is not None:
            check_and_record(plan.out_folder, cfg_text, write=stage != "forward")
        if stage in ("all", "train"):
            final = train_experiment(plan, ctx)
        else:
            final = _final_checkpoints(plan)
        leave_distributed(ctx)
        if stage in ("all", "forward") and plan.forward is not None and ctx.is_main:
            forward_and_decode(plan, ctx, final)


def _defaults(cfg, plan: ExperimentPlan) -> dict[tuple[str, str], str]:
    """The values the cfg reader and the architecture classes take for keys the cfg
    leaves out (the classes are built once, on the CPU, to learn theirs)."""
    from pytorch_kaldi_snn.pytorch_kaldi.options import recording_defaults
    from pytorch_kaldi_snn.runner.archs import build_arch

    out = {("exp", "run_nn_script"): cfg.exp.run_nn_script, ("exp", "cmd"): cfg.exp.cmd,
           ("exp", "production"): str(cfg.exp.production)}
    if cfg.decoding is not None:
        out[("decoding", "decoding_proto")] = cfg.decoding.get(
            "decoding_proto", "proto/decoding.proto")

    def make(name: str, inp_dim: int):
        arch = plan.arch(name)
        return build_arch(arch.cls, arch.options_for(0, "train"), inp_dim,
                          section=arch.section, file=plan.cfg_file)

    with recording_defaults() as seen, torch.random.fork_rng(devices=[]):
        plan.model.build(make)
    out.update({k: v for k, v in seen.items() if k[0] is not None})
    return out


def run_experiment(cfg_path: str, overrides: Sequence[str] = (),
                   stage: str = "all", threads: int = 0,
                   restart: bool = False) -> None:
    """``run_exp.py CFG [--section,field=value ...]``; ``restart``: discard what the
    out folder holds and train from scratch."""
    from pytorch_kaldi_snn.runner.config import load_config
    from pytorch_kaldi_snn.runner.inputs import check_inputs
    from pytorch_kaldi_snn.runner.plan import plan_from_config

    if restart and stage == "forward":
        raise ConfigError("--restart deletes the trained model that --stage forward "
                          "needs", value="--restart --stage forward",
                          allowed="--restart with --stage all or train")
    cfg = load_config(cfg_path, overrides)
    with hold_folder(cfg.exp.out_folder):  # before reading data: a 2nd run stops now
        plan = plan_from_config(cfg)
        check_inputs(plan, stage)  # all inputs, before anything is written
        text = effective_cfg(cfg.parser, _defaults(cfg, plan))
        run_plan(plan, stage, threads, restart=restart, cfg_text=text)
