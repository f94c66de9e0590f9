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
from collections.abc import Iterable, Sequence

from pytorch_kaldi_snn.errors import ConfigError
from pytorch_kaldi_snn.runner.cfg_sections import build_config
from pytorch_kaldi_snn.runner.cfg_types import (  # noqa: F401 - the public names
    ArchConfig,
    BatchesConfig,
    DatasetConfig,
    DataUseConfig,
    ExpConfig,
    ExperimentConfig,
    Fea,
    ForwardConfig,
    Lab,
    schedule,
)
from pytorch_kaldi_snn.runner.render import check_filled

logger = logging.getLogger(__name__)

_OVERRIDE = re.compile(r"^--([^,=\s]+),([^=\s]+)=(.*)$", re.DOTALL)


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
    if os.path.isdir(path):
        raise ConfigError("is a directory, not a cfg file", file=path,
                          allowed="the path of an experiment cfg file, e.g. "
                          "cfg/DEMO_LSTM.cfg")
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
    parser = read_cfg(path, overrides)
    check_filled(parser, path)  # a template: one message naming every @TOKEN@
    return build_config(path, parser)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
