"""Reading and validating a PyTorch-Kaldi experiment cfg: :func:`load_config`.

The cfg is read the way upstream's ``run_exp.py`` reads it (configparser without
interpolation, case-insensitive keys, multi-line ``fea``/``lab`` values), the
PyTorch-Kaldi overrides ``--section,field=value`` are applied, and every value is
checked once, here, so that training never meets a cfg string it cannot use. The first
problem raises :class:`~pytorch_kaldi_snn.errors.ConfigError` naming the file, section,
key, value and what is allowed.

Schedules (``batch_size_train``, ``max_seq_length_train``, ``arch_lr``, every ``*_drop``
item) use upstream's syntax ``v1*n1|v2*n2|...``: value ``v1`` for ``n1`` epochs, then
``v2`` for ``n2`` epochs, ``n_epochs_tr`` in total; a single bare value holds for every
epoch (see :func:`schedule`).

>>> schedule("128*2|64*2", 4, int)
[128, 128, 64, 64]
"""

from __future__ import annotations

import configparser
import logging
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pytorch_kaldi_snn.errors import ConfigError
from pytorch_kaldi_snn.runner.model_lang import ModelProgram
from pytorch_kaldi_snn.runner.render import check_filled

logger = logging.getLogger(__name__)

T = TypeVar("T")

_OVERRIDE = re.compile(r"^--([^,=\s]+),([^=\s]+)=(.*)$", re.DOTALL)


@dataclass(frozen=True)
class Fea:
    """One entry of a dataset's ``fea`` value."""

    fea_name: str
    fea_lst: str
    fea_opts: str
    cw_left: int
    cw_right: int


@dataclass(frozen=True)
class Lab:
    """One entry of a dataset's ``lab`` value."""

    lab_name: str
    lab_folder: str
    lab_opts: str
    lab_count_file: str = "auto"
    lab_data_folder: str = ""
    lab_graph: str = ""


@dataclass(frozen=True)
class ExpConfig:
    """``[exp]``. ``n_epochs_tr`` is upstream's ``N_epochs_tr``."""

    out_folder: str
    seed: int
    use_cuda: bool
    multi_gpu: bool
    save_gpumem: bool
    n_epochs_tr: int
    run_nn_script: str = "run_nn"
    cmd: str = ""
    production: bool = False


@dataclass(frozen=True)
class DatasetConfig:
    """A ``[datasetN]`` section."""

    section: str
    data_name: str
    fea: tuple[Fea, ...]
    lab: tuple[Lab, ...]
    n_chunks: int

    def fea_names(self) -> list[str]:
        return [f.fea_name for f in self.fea]

    def lab_names(self) -> list[str]:
        """Label stream names; empty in production mode (``lab_name=none``)."""
        return [lab.lab_name for lab in self.lab if lab.lab_name != "none"]

    @property
    def production(self) -> bool:
        """True for upstream's ``lab_name=none`` datasets (forward without labels)."""
        return any(lab.lab_name == "none" for lab in self.lab)


@dataclass(frozen=True)
class DataUseConfig:
    """``[data_use]``: dataset names (``data_name`` values), comma lists."""

    train_with: tuple[str, ...]
    valid_with: tuple[str, ...]
    forward_with: tuple[str, ...]


@dataclass(frozen=True)
class BatchesConfig:
    """``[batches]``, with the schedules expanded to one value per epoch.

    The sequence-length curriculum (upstream, per training chunk): when
    ``increase_seq_length_train`` is true the limit starts at ``start_seq_len_train``
    and is multiplied by ``multply_factor_seq_len_train`` after every training chunk,
    capped by the epoch's ``max_seq_length_train``; see :meth:`seq_len_curriculum`.
    """

    batch_size_train: tuple[int, ...]
    max_seq_length_train: tuple[int, ...]
    increase_seq_length_train: bool
    start_seq_len_train: int
    multply_factor_seq_len_train: int
    batch_size_valid: int
    max_seq_length_valid: int

    def seq_len_curriculum(self, chunks_per_epoch: int) -> list[list[int]]:
        """Max sequence length for each training chunk, ``[epoch][chunk]``.

        Without the curriculum every chunk of epoch e uses ``max_seq_length_train[e]``.
        With it: L_0 = start, L_{k+1} = min(L_k * factor, cap(epoch of chunk k)).
        """
        if not self.increase_seq_length_train:
            return [[m] * chunks_per_epoch for m in self.max_seq_length_train]
        out: list[list[int]] = []
        current = self.start_seq_len_train
        for cap in self.max_seq_length_train:
            row = []
            for _ in range(chunks_per_epoch):
                row.append(current)
                current = min(current * self.multply_factor_seq_len_train, cap)
            out.append(row)
        return out


@dataclass
class ArchConfig:
    """An ``[architectureN]`` section.

    ``options`` is the raw :class:`configparser.SectionProxy` handed to
    ``cls(options, inp_dim)`` (``options.parser`` is the whole cfg). ``lr`` has one
    value per epoch; ``auto_anneal`` is upstream's rule: newbob halving only when
    ``arch_lr`` is a single value. ``opt_options`` holds the optimizer's ``opt_*``
    values typed (floats, bools, float tuples for ``opt_betas``).
    """

    section: str
    name: str
    proto: str
    library: str
    class_name: str
    cls: type
    pretrain_file: str | None
    freeze: bool
    seq_model: bool
    lr: tuple[float, ...]
    auto_anneal: bool
    halving_factor: float
    improvement_threshold: float
    opt: str
    opt_options: dict[str, Any]
    options: configparser.SectionProxy = field(repr=False)


@dataclass(frozen=True)
class ForwardConfig:
    """``[forward]``, raw strings as upstream reads them (comma lists)."""

    forward_out: str
    normalize_posteriors: str
    normalize_with_counts_from: str
    save_out_file: str
    require_decoding: str


@dataclass
class ExperimentConfig:
    """A whole validated cfg (the result of :func:`load_config`)."""

    path: str
    parser: configparser.ConfigParser = field(repr=False)
    exp: ExpConfig
    datasets: dict[str, DatasetConfig]  # keyed by data_name
    data_use: DataUseConfig
    batches: BatchesConfig
    archs: dict[str, ArchConfig]  # keyed by arch_name, in section order
    model: ModelProgram
    forward: ForwardConfig | None
    decoding: dict[str, str] | None
    cfg_proto: dict[str, str] = field(default_factory=dict)

    def dataset_by_section(self, section: str) -> DatasetConfig:
        return next(d for d in self.datasets.values() if d.section == section)


def schedule(
    value: str,
    n_epochs: int,
    cast: Callable[[str], T] = float,  # type: ignore[assignment]
    *,
    file: str | None = None,
    section: str | None = None,
    key: str | None = None,
) -> list[T]:
    """Expand an upstream schedule ``v1*n1|v2*n2|...`` to one value per epoch.

    ``v*n`` repeats v n times, a bare ``v`` counts once. As upstream's
    ``expand_str_ep``: a single bare value is repeated for all ``n_epochs``; otherwise
    the counts must add up to exactly ``n_epochs``. Raises :class:`ConfigError` on a
    malformed element or a wrong total.
    """
    allowed = "v1*n1|v2*n2|... with v a number, n a positive integer, the n adding " \
              "up to n_epochs_tr; or a single value"
    out: list[T] = []
    parts = str(value).split("|")
    for part in parts:
        pieces = part.strip().split("*")
        if len(pieces) > 2 or not pieces[0].strip():
            raise ConfigError("malformed schedule", file=file, section=section,
                              key=key, value=value, allowed=allowed)
        try:
            item = cast(pieces[0].strip())
        except ValueError:
            raise ConfigError(f"schedule value {pieces[0].strip()!r} is not a "
                              f"{getattr(cast, '__name__', 'value')}", file=file,
                              section=section, key=key, value=value,
                              allowed=allowed) from None
        count = 1
        if len(pieces) == 2:
            text = pieces[1].strip()
            if not re.fullmatch(r"\d+", text) or int(text) < 1:
                raise ConfigError(f"schedule repeat {text!r} is not a positive integer",
                                  file=file, section=section, key=key, value=value,
                                  allowed=allowed)
            count = int(text)
        out.extend([item] * count)
    if len(parts) == 1 and "*" not in parts[0]:
        return out * n_epochs
    if len(out) != n_epochs:
        raise ConfigError(f"schedule covers {len(out)} epochs, n_epochs_tr is "
                          f"{n_epochs}", file=file, section=section, key=key,
                          value=value, allowed=allowed)
    return out


def parse_overrides(overrides: Iterable[str]) -> list[tuple[str, str, str]]:
    """``["--exp,seed=3"]`` -> ``[("exp", "seed", "3")]``; ConfigError on bad syntax."""
    out = []
    for text in overrides:
        match = _OVERRIDE.match(str(text))
        if not match:
            raise ConfigError("malformed override", value=str(text),
                              allowed="--section,field=value")
        out.append(match.groups())
    return out


def read_cfg(path: str, overrides: Sequence[str] = ()) -> configparser.ConfigParser:
    """Parse ``path`` (no interpolation) and apply ``overrides``; no validation."""
    if not os.path.isfile(path):
        raise ConfigError("cfg file does not exist", file=path)
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle, source=path)
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot parse cfg: {_one_line(exc)}", file=path) from None
    # the SNN classes name the cfg file in their errors when it is recorded here
    parser._snn_source_file = path  # type: ignore[attr-defined]
    for section, key, value in parse_overrides(overrides):
        if not parser.has_section(section):
            raise ConfigError("override names a section the cfg does not have",
                              file=path, section=section, key=key, value=value,
                              allowed=", ".join(parser.sections()))
        parser[section][key] = value
    return parser


def load_config(path: str, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Read, override and validate a cfg; the typed result or the first ConfigError.

    ``overrides`` are PyTorch-Kaldi style ``"--section,field=value"`` strings.
    """
    from pytorch_kaldi_snn.runner.cfg_sections import build_config

    parser = read_cfg(path, overrides)
    check_filled(parser, path)  # a template: one message naming every @TOKEN@
    return build_config(path, parser)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
