"""Proto expectations of upstream PyTorch-Kaldi, encoded here, and proto file lookup.

Upstream validates a cfg with proto files it ships (``proto/global.proto`` for the whole
cfg, ``proto/{sgd,adam,rmsprop}.proto`` for optimizers, ``proto/{LSTM,GRU,MLP}.proto``
for its classes, ``proto/model.proto`` for the ``[model]`` operations). A cfg names them
by paths relative to the checkout root. :func:`resolve_proto` finds such a path next to
the cfg (any ancestor folder), in the working directory, in this repository, or in the
package data; when the file exists nowhere but is one of upstream's, the expectations
below are used, so our runner validates upstream cfgs without an upstream checkout.

The tables list key -> type string with the type rules of
:mod:`pytorch_kaldi_snn.proto`; keys are lower case (configparser lowercases them).
"""

from __future__ import annotations

import configparser
import os
from pathlib import Path

from pytorch_kaldi_snn.errors import ConfigError
from pytorch_kaldi_snn.proto import check_proto_file

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DATA = Path(__file__).resolve().parents[1] / "data"
BUILTIN_PREFIX = "builtin:"

# Whole-cfg proto (upstream proto/global.proto): section kind -> {key: type}.
GLOBAL: dict[str, dict[str, str]] = {
    "cfg_proto": {"cfg_proto": "path", "cfg_proto_chunk": "path"},
    "exp": {
        "cmd": "str", "run_nn_script": "str", "out_folder": "str",
        "seed": "int(-inf,inf)", "use_cuda": "bool", "multi_gpu": "bool",
        "save_gpumem": "bool", "n_epochs_tr": "int(1,inf)",
    },
    "dataset": {"data_name": "str", "fea": "str", "lab": "str",
                "n_chunks": "int(1,inf)"},
    "data_use": {"train_with": "list_str", "valid_with": "list_str",
                 "forward_with": "list_str"},
    "batches": {
        "batch_size_train": "list_str", "max_seq_length_train": "list_str",
        "increase_seq_length_train": "Bool", "start_seq_len_train": "int(20,inf)",
        "multply_factor_seq_len_train": "int(0,inf)",
        "batch_size_valid": "int(1,inf)", "max_seq_length_valid": "int(20,inf)",
    },
    "architecture": {
        "arch_name": "str", "arch_proto": "path", "arch_library": "str",
        "arch_class": "str", "arch_pretrain_file": "str", "arch_freeze": "bool",
        "arch_seq_model": "bool", "arch_lr": "list_str",
        "arch_halving_factor": "float(0,inf)",
        "arch_improvement_threshold": "float(0,inf)", "arch_opt": "{sgd,rmsprop,adam}",
    },
    "model": {"model_proto": "path", "model": "str"},
    "forward": {
        "forward_out": "str", "normalize_posteriors": "bool_list",
        "normalize_with_counts_from": "str", "save_out_file": "bool_list",
        "require_decoding": "bool_list",
    },
    "decoding": {"decoding_script_folder": "path", "decoding_script": "str",
                 "decoding_proto": "path"},
}

# Per-chunk cfg proto (upstream proto/global_chunk.proto), what run_nn receives.
GLOBAL_CHUNK: dict[str, dict[str, str]] = {
    "cfg_proto": GLOBAL["cfg_proto"],
    "exp": {
        "cmd": "str", "run_nn_script": "str", "to_do": "{train,valid,forward}",
        "seed": "int(-inf,inf)", "use_cuda": "bool", "multi_gpu": "bool",
        "save_gpumem": "bool", "out_info": "str", "n_epochs_tr": "int(1,inf)",
    },
    "data_chunk": {"fea": "str", "lab": "str"},
    "batches": {
        "batch_size_train": "int(0,inf)", "max_seq_length_train": "int(20,inf)",
        "batch_size_valid": "int(1,inf)", "max_seq_length_valid": "int(20,inf)",
    },
    "architecture": dict(GLOBAL["architecture"], arch_lr="float(0,inf)"),
    "model": GLOBAL["model"],
    "forward": GLOBAL["forward"],
}

OPTIMIZERS: dict[str, dict[str, str]] = {
    "sgd": {"opt_momentum": "float(0,inf)", "opt_weight_decay": "float(0,inf)",
            "opt_dampening": "float(0,inf)", "opt_nesterov": "bool"},
    "adam": {"opt_betas": "float_list(0,inf)", "opt_eps": "float",
             "opt_weight_decay": "float(0,inf)", "opt_amsgrad": "bool"},
    "rmsprop": {"opt_momentum": "float(0,inf)", "opt_alpha": "float(0,inf)",
                "opt_eps": "float", "opt_centered": "bool",
                "opt_weight_decay": "float(0,inf)"},
}


def _rnn(prefix: str) -> dict[str, str]:
    return {
        f"{prefix}_lay": "str_list", f"{prefix}_drop": "str_list",
        f"{prefix}_use_laynorm_inp": "bool", f"{prefix}_use_batchnorm_inp": "bool",
        f"{prefix}_use_laynorm": "bool_list", f"{prefix}_use_batchnorm": "bool_list",
        f"{prefix}_bidir": "bool", f"{prefix}_act": "str_list",
        f"{prefix}_orthinit": "bool",
    }


# Upstream's arch protos for the classes our baseline cfgs use.
ARCHS: dict[str, dict[str, str]] = {
    "LSTM": _rnn("lstm"),
    "GRU": _rnn("gru"),
    "MLP": {
        "dnn_lay": "str_list", "dnn_drop": "str_list",
        "dnn_use_laynorm_inp": "bool", "dnn_use_batchnorm_inp": "bool",
        "dnn_use_batchnorm": "bool_list", "dnn_use_laynorm": "bool_list",
        "dnn_act": "str_list",
    },
}

DECODING: dict[str, str] = {
    "min_active": "int(0,inf)", "max_active": "int(0,inf)", "max_mem": "int(0,inf)",
    "beam": "float(0,inf)", "latbeam": "float(0,inf)", "acwt": "float(0,inf)",
    "max_arcs": "int(-inf,inf)", "scoring_opts": "str", "norm_vars": "bool",
    "skip_scoring": "bool",
}

# Upstream file name -> what it holds ("sections" protos are multi-section).
BUILTIN: dict[str, object] = {
    "global.proto": GLOBAL,
    "global_chunk.proto": GLOBAL_CHUNK,
    "decoding.proto": DECODING,
    "model.proto": "model",
    **{f"{name}.proto": table for name, table in OPTIMIZERS.items()},
    **{f"{name}.proto": table for name, table in ARCHS.items()},
}


# The authors' cfgs name one proto for both improved models; ours has one per class
# (same keys), so their cfgs run with only arch_library changed.
AUTHORS_ALIASES = {"ImprovedSpikingModel.proto": "ImprovedSpikingModelV2.proto"}


def search_roots(cfg_path: str | None) -> list[Path]:
    """Folders a relative proto path is tried against, in order."""
    roots: list[Path] = [Path.cwd()]
    if cfg_path:
        here = Path(os.path.abspath(cfg_path)).parent
        roots.extend([here, *here.parents])
    roots.extend([REPO_ROOT, PACKAGE_DATA])
    out: list[Path] = []
    for root in roots:
        if root not in out:
            out.append(root)
    return out


def resolve_path(path: str, cfg_path: str | None) -> str | None:
    """The existing file or folder ``path`` names (see :func:`search_roots`), or
    None."""
    if os.path.isabs(path):
        return path if os.path.exists(path) else None
    for root in search_roots(cfg_path):
        candidate = root / path
        if candidate.exists():
            return str(candidate)
    in_data = PACKAGE_DATA / "proto" / os.path.basename(path)
    if path.endswith(".proto") and in_data.is_file():
        return str(in_data)
    return None


def resolve_proto(path: str, cfg_path: str | None) -> str | None:
    """Like :func:`resolve_path`, then the authors' proto names
    (:data:`AUTHORS_ALIASES`), then ``builtin:<name>`` for upstream's protos; None when
    nothing matches."""
    found = resolve_path(path, cfg_path)
    if found is not None:
        return found
    alias = AUTHORS_ALIASES.get(os.path.basename(path))
    if alias is not None:
        found = resolve_path(os.path.join(os.path.dirname(path), alias), cfg_path)
        if found is not None:
            return found
    name = os.path.basename(path)
    return BUILTIN_PREFIX + name if name in BUILTIN else None


def read_sections(resolved: str) -> dict[str, dict[str, str]]:
    """All sections of a proto file (or built-in) as ``{section: {key: type}}``."""
    if resolved.startswith(BUILTIN_PREFIX):
        table = BUILTIN[resolved[len(BUILTIN_PREFIX):]]
        if isinstance(table, dict) and all(isinstance(v, dict) for v in table.values()):
            return {k: dict(v) for k, v in table.items()}
        if isinstance(table, dict):
            return {"proto": dict(table)}
        return {"proto": {}}
    parser = configparser.ConfigParser(interpolation=None, allow_no_value=True)
    try:
        parser.read(resolved)
    except configparser.Error as exc:
        raise ConfigError(f"cannot parse proto file: {' '.join(str(exc).split())}",
                          file=resolved) from None
    sections = {s: {k: v or "" for k, v in parser[s].items()}
                for s in parser.sections()}
    check_proto_file(resolved, sections)
    return sections


def proto_table(resolved: str, *, file: str | None = None) -> dict[str, str]:
    """The ``[proto]`` section of a single-section proto (arch, optimizer, decoding)."""
    sections = read_sections(resolved)
    if "proto" not in sections:
        raise ConfigError("proto file has no [proto] section", file=file or resolved)
    return sections["proto"]
