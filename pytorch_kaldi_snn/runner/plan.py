"""The typed experiment plan the runner executes.

:func:`pytorch_kaldi_snn.runner.config.load_config` (the cfg reader) validates a cfg;
:func:`plan_from_config` turns its result into this plan, so training, forward and
decoding never touch cfg strings. Tests build plans directly.

The ``[model]`` program is anything with this interface (:class:`ModelProgram`):

- ``build(make_arch) -> dict[arch_name, nn.Module]``: calls ``make_arch(arch_name,
  inp_dim)`` for each architecture in program order (``inp_dim`` from the feature dims
  or the previous architectures' ``out_dim``);
- ``run(nets, features, labels, mask) -> dict[name, Tensor]``: executes the program on a
  batch (``features[fea_name]`` ``[T, B, F]``, ``labels[lab_name]`` ``[T, B]`` int64
  with -1 on padding, ``mask`` ``[T, B]`` bool); costs use the real frames only;
- ``loss_final`` and ``err_final``: the names of the outputs to optimise and report.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

from pytorch_kaldi_snn.runner.data import DatasetSpec


class ModelProgram(Protocol):
    """What the runner needs of the ``[model]`` executor (see module docstring)."""

    loss_final: str
    err_final: str

    def build(self, make_arch: Callable[[str, int], nn.Module]) -> dict[str, nn.Module]:
        ...

    def run(self, nets: Mapping[str, nn.Module], features: Mapping[str, torch.Tensor],
            labels: Mapping[str, torch.Tensor], mask: torch.Tensor,
            ) -> dict[str, torch.Tensor]:
        ...


@dataclass
class ArchPlan:
    """One ``[architectureN]`` section.

    ``options_for(epoch, to_do)`` returns the mapping handed to
    ``cls(options, inp_dim)`` for that epoch (per-epoch ``*_drop`` schedules resolved,
    ``use_cuda`` and ``to_do`` set). ``lr`` holds one learning rate per epoch.
    """

    section: str
    name: str
    cls: type
    options_for: Callable[[int, str], Any]
    lr: list[float]
    opt: str = "adam"
    opt_options: Mapping[str, str] = field(default_factory=dict)
    auto_anneal: bool = True
    halving_factor: float = 0.5
    improvement_threshold: float = 0.001
    pretrain_file: str | None = None
    freeze: bool = False
    seq_model: bool = True


@dataclass
class ForwardPlan:
    """``[forward]``: one entry per ``forward_out``."""

    outs: list[str]
    normalize_posteriors: list[bool]
    normalize_with_counts_from: list[str]
    save_out_file: list[bool]
    require_decoding: list[bool]


@dataclass
class ExperimentPlan:
    """Everything one run needs, typed. Schedules are per epoch (length ``n_epochs``);
    an entry of ``max_seq_length_train`` is an int or a list with one value per training
    chunk of that epoch (the sequence-length curriculum)."""

    cfg_file: str
    out_folder: str
    seed: int
    use_cuda: bool
    n_epochs: int
    datasets: dict[str, DatasetSpec]
    train_with: list[str]
    valid_with: list[str]
    forward_with: list[str]
    batch_size_train: list[int]
    max_seq_length_train: list
    batch_size_valid: int
    max_seq_length_valid: int
    archs: list[ArchPlan]
    model: ModelProgram
    forward: ForwardPlan | None = None
    decoding: dict[str, str] | None = None
    n_out: dict[str, int] = field(default_factory=dict)
    cmd: str = ""

    def arch(self, name: str) -> ArchPlan:
        return next(a for a in self.archs if a.name == name)


def _layer_schedules(value: str, n_epochs: int, epoch: int, key: str,
                     section: str) -> str:
    """A ``*_drop`` value: comma-separated per-layer schedules -> this epoch's
    values."""
    from pytorch_kaldi_snn.runner.cfg_types import schedule

    return ",".join(
        str(schedule(part, n_epochs, float, section=section, key=key)[epoch])
        for part in value.split(",")
    )


def _n_out(lab, n_classes_cache: dict) -> int:
    """Output classes of a label stream: KALDI's ``num_pdfs`` file for pdf labels, else
    1 + the largest label seen in the training alignments."""
    import os

    from pytorch_kaldi_snn.runner.labels import parse_lab_opts, read_labels

    key = (lab.folder, lab.opts)
    if key not in n_classes_cache:
        path = os.path.join(lab.folder, "num_pdfs")
        if parse_lab_opts(lab.opts) == "pdf" and os.path.exists(path):
            with open(path) as fh:
                n_classes_cache[key] = int(fh.read().split()[0])
        else:
            table = read_labels(lab.folder, lab.opts)
            n_classes_cache[key] = 1 + max(int(v.max()) for v in table.values())
    return n_classes_cache[key]


def plan_from_config(cfg) -> ExperimentPlan:
    """Build the plan from :func:`pytorch_kaldi_snn.runner.config.load_config`'s result.

    Resolves what the cfg leaves to the runner: ``N_out_<lab>`` (from the training
    alignments), per-epoch ``*_drop`` schedules, ``use_cuda``/``to_do`` in the options
    handed to each class, the feature dims the ``[model]`` program needs, and the
    per-chunk sequence-length curriculum.
    """
    import configparser

    from pytorch_kaldi_snn.runner.data import FeaSpec, LabSpec
    from pytorch_kaldi_snn.runner.features import list_utterances, load_features

    n_ep = cfg.exp.n_epochs_tr
    datasets = {}
    for name, d in cfg.datasets.items():
        datasets[name] = DatasetSpec(
            section=d.section, name=name,
            feas=tuple(FeaSpec(f.fea_name, f.fea_lst, f.fea_opts, f.cw_left, f.cw_right)
                       for f in d.fea),
            labs=tuple(LabSpec(lb.lab_name, lb.lab_folder, lb.lab_opts,
                               lb.lab_count_file, lb.lab_data_folder, lb.lab_graph)
                       for lb in d.lab),
            n_chunks=d.n_chunks,
        )
    train = datasets[cfg.data_use.train_with[0]]
    first = list_utterances(train.feas[0].lst)[:1]
    fea_dims = {f.name: load_features(f.lst, f.opts, f.cw_left, f.cw_right, first,
                                      section=train.section)[first[0]].shape[1]
                for f in train.feas}
    n_out: dict[str, int] = {}
    cache: dict = {}
    for lab in train.labs:
        n_out[lab.name] = _n_out(lab, cache)

    def options_factory(arch):
        def options_for(epoch: int, to_do: str):
            parser = configparser.ConfigParser(interpolation=None)
            parser.read_dict({s: dict(cfg.parser[s]) for s in cfg.parser.sections()})
            section = parser[arch.section]
            for key in list(section.keys()):
                value = section[key]
                for lab_name, n in sorted(n_out.items(), key=lambda kv: -len(kv[0])):
                    value = value.replace(f"N_out_{lab_name}", str(n))
                if "_drop" in key:
                    value = _layer_schedules(value, n_ep, epoch, key, arch.section)
                section[key] = value
            section["use_cuda"] = str(bool(cfg.exp.use_cuda))
            section["to_do"] = to_do
            return section
        return options_for

    archs = [
        ArchPlan(
            section=a.section, name=a.name, cls=a.cls, options_for=options_factory(a),
            lr=list(a.lr), opt=a.opt,
            opt_options={k: (",".join(map(str, v)) if isinstance(v, (tuple, list))
                             else str(v)) for k, v in a.opt_options.items()},
            auto_anneal=a.auto_anneal, halving_factor=a.halving_factor,
            improvement_threshold=a.improvement_threshold,
            pretrain_file=a.pretrain_file, freeze=a.freeze, seq_model=a.seq_model,
        )
        for a in cfg.archs.values()
    ]
    chunks_per_epoch = sum(datasets[d].n_chunks for d in cfg.data_use.train_with)
    program = cfg.model.bind(fea_dims=fea_dims,
                             seq_models={a.name: a.seq_model for a in archs})
    forward = None
    if cfg.forward is not None:
        def split(text: str) -> list[str]:
            return [t.strip() for t in str(text).split(",") if t.strip()]

        def flags(text: str, n: int) -> list[bool]:
            items = [t in ("True", "true", "1") for t in split(text)]
            return (items + items[-1:] * n)[:n] if items else [False] * n

        outs = split(cfg.forward.forward_out)
        norm_from = split(cfg.forward.normalize_with_counts_from)
        forward = ForwardPlan(
            outs=outs,
            normalize_posteriors=flags(cfg.forward.normalize_posteriors, len(outs)),
            normalize_with_counts_from=(norm_from + norm_from[-1:] * len(outs))[
                : len(outs)],
            save_out_file=flags(cfg.forward.save_out_file, len(outs)),
            require_decoding=flags(cfg.forward.require_decoding, len(outs)),
        )
    return ExperimentPlan(
        cfg_file=cfg.path, out_folder=cfg.exp.out_folder, seed=cfg.exp.seed,
        use_cuda=cfg.exp.use_cuda, n_epochs=n_ep, datasets=datasets,
        train_with=list(cfg.data_use.train_with),
        valid_with=list(cfg.data_use.valid_with),
        forward_with=list(cfg.data_use.forward_with),
        batch_size_train=list(cfg.batches.batch_size_train),
        max_seq_length_train=cfg.batches.seq_len_curriculum(chunks_per_epoch),
        batch_size_valid=cfg.batches.batch_size_valid,
        max_seq_length_valid=cfg.batches.max_seq_length_valid,
        archs=archs, model=program, forward=forward, decoding=cfg.decoding,
        n_out=n_out, cmd=cfg.exp.cmd or "",
    )
