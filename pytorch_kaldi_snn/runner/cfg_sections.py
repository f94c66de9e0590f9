"""Section-by-section validation behind
:func:`pytorch_kaldi_snn.runner.config.load_config`.

Order of the checks (the first failure raises a ConfigError): section names, ``%`` in
values, ``[cfg_proto]`` files, every section against the global proto (upstream's
rules), then the typed parse of ``[exp]``, ``[datasetN]``, ``[data_use]``,
``[batches]``, ``[architectureN]`` (arch proto, optimizer keys, ``*_drop`` schedules,
class import), ``[model]`` (syntax, names), ``[forward]`` and ``[decoding]``.
"""

from __future__ import annotations

import configparser
import re

from pytorch_kaldi_snn.errors import ConfigError
from pytorch_kaldi_snn.proto import check_section, check_value
from pytorch_kaldi_snn.runner import cfg_protos
from pytorch_kaldi_snn.runner import cfg_types as C
from pytorch_kaldi_snn.runner.cfg_arch import arch_config as _arch
from pytorch_kaldi_snn.runner.cfg_entries import parse_feas, parse_labs
from pytorch_kaldi_snn.runner.cfg_tail import decoding_config as _decoding
from pytorch_kaldi_snn.runner.cfg_tail import forward_config as _forward
from pytorch_kaldi_snn.runner.model_lang import parse_model, validate_model

FIXED_SECTIONS = ("cfg_proto", "exp", "data_use", "batches", "model", "forward",
                  "decoding")
REQUIRED_SECTIONS = ("cfg_proto", "exp", "data_use", "batches", "model")
_NUMBERED = re.compile(r"^(dataset|architecture)[1-9]\d*$")
_TRUE = {"True", "true", "1"}


def section_kind(name: str) -> str | None:
    """``dataset3`` -> ``dataset``, ``exp`` -> ``exp``, unknown -> None."""
    if name in FIXED_SECTIONS:
        return name
    match = _NUMBERED.match(name)
    return match.group(1) if match else None


def as_bool(value: str) -> bool:
    return value.strip() in _TRUE


def build_config(path: str, parser: configparser.ConfigParser) -> C.ExperimentConfig:
    """Validate ``parser`` (read from ``path``) and return the typed config."""
    allowed = "cfg_proto, exp, datasetN, data_use, batches, architectureN, model, " \
              "forward, decoding"
    for name in parser.sections():
        if section_kind(name) is None:
            bare = re.fullmatch(r"(dataset|architecture)\d*", name)
            if bare:
                raise ConfigError(f"a {bare.group(1)} section needs a number from 1",
                                  file=path, section=name,
                                  allowed=f"[{bare.group(1)}1], [{bare.group(1)}2], "
                                  "...")
            raise ConfigError("unknown section", file=path, section=name,
                              allowed=allowed)
        for key, value in parser[name].items():
            if "%" in value:
                raise ConfigError("'%' in a value (PyTorch-Kaldi's configparser "
                                  "interpolates it)", file=path, section=name, key=key,
                                  value=value, allowed="a value without '%'")
    for name in REQUIRED_SECTIONS:
        if not parser.has_section(name):
            raise ConfigError("missing section", file=path, section=name,
                              allowed="the sections " + ", ".join(REQUIRED_SECTIONS)
                              + ", datasetN, architectureN")
    for kind in ("dataset", "architecture"):
        if not any(section_kind(s) == kind for s in parser.sections()):
            raise ConfigError(f"no [{kind}N] section", file=path, section=f"{kind}1")

    cfg_proto = _check_cfg_proto(path, parser)
    exp = _exp(path, parser["exp"])
    datasets = _datasets(path, parser)
    data_use = _data_use(path, parser["data_use"], datasets)
    _check_same_streams(path, datasets)
    batches = _batches(path, parser["batches"], exp.n_epochs_tr)
    archs = {}
    for name in parser.sections():
        if section_kind(name) == "architecture":
            arch = _arch(path, parser[name], exp.n_epochs_tr)
            if arch.name in archs:
                raise ConfigError("arch_name used twice", file=path, section=name,
                                  key="arch_name", value=arch.name)
            archs[arch.name] = arch
    model = _model(path, parser["model"], archs, datasets, data_use)
    _check_n_out(path, parser, datasets)
    if data_use.forward_with and not parser.has_section("forward"):
        raise ConfigError("forward_with is set but the cfg has no [forward] section",
                          file=path, section="forward",
                          allowed="a [forward] section, or an empty forward_with")
    forward = _forward(path, parser, model, datasets) \
        if parser.has_section("forward") else None
    decoding = _decoding(path, parser) if parser.has_section("decoding") else None
    if forward is not None and decoding is None and any(
            v.strip() in _TRUE for v in forward.require_decoding.split(",")):
        raise ConfigError("require_decoding is True but the cfg has no [decoding] "
                          "section", file=path, section="forward",
                          key="require_decoding", value=forward.require_decoding,
                          allowed="a [decoding] section, or require_decoding=False")
    return C.ExperimentConfig(
        path=path, parser=parser, exp=exp, datasets=datasets, data_use=data_use,
        batches=batches, archs=archs, model=model, forward=forward, decoding=decoding,
        cfg_proto=cfg_proto,
    )


def _check_cfg_proto(path: str, parser: configparser.ConfigParser) -> dict[str, str]:
    section = parser["cfg_proto"]
    resolved: dict[str, str] = {}
    for key in ("cfg_proto", "cfg_proto_chunk"):
        value = section.get(key, "").strip()
        if not value:
            raise ConfigError("mandatory key is missing", file=path,
                              section="cfg_proto", key=key,
                              allowed="a proto file path")
        found = cfg_protos.resolve_proto(value, path)
        if found is None:
            raise ConfigError("proto file not found", file=path, section="cfg_proto",
                              key=key, value=value,
                              allowed="a path relative to the PyTorch-Kaldi checkout "
                              "or this repository (e.g. proto/global.proto)")
        resolved[key] = found
    glob = cfg_protos.read_sections(resolved["cfg_proto"])
    for name in parser.sections():
        kind = section_kind(name) or ""
        # the cfg's own global proto, then ours (what this reader relies on)
        for table in (glob, cfg_protos.GLOBAL):
            proto = table.get(kind)
            if proto is None:
                continue
            # paths only need a value here: they are resolved later, relative to
            # the checkout; cmd may be empty (upstream's check_field)
            proto = {k: ("str" if v == "path" else v) for k, v in proto.items()
                     if not (k == "cmd" and parser[name].get(k) == "")}
            check_section(parser[name], proto, file=path, section_name=name)
    for kind in glob:
        if kind in ("dataset", "architecture", "forward", "decoding"):
            continue
        if not parser.has_section(kind):
            raise ConfigError("missing section required by the cfg proto", file=path,
                              section=kind, allowed=resolved["cfg_proto"])
    return resolved


def _exp(path: str, s: configparser.SectionProxy) -> C.ExpConfig:
    return C.ExpConfig(
        out_folder=s["out_folder"].strip(), seed=int(s["seed"]),
        use_cuda=as_bool(s["use_cuda"]), multi_gpu=as_bool(s["multi_gpu"]),
        save_gpumem=as_bool(s["save_gpumem"]), n_epochs_tr=int(s["n_epochs_tr"]),
        run_nn_script=s.get("run_nn_script", "run_nn").strip(),
        cmd=s.get("cmd", "").strip(),
        production=_bool_key(path, s, "production", "False"),
    )


def _bool_key(path: str, s: configparser.SectionProxy, key: str, default: str) -> bool:
    value = s.get(key, default).strip()
    try:
        check_value("bool", value)
    except ValueError as exc:
        raise ConfigError(str(exc), file=path, section=s.name, key=key, value=value,
                          allowed="True/true/1/False/false/0") from None
    return as_bool(value)


def _int_key(path: str, s: configparser.SectionProxy, key: str, lo: int) -> int:
    value = s.get(key, "").strip()
    try:
        check_value(f"int({lo},inf)", value)
    except ValueError as exc:
        raise ConfigError(str(exc), file=path, section=s.name, key=key, value=value,
                          allowed=f"an integer >= {lo}") from None
    return int(value)


def _datasets(path: str, parser: configparser.ConfigParser) -> dict:
    out: dict[str, C.DatasetConfig] = {}
    for name in parser.sections():
        if section_kind(name) != "dataset":
            continue
        s = parser[name]
        data_name = s["data_name"].strip()
        if data_name in out:
            raise ConfigError("data_name used twice", file=path, section=name,
                              key="data_name", value=data_name)
        out[data_name] = C.DatasetConfig(
            section=name, data_name=data_name,
            fea=parse_feas(s["fea"], file=path, section=name),
            lab=parse_labs(s["lab"], file=path, section=name),
            n_chunks=_int_key(path, s, "n_chunks", 1),
        )
    return out


def _check_same_streams(path: str, datasets: dict) -> None:
    """Upstream: all labelled datasets have the same fea names and lab names."""
    labelled = [d for d in datasets.values() if not d.production]
    for d in labelled[1:]:
        ref = labelled[0]
        for key, mine, theirs in (("fea", d.fea_names(), ref.fea_names()),
                                  ("lab", d.lab_names(), ref.lab_names())):
            if sorted(mine) != sorted(theirs):
                raise ConfigError(f"{key} names differ from [{ref.section}]'s "
                                  "(PyTorch-Kaldi needs the same in every dataset)",
                                  file=path, section=d.section, key=key,
                                  value=", ".join(mine), allowed=", ".join(theirs))


def _names(path: str, s: configparser.SectionProxy, key: str, known: dict,
           ) -> tuple[str, ...]:
    names = tuple(n.strip() for n in s.get(key, "").split(",") if n.strip())
    for n in names:
        if n not in known:
            raise ConfigError(f"no dataset named {n!r}", file=path, section=s.name,
                              key=key, value=s[key], allowed=", ".join(known))
    return names


def _data_use(path: str, s: configparser.SectionProxy, datasets: dict,
              ) -> C.DataUseConfig:
    use = C.DataUseConfig(*(_names(path, s, k, datasets)
                            for k in ("train_with", "valid_with", "forward_with")))
    if not use.train_with:
        raise ConfigError("no training dataset", file=path, section=s.name,
                          key="train_with", allowed=", ".join(datasets))
    return use


def _batches(path: str, s: configparser.SectionProxy, n_ep: int) -> C.BatchesConfig:
    def sched(key: str) -> tuple[int, ...]:
        values = C.schedule(s[key], n_ep, int, file=path, section=s.name, key=key)
        if min(values) < 1:
            raise ConfigError("schedule values must be positive", file=path,
                              section=s.name, key=key, value=s[key])
        return tuple(values)

    increase = _bool_key(path, s, "increase_seq_length_train", "False")
    return C.BatchesConfig(
        batch_size_train=sched("batch_size_train"),
        max_seq_length_train=sched("max_seq_length_train"),
        increase_seq_length_train=increase,
        start_seq_len_train=_int_key(path, s, "start_seq_len_train", 1) if increase
        else int(s.get("start_seq_len_train", "100") or 100),
        multply_factor_seq_len_train=_int_key(path, s, "multply_factor_seq_len_train",
                                              1) if increase
        else int(s.get("multply_factor_seq_len_train", "1") or 1),
        batch_size_valid=_int_key(path, s, "batch_size_valid", 1),
        max_seq_length_valid=_int_key(path, s, "max_seq_length_valid", 1),
    )


def _model(path: str, s: configparser.SectionProxy, archs: dict, datasets: dict,
           data_use: C.DataUseConfig):
    for key in ("model_proto", "model"):
        if key not in s:
            raise ConfigError("mandatory key is missing", file=path, section="model",
                              key=key, allowed="model_proto = proto/model.proto and "
                              "model = out=op(arg1,arg2) lines")
    if cfg_protos.resolve_proto(s["model_proto"].strip(), path) is None:
        raise ConfigError("model_proto file not found", file=path, section="model",
                          key="model_proto", value=s["model_proto"],
                          allowed="proto/model.proto")
    program = parse_model(s["model"], file=path)
    train = [datasets[n] for n in data_use.train_with]
    feas = sorted({f for d in train for f in d.fea_names()})
    labs = sorted({lab for d in train for lab in d.lab_names()})
    validate_model(program, archs=list(archs), features=feas, labels=labs, file=path)
    # every dataset the program runs on must have its inputs (and, to score, its labels)
    for role in ("train_with", "valid_with", "forward_with"):
        for name in getattr(data_use, role):
            d = datasets[name]
            need = program.input_names() if role == "forward_with" else \
                program.input_names() + program.label_names()
            have = d.fea_names() + d.lab_names()
            missing = [n for n in need if n not in have]
            if missing:
                raise ConfigError(f"dataset {name!r} ({role}) lacks "
                                  f"{', '.join(missing)} used in [model]", file=path,
                                  section=d.section, key="fea" if missing[0] in
                                  program.input_names() else "lab",
                                  allowed=", ".join(have))
    return program.bind(seq_models={n: a.seq_model for n, a in archs.items()})


def _check_n_out(path: str, parser: configparser.ConfigParser, datasets: dict) -> None:
    """``N_out_<lab>`` (replaced by the number of pdfs) must name a label stream."""
    labels = sorted({lab for d in datasets.values() for lab in d.lab_names()})
    for name in parser.sections():
        for key, value in parser[name].items():
            for lab in re.findall(r"N_out_(\w+)", value):
                if lab not in labels:
                    raise ConfigError(f"N_out_{lab} names no label stream", file=path,
                                      section=name, key=key, value=value,
                                      allowed=", ".join(f"N_out_{x}" for x in labels))
