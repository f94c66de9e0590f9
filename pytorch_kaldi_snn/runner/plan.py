"""The typed experiment plan the runner executes.

:func:`pytorch_kaldi_snn.runner.config.load_config` (the cfg reader) validates a cfg;
:func:`plan_from_config` turns its result into this plan, so training, forward and
decoding never touch cfg strings. Tests build plans directly.

The ``[model]`` program is anything with this interface (:class:`ModelProgram`):

- ``build(make_arch) -> dict[arch_name, nn.Module]``: calls ``make_arch(arch_name,
  inp_dim)`` for each architecture in program order (``inp_dim`` from the feature dims or
  the previous architectures' ``out_dim``);
- ``run(nets, features, labels, mask) -> dict[name, Tensor]``: executes the program on a
  batch (``features[fea_name]`` ``[T, B, F]``, ``labels[lab_name]`` ``[T, B]`` int64 with
  -1 on padding, ``mask`` ``[T, B]`` bool); costs use the real frames only;
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

    ``options_for(epoch, to_do)`` returns the mapping handed to ``cls(options, inp_dim)``
    for that epoch (per-epoch ``*_drop`` schedules resolved, ``use_cuda`` and ``to_do``
    set). ``lr`` holds one learning rate per epoch.
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
    """Everything one run needs, typed. Schedules are per epoch (length ``n_epochs``)."""

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
    max_seq_length_train: list[int]
    batch_size_valid: int
    max_seq_length_valid: int
    archs: list[ArchPlan]
    model: ModelProgram
    forward: ForwardPlan | None = None
    decoding: dict[str, str] | None = None
    n_out: dict[str, int] = field(default_factory=dict)

    def arch(self, name: str) -> ArchPlan:
        return next(a for a in self.archs if a.name == name)
