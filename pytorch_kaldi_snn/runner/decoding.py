"""Forward with the final nets, then the hand-off to decoding and scoring.

For each ``forward_with`` dataset and each ``forward_out`` o (see
:mod:`pytorch_kaldi_snn.runner.forward` for the arithmetic) the runner writes
``exp_files/forward_<data>_ep<E>_ck<C>_<o>_to_decode.ark``; when ``require_decoding`` is
set it calls the pip-only decoder of :mod:`pytorch_kaldi_snn.kaldi` on that ark with the
dataset's ``lab_graph`` (HCLG folder), ``lab_folder`` (alignment dir with the model) and
``lab_data_folder`` (text to score against), writes the decode folder
``<out_folder>/decode_<data>_<o>`` and appends a ``%WER`` line to ``res.res``.

Decoding settings (LM weight, insertion penalty) are chosen on dev: a ``valid_with``
dataset that is also forwarded is decoded first with a grid widened until its best
setting is inside it (:mod:`pytorch_kaldi_snn.kaldi.sweep`); every other forwarded
dataset gets that setting, and its line in ``res.res`` is the dev-selected one, ending
in ``(LMWT=.. WIP=.. chosen on <dev decode folder>)``. Its ``best_wer`` (the best of
its own grid, Kaldi's number) stays in the decode folder beside ``dev_selected_wer``
and ``scoring.json``. Without a forwarded dev set the line is the best of the grid.
With real Kaldi's decoding script the same holds: test's line is the result of the
scoring file (LM weight, penalty) that is best on dev
(:func:`~pytorch_kaldi_snn.runner.kaldi_script.dev_selected_wer`, also written to
``dev_selected_wer``), upstream's best-on-test number only without a dev decoding.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from pytorch_kaldi_snn.errors import ConfigError, DataError
from pytorch_kaldi_snn.runner.checkpoint import (
    atomic_write_text,
    chunk_stem,
    write_info,
)
from pytorch_kaldi_snn.runner.data import (
    LabelCache,
    chunk_lists,
    dataset_utterances,
    load_chunk,
)
from pytorch_kaldi_snn.runner.distributed import DistContext
from pytorch_kaldi_snn.runner.experiment import Nets
from pytorch_kaldi_snn.runner.forward import forward_dataset, write_ark
from pytorch_kaldi_snn.runner.kaldi_script import (
    dev_selected_wer,
    run_decoding_script,
    script_path,
)
from pytorch_kaldi_snn.runner.labels import count_labels, log_priors, read_counts
from pytorch_kaldi_snn.runner.plan import ExperimentPlan
from pytorch_kaldi_snn.runner.posterior_prior import (
    mean_log_posteriors,
    wants_posterior_prior,
)

logger = logging.getLogger(__name__)


def prior_for(plan: ExperimentPlan, lab_name: str, n_classes: int,
              cache: LabelCache) -> np.ndarray:
    """Log priors of ``lab_name``: a count file when ``lab_name`` is a path (upstream
    accepts one in normalize_with_counts_from), else the label's ``lab_count_file`` in
    the training dataset, or (``auto``) counts over the training alignments."""
    if os.path.isfile(lab_name):
        counts = read_counts(lab_name)
        if len(counts) != n_classes:
            raise DataError(f"{lab_name}: {len(counts)} class counts for a network "
                            f"output of {n_classes} classes")
        return log_priors(counts)
    for tr_data in plan.train_with:
        spec = plan.datasets[tr_data]
        for lab in spec.labs:
            if lab.name != lab_name:
                continue
            if lab.count_file not in ("auto", "none", ""):
                counts = read_counts(lab.count_file)
            else:
                counts = count_labels(cache.get(lab, spec.section), n_classes)
            if len(counts) != n_classes:
                raise DataError(f"{lab_name}: {len(counts)} class counts for a network "
                                f"output of {n_classes} classes")
            return log_priors(counts)
    raise ConfigError("normalize_with_counts_from names no label of the training data",
                      section="forward", key="normalize_with_counts_from",
                      value=lab_name)


def write_json(path: str, obj) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def _counters(nets: Mapping[str, torch.nn.Module]) -> list:
    """Attach the operation counter to every net when the ops package is available."""
    try:
        from pytorch_kaldi_snn.ops import count_ops
    except ImportError:
        return []
    return [count_ops(net) for net in nets.values()]


def _ops_summary(counters: list, label: str) -> dict | None:
    if not counters:
        return None
    from pytorch_kaldi_snn.ops.report import summarize

    records = [r for c in counters for r in c.records()]
    for c in counters:
        c.detach()
    return summarize(records, label) if records else None


def _warn_silent(summary: dict | None, data: str) -> None:
    """A warning per layer whose outputs were (almost) all zero on ``data``."""
    if summary is None:
        return
    from pytorch_kaldi_snn.ops.report import silent_layers

    for name, pct in silent_layers(summary):
        logger.warning(
            "%s: layer %s of %s output %.3f %% zeros: it passes (almost) nothing on, "
            "so the network above it sees no input (at 1-2 bits the tracked spike "
            "range b can run away; see docs/benchmark.md, 'Why 1-2 bits do not learn "
            "here', and the 'spike ranges' lines of the training log)",
            data, name, summary.get("label", "the model"), pct)


@dataclass
class ForwardResult:
    """What the forward stage produced for one dataset: the arks per output, the frame
    error when labels were available, and the operation-count summary."""

    arks: dict[str, list[str]] = field(default_factory=dict)
    frame_err: float | None = None
    ops: dict | None = None


def forward_experiment(plan: ExperimentPlan, ctx: DistContext,
                       final: Mapping[str, str]) -> dict[str, ForwardResult]:
    """Write the ``_to_decode.ark`` files and the ops report of every forward
    dataset."""
    fw = plan.forward
    if fw is None:
        return {}
    exp = os.path.join(plan.out_folder, "exp_files")
    ep = plan.n_epochs - 1
    cache = LabelCache()
    results: dict[str, ForwardResult] = {}
    nets = Nets(plan, ep, "forward", ctx, final)
    label = "+".join(a.name for a in plan.archs)
    post_outs = [o for i, o in enumerate(fw.outs) if fw.normalize_posteriors[i]
                 and wants_posterior_prior(plan, fw.normalize_with_counts_from[i])]
    post_priors = {}
    if post_outs:  # before the operation counters are attached
        post_priors = mean_log_posteriors(
            plan, lambda b: plan.model.run(nets.views, b.features, {}, b.mask),
            post_outs, ctx.device)
    for data in plan.forward_with:
        spec = plan.datasets[data]
        chunks = chunk_lists(dataset_utterances(spec), spec.n_chunks)
        result = ForwardResult()
        counters = _counters(nets.nets)
        err_sum = frames = 0.0
        for ck, utts in enumerate(chunks):
            stem = chunk_stem("forward", data, ep, ck, plan.n_epochs, len(chunks))
            try:
                chunk = load_chunk(spec, utts, labels=cache)
            except (DataError, ConfigError) as exc:
                logger.info("%s: forward without labels (%s)", data, exc)
                chunk = load_chunk(spec, utts, with_labels=False)
            errs: list[tuple[float, int]] = []

            def outputs(batch, labels=chunk.labels, errs=errs, counters=counters):
                for counter in counters:  # padding frames are not counted
                    if hasattr(counter, "set_frame_mask"):
                        counter.set_frame_mask(batch.mask)
                labs = {}
                if labels:
                    labs = {k: _labels_for(batch, v).to(batch.mask.device)
                            for k, v in labels.items()}
                outs = plan.model.run(nets.views, batch.features, labs, batch.mask)
                if labs and plan.model.err_final in outs:
                    errs.append((float(outs[plan.model.err_final]), batch.frames))
                return outs

            with torch.no_grad():
                mats = forward_dataset(outputs, fw.outs, chunk.features,
                                       plan.batch_size_valid, ctx.device,
                                       desc=f"forward {data} ck{ck}")
            err_sum += sum(e * n for e, n in errs)
            frames += sum(n for _, n in errs)
            for i, out in enumerate(fw.outs):
                path = os.path.join(exp, f"{stem}_{out}_to_decode.ark")
                prior = post_priors.get(out)
                if fw.normalize_posteriors[i] and prior is None:
                    n_classes = next(iter(mats[out].values())).shape[1]
                    prior = prior_for(plan, fw.normalize_with_counts_from[i], n_classes,
                                      cache)
                if ctx.is_main:
                    write_ark(path, mats[out], prior)
                result.arks.setdefault(out, []).append(path)
            if ctx.is_main:
                write_info(os.path.join(exp, stem + ".info"), 0.0,
                           err_sum / frames if frames else 0.0, 0.0)
        result.frame_err = err_sum / frames if frames else None
        result.ops = _ops_summary(counters, label)
        _warn_silent(result.ops, data)
        if ctx.is_main and result.ops is not None:
            write_json(os.path.join(plan.out_folder, f"ops_{data}.json"), result.ops)
        results[data] = result
    return results


def _labels_for(batch, table: Mapping[str, np.ndarray]) -> torch.Tensor:
    """The ``[T, B]`` labels of a forward batch (-1 on padding)."""
    t_max, b = batch.mask.shape
    y = np.full((t_max, b), -1, dtype=np.int64)
    for j, piece in enumerate(batch.pieces):
        y[: piece.length, j] = table[piece.utt][piece.start:piece.end]
    return torch.from_numpy(y)


_WER = re.compile(r"%WER\s+([0-9.]+)")
WIPS = (0.0, 0.5, 1.0)


def initial_grid(decoding: Mapping[str, str] | None) -> dict:
    """LM weights from ``scoring_opts`` (``--min-lmwt A --max-lmwt B``, Kaldi's
    score.sh options; default 1..20) and the insertion penalties 0, 0.5, 1.

    >>> initial_grid({"scoring_opts": '"--min-lmwt 4 --max-lmwt 6"'})["lmwts"]
    [4.0, 5.0, 6.0]
    """
    opts = str((decoding or {}).get("scoring_opts", ""))
    lo = re.search(r"--min-lmwt[ =]([0-9.]+)", opts)
    hi = re.search(r"--max-lmwt[ =]([0-9.]+)", opts)
    a = float(lo.group(1)) if lo else 1.0
    b = float(hi.group(1)) if hi else max(a, 20.0)
    if a <= 0 or b < a:
        raise ConfigError("scoring_opts: need 0 < --min-lmwt <= --max-lmwt",
                          section="decoding", key="scoring_opts", value=opts)
    n = int(b - a) + 1
    return {"lmwts": [a + k for k in range(n)], "wips": list(WIPS)}


def _dev_dataset(plan: ExperimentPlan, data: str) -> str | None:
    """The forwarded validation dataset whose best settings ``data`` uses."""
    if data in plan.valid_with:
        return None
    return next((d for d in plan.valid_with if d in plan.forward_with), None)


def decode_and_score(plan: ExperimentPlan, data: str, out: str,
                     arks: list[str]) -> tuple[str, float] | None:
    """Decode ``arks`` with the dataset's graph and score against its data folder;
    returns the ``%WER`` line for res.res and its value (see the module text)."""
    spec = plan.datasets[data]
    lab = next((lb for lb in spec.labs if lb.graph), None)
    if lab is None:
        raise ConfigError("decoding needs lab_graph in the forward dataset",
                          section=spec.section, key="lab")
    ali_dir = lab.folder
    if ali_dir in ("none", ""):  # production data: the model sits above the graph
        ali_dir = os.path.dirname(os.path.normpath(lab.graph))
    script = script_path(plan.decoding)
    if script is not None:
        ark_glob = os.path.join(os.path.abspath(plan.out_folder), "exp_files",
                                f"forward_{data}_ep*_ck*_{out}_to_decode.ark")
        best = run_decoding_script(script, plan.decoding or {}, plan.cmd,
                                   plan.out_folder, data, out, ark_glob, ali_dir,
                                   lab.data_folder, lab.graph)
        dev = _dev_dataset(plan, data)
        if dev is None:
            return best
        dev_dir = os.path.abspath(os.path.join(plan.out_folder, f"decode_{dev}_{out}"))
        dec_dir = os.path.abspath(os.path.join(plan.out_folder, f"decode_{data}_{out}"))
        chosen = dev_selected_wer(dec_dir, dev_dir)
        if chosen is None:
            logger.warning("%s: no scored dev decoding in %s; %s keeps the best of its "
                           "own results", data, dev_dir, data)
            return best
        atomic_write_text(os.path.join(dec_dir, "dev_selected_wer"), chosen[0] + "\n")
        return chosen
    from pytorch_kaldi_snn.kaldi.latgen import decode_loglikes
    from pytorch_kaldi_snn.kaldi.sweep import score_sweep, selected_line

    dec_dir = os.path.join(plan.out_folder, f"decode_{data}_{out}")
    dev = _dev_dataset(plan, data)
    dev_dir = os.path.join(plan.out_folder, f"decode_{dev}_{out}") if dev else None
    if dev_dir and not os.path.isfile(os.path.join(dev_dir, "scoring.json")):
        logger.warning("%s: %s is not decoded yet (list it first in forward_with): "
                       "%s keeps the best setting of its own grid", dev_dir, dev, data)
        dev_dir = None
    options = {k: _number(v) for k, v in (plan.decoding or {}).items()
               if k in ("beam", "acwt", "latbeam")}
    decode_loglikes(arks, lab.graph, dec_dir, **initial_grid(plan.decoding),
                    **options)
    summary = score_sweep(dec_dir, lab.data_folder, widen=dev_dir is None,
                          select_from=dev_dir)
    chosen = selected_line(dec_dir)
    line, value = chosen if chosen else (summary["best"]["line"],
                                         summary["best"]["rate"])
    if not _WER.search(line):
        raise DataError(f"{dec_dir}: scoring produced no %WER line ({line!r})")
    return line, float(value)


def _number(text: str):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return text
    return int(value) if value.is_integer() and "." not in str(text) else value
