"""``[forward]`` and ``[decoding]``: kept as strings, with their names checked.

``[forward]``: ``forward_out`` names outputs of the ``[model]`` program;
``normalize_posteriors``, ``save_out_file`` and ``require_decoding`` are bool lists of
the same length; ``normalize_with_counts_from`` names, for each output normalised, a
label stream or an existing count file. ``[decoding]``: the
decoding proto's typed keys (beam, acwt, ...); the script folder is not required to
exist here because our runner decodes with the pip-only stack unless it is a real
Kaldi script.
"""

from __future__ import annotations

import configparser
import os

from pytorch_kaldi_snn.errors import ConfigError
from pytorch_kaldi_snn.proto import check_section
from pytorch_kaldi_snn.runner import cfg_protos
from pytorch_kaldi_snn.runner.cfg_types import ForwardConfig
from pytorch_kaldi_snn.runner.model_lang import ModelProgram


def forward_config(path: str, parser: configparser.ConfigParser, model: ModelProgram,
                   datasets: dict) -> ForwardConfig:
    s = parser["forward"]
    keys = ("forward_out", "normalize_posteriors", "normalize_with_counts_from",
            "save_out_file", "require_decoding")
    for key in keys:
        if key not in s:
            raise ConfigError("mandatory key is missing", file=path, section="forward",
                              key=key)
    outs = [o.strip() for o in s["forward_out"].split(",")]
    defined = [st.out for st in model.statements]
    for out in outs:
        if out not in defined:
            raise ConfigError(f"forward_out {out!r} is not an output of [model]",
                              file=path, section="forward", key="forward_out",
                              value=s["forward_out"], allowed=", ".join(defined))
    for key in ("normalize_posteriors", "save_out_file", "require_decoding"):
        if len(s[key].split(",")) != len(outs):
            raise ConfigError(f"{key} needs one value per forward_out ({len(outs)})",
                              file=path, section="forward", key=key, value=s[key])
    labels = sorted({lab for d in datasets.values() for lab in d.lab_names()})
    norm = [v.strip() for v in s["normalize_posteriors"].split(",")]
    counts = [c.strip() for c in s["normalize_with_counts_from"].split(",")]
    for i, flag in enumerate(norm):
        source = counts[min(i, len(counts) - 1)]
        if flag in ("True", "true", "1") and source not in labels \
                and not os.path.isfile(source):
            raise ConfigError(f"{source!r} is neither a label stream nor a count file",
                              file=path, section="forward",
                              key="normalize_with_counts_from",
                              value=s["normalize_with_counts_from"],
                              allowed=", ".join(labels) + " or an existing counts file")
    return ForwardConfig(*(s[k].strip() for k in keys))


def decoding_config(path: str, parser: configparser.ConfigParser) -> dict[str, str]:
    s = parser["decoding"]
    value = s.get("decoding_proto", "proto/decoding.proto").strip()
    resolved = cfg_protos.resolve_proto(value, path)
    if resolved is None:
        raise ConfigError("decoding_proto file not found", file=path,
                          section="decoding", key="decoding_proto", value=value)
    check_section(s, cfg_protos.proto_table(resolved), file=path,
                  section_name="decoding")
    return {k: v.strip() for k, v in s.items()}
