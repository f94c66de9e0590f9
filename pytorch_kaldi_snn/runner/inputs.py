"""Every input a run will read, checked before training writes anything.

:func:`check_inputs` runs after the cfg is validated and before the first checkpoint,
for the datasets the stage uses (``train``: train_with and valid_with; ``forward``:
forward_with; ``all``: the three):

- features: every matrix of every ``fea_lst`` is read once (readable, finite, one
  dimension per table, see :mod:`pytorch_kaldi_snn.runner.feature_tables`), and the
  first utterance through ``fea_opts`` and the context window must have the training
  data's dimension (the model's input);
- labels: read like training reads them, every value inside the model's classes
  (``N_out``) and as many labels as feature frames; a forward dataset without readable
  labels is forwarded without them, as the forward stage does;
- count files named by ``lab_count_file`` or ``normalize_with_counts_from``: readable
  Kaldi vectors, one count per class;
- decoding (when ``require_decoding``): ``lab_graph`` a graph folder,
  ``lab_data_folder`` with the reference ``text``, and the ``[decoding]`` script when
  real Kaldi is to run it.

The first problem raises ConfigError or DataError naming the file, the dataset's
section and key, the value and what is allowed.
"""

from __future__ import annotations

import logging
import os
import time

from pytorch_kaldi_snn.errors import ConfigError, DataError
from pytorch_kaldi_snn.runner.data import DatasetSpec
from pytorch_kaldi_snn.runner.feature_tables import scan_table
from pytorch_kaldi_snn.runner.features import list_utterances, load_features
from pytorch_kaldi_snn.runner.labels import check_label_range, read_counts, read_labels
from pytorch_kaldi_snn.runner.plan import ExperimentPlan

logger = logging.getLogger(__name__)

GRAPH_FILES = ("HCLG.fst", "graph.pkl")


def stage_datasets(plan: ExperimentPlan, stage: str) -> dict[str, str]:
    """``{data_name: role}`` of the datasets ``stage`` reads (first role wins)."""
    roles = {"train": ("train_with", "valid_with"), "forward": ("forward_with",),
             "all": ("train_with", "valid_with", "forward_with")}[stage]
    out: dict[str, str] = {}
    for role in roles:
        for name in getattr(plan, role):
            out.setdefault(name, role)
    return out


def output_dims(spec: DatasetSpec) -> dict[str, int]:
    """Per feature stream, the dimension after ``fea_opts`` and the context window
    (from the first utterance)."""
    first = list_utterances(spec.feas[0].lst)[:1]
    return {f.name: load_features(f.lst, f.opts, f.cw_left, f.cw_right, first,
                                  section=spec.section)[first[0]].shape[1]
            for f in spec.feas}


def check_features(plan: ExperimentPlan, spec: DatasetSpec,
                   want: dict[str, int]) -> dict[str, int]:
    """Scan every feature table of ``spec``; returns the frames per utterance."""
    lengths: dict[str, int] = {}
    for fea in spec.feas:
        table_lengths, _ = scan_table(fea.lst)
        lengths = lengths or table_lengths
    dims = output_dims(spec)
    for fea in spec.feas:
        if fea.name in want and dims[fea.name] != want[fea.name]:
            raise DataError(
                f"{fea.lst}: dataset {spec.name} ([{spec.section}] fea {fea.name}) "
                f"gives {dims[fea.name]}-dim features after fea_opts and cw_left/"
                f"cw_right, the training data gives {want[fea.name]}; allowed: "
                f"{want[fea.name]} (the model's input dimension)")
    return lengths


def check_labels(plan: ExperimentPlan, spec: DatasetSpec, role: str,
                 lengths: dict[str, int]) -> None:
    """Labels of ``spec`` inside the model's classes, one per feature frame."""
    for lab in spec.labs:
        if lab.name == "none":
            continue
        try:
            table = read_labels(lab.folder, lab.opts, section=spec.section,
                                file=plan.cfg_file)
        except (DataError, ConfigError):
            if role == "forward_with":
                continue  # forwarded without labels, as the forward stage does
            raise
        source = f"{lab.folder} ([{spec.section}] lab {lab.name})"
        if lab.name in plan.n_out:
            check_label_range(table, plan.n_out[lab.name], source=source,
                              lab_name=lab.name)
        for utt, y in table.items():
            if utt in lengths and len(y) != lengths[utt]:
                raise DataError(f"{source}: utterance {utt} has {len(y)} labels but "
                                f"{lengths[utt]} feature frames in {spec.feas[0].lst}"
                                f"; allowed: {lengths[utt]} labels")
        if not any(u in table for u in lengths) and role != "forward_with":
            raise DataError(f"{source}: no utterance of {spec.feas[0].lst} has labels")
        if lab.count_file not in ("auto", "none", "", "posteriors"):
            check_counts(lab.count_file, plan.n_out.get(lab.name), plan, spec.section,
                         "lab_count_file")


def check_counts(path: str, n_classes: int | None, plan: ExperimentPlan,
                 section: str, key: str) -> None:
    """A readable count vector, with ``n_classes`` entries when given."""
    try:
        counts = read_counts(path)
    except DataError as exc:
        raise DataError(f"{exc} ([{section}] {key} in {plan.cfg_file}); allowed: a "
                        "Kaldi text vector '[ c0 c1 ... ]' of class counts") from None
    if n_classes is not None and len(counts) != n_classes:
        raise DataError(f"{path}: {len(counts)} class counts ([{section}] {key}), the "
                        f"model has {n_classes} classes; allowed: {n_classes} counts")


def check_decoding(plan: ExperimentPlan, data: str) -> None:
    """The graph, reference text and decoding script of one forward dataset."""
    spec = plan.datasets[data]
    cfg = plan.cfg_file
    lab = next((lb for lb in spec.labs if lb.graph), None)
    if lab is None:
        raise ConfigError("require_decoding is True but the forward dataset has no "
                          "lab_graph", file=cfg, section=spec.section, key="lab",
                          allowed="lab_graph=<graph folder> in the lab entry")
    if not os.path.isdir(lab.graph):
        raise ConfigError("graph folder not found" if not os.path.exists(lab.graph)
                          else "lab_graph is not a folder", file=cfg,
                          section=spec.section, key="lab_graph", value=lab.graph,
                          allowed="a graph folder (" + " or ".join(GRAPH_FILES) + ")")
    if not any(os.path.isfile(os.path.join(lab.graph, f)) for f in GRAPH_FILES):
        raise ConfigError("the graph folder holds no decoding graph", file=cfg,
                          section=spec.section, key="lab_graph", value=lab.graph,
                          allowed="a folder with " + " or ".join(GRAPH_FILES))
    text = os.path.join(lab.data_folder, "text")
    if not os.path.isfile(text):
        raise ConfigError("no reference transcripts to score against", file=cfg,
                          section=spec.section, key="lab_data_folder",
                          value=lab.data_folder, allowed="a Kaldi data folder with a "
                          "'text' file")
    dec = plan.decoding or {}
    folder = dec.get("decoding_script_folder", "")
    if os.environ.get("KALDI_ROOT") and folder and os.path.isdir(folder):
        script = os.path.join(folder, dec.get("decoding_script", ""))
        if not os.path.isfile(script):
            raise ConfigError("decoding script not found", file=cfg,
                              section="decoding", key="decoding_script",
                              value=script, allowed="a script in "
                              "decoding_script_folder (decode_dnn.sh)")


def check_inputs(plan: ExperimentPlan, stage: str = "all") -> None:
    """Check what ``stage`` will read (see the module docstring); raises the first
    problem as ConfigError/DataError."""
    start = time.time()
    used = stage_datasets(plan, stage)
    want = output_dims(plan.datasets[plan.train_with[0]])
    for name, role in used.items():
        spec = plan.datasets[name]
        lengths = check_features(plan, spec, want)
        check_labels(plan, spec, role, lengths)
    fw = plan.forward
    if fw is not None and stage in ("all", "forward"):
        labels = {lab.name for d in plan.datasets.values() for lab in d.labs}
        for i, source in enumerate(fw.normalize_with_counts_from):
            if fw.normalize_posteriors[i] and source not in labels:
                check_counts(source, None, plan, "forward",
                             "normalize_with_counts_from")
        if any(fw.require_decoding):
            for name in plan.forward_with:
                check_decoding(plan, name)
    logger.info("inputs of %d datasets checked in %.1f s", len(used),
                time.time() - start)
