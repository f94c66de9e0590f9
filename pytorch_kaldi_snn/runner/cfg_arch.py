"""One ``[architectureN]`` section: arch proto, optimizer keys, dropout schedules,
class.

Checks, in order: the ``arch_proto`` file exists (see
:func:`pytorch_kaldi_snn.runner.cfg_protos.resolve_proto`) and its keys pass upstream's
type rules; the ``opt_*`` keys of ``arch_opt``'s proto are present and typed; every key
containing ``_drop`` is a comma list (one item per layer) of schedules ``p*n|p*n`` with
0 <= p <= 1 (upstream reads every such key that way); ``arch_lr`` is a schedule of
positive floats; ``arch_library``/``arch_class`` import.
"""

from __future__ import annotations

import configparser
import os
from typing import Any

from pytorch_kaldi_snn.errors import ConfigError
from pytorch_kaldi_snn.proto import check_section
from pytorch_kaldi_snn.runner import cfg_protos
from pytorch_kaldi_snn.runner.cfg_types import ArchConfig, schedule

_TRUE = {"True", "true", "1"}


def typed_option(type_str: str, value: str) -> Any:
    """An already checked value in Python form: float, int, bool, tuple or str."""
    value = value.strip()
    base = type_str.split("(")[0].strip()
    if base == "bool":
        return value in _TRUE
    if base == "float":
        return float(value)
    if base == "int":
        return int(value)
    if base == "float_list":
        return tuple(float(v) for v in value.split(","))
    if base == "int_list":
        return tuple(int(v) for v in value.split(","))
    if base == "bool_list":
        return tuple(v.strip() in _TRUE for v in value.split(","))
    return value


def check_drop_keys(path: str, s: configparser.SectionProxy, n_epochs: int) -> None:
    """Every ``*_drop*`` key: per layer, a schedule of probabilities in [0, 1]; at most
    one such key per section (upstream keeps one set of rates per architecture and
    writes it into every ``_drop`` key of the chunk cfgs)."""
    drop_keys = [k for k in s if "_drop" in k]
    if len(drop_keys) > 1:
        raise ConfigError("more than one key contains '_drop'", file=path,
                          section=s.name, key=drop_keys[1], value=", ".join(drop_keys),
                          allowed="exactly one dropout key per architecture section "
                          "(PyTorch-Kaldi overwrites the others with its rates)")
    for key, value in s.items():
        if "_drop" not in key:
            continue
        for item in value.split(","):
            try:
                rates = schedule(item, n_epochs, float, file=path, section=s.name,
                                 key=key)
            except ConfigError as exc:
                raise ConfigError(f"{exc.problem}: PyTorch-Kaldi reads every key "
                                  "containing '_drop' as per-layer dropout schedules",
                                  file=path, section=s.name, key=key, value=value,
                                  allowed="comma list (one per layer) of rates or "
                                  "schedules p*n|p*n, 0 <= p <= 1") from None
            if any(not 0.0 <= r <= 1.0 for r in rates):
                raise ConfigError("dropout rate outside [0, 1]", file=path,
                                  section=s.name, key=key, value=value,
                                  allowed="comma list (one per layer) of rates or "
                                  "schedules p*n|p*n, 0 <= p <= 1; PyTorch-Kaldi reads "
                                  "every key containing '_drop' this way")


def resolve_class(path: str, s: configparser.SectionProxy) -> type:
    """Import ``arch_library`` and return ``arch_class`` (runner's fallbacks apply)."""
    from pytorch_kaldi_snn.runner.archs import resolve_arch_class

    library, name = s["arch_library"].strip(), s["arch_class"].strip()
    try:
        return resolve_arch_class(library, name, section=s.name, file=path)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure while importing it
        raise ConfigError(f"importing arch_library failed: {type(exc).__name__}: "
                          f"{' '.join(str(exc).split())}", file=path, section=s.name,
                          key="arch_library", value=library) from None


def arch_config(path: str, s: configparser.SectionProxy, n_epochs: int) -> ArchConfig:
    """Validate and type one ``[architectureN]`` section."""
    proto_value = s["arch_proto"].strip()
    resolved = cfg_protos.resolve_proto(proto_value, path)
    if resolved is None:
        raise ConfigError("arch_proto file not found", file=path, section=s.name,
                          key="arch_proto", value=proto_value,
                          allowed="a proto path relative to the PyTorch-Kaldi checkout "
                          "or this repository (e.g. proto/SNN_v2.proto)")
    table = cfg_protos.proto_table(resolved)
    if resolved.startswith(cfg_protos.BUILTIN_PREFIX):
        # a class with its own key set under upstream's proto name (the authors'
        # GRU/LSTM: no layer-norm keys) is checked against that key set
        table = getattr(resolve_class(path, s), "proto_table", None) or table
    check_section(s, table, file=path, section_name=s.name)

    opt = s["arch_opt"].strip()
    opt_resolved = cfg_protos.resolve_proto(f"proto/{opt}.proto", path)
    opt_proto = cfg_protos.proto_table(opt_resolved or f"builtin:{opt}.proto")
    check_section(s, opt_proto, file=path, section_name=s.name)
    opt_options = {}
    for key, type_str in opt_proto.items():
        try:
            opt_options[key] = typed_option(type_str, s[key])
        except ValueError:
            raise ConfigError(f"not a valid {type_str.split('(')[0]}", file=path,
                              section=s.name, key=key, value=s[key],
                              allowed=type_str) from None

    check_drop_keys(path, s, n_epochs)
    lr = schedule(s["arch_lr"], n_epochs, float, file=path, section=s.name,
                  key="arch_lr")
    if any(v <= 0 for v in lr):
        raise ConfigError("learning rates must be > 0", file=path, section=s.name,
                          key="arch_lr", value=s["arch_lr"])
    pretrain = s["arch_pretrain_file"].strip()
    if pretrain.lower() != "none" and not os.path.isfile(pretrain):
        raise ConfigError("arch_pretrain_file does not exist", file=path,
                          section=s.name, key="arch_pretrain_file", value=pretrain,
                          allowed="none or an existing .pkl checkpoint")
    return ArchConfig(
        section=s.name,
        name=s["arch_name"].strip(),
        proto=resolved,
        library=s["arch_library"].strip(),
        class_name=s["arch_class"].strip(),
        cls=resolve_class(path, s),
        pretrain_file=None if pretrain.lower() == "none" else pretrain,
        freeze=s["arch_freeze"].strip() in _TRUE,
        seq_model=s["arch_seq_model"].strip() in _TRUE,
        lr=tuple(lr),
        auto_anneal="|" not in s["arch_lr"],
        halving_factor=float(s["arch_halving_factor"]),
        improvement_threshold=float(s["arch_improvement_threshold"]),
        opt=opt,
        opt_options=opt_options,
        options=s,
    )
