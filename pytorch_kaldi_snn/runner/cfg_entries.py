"""The multi-line ``fea`` and ``lab`` values of a ``[datasetN]`` section.

Each entry is a block of ``key=value`` lines in a fixed order, a new entry starting at
its first key::

    fea = fea_name=mfcc
        fea_lst=data/train/feats.scp
        fea_opts=apply-cmvn ... | add-deltas ark:- ark:- |
        cw_left=0
        cw_right=0
"""

from __future__ import annotations

from pytorch_kaldi_snn.errors import ConfigError
from pytorch_kaldi_snn.runner.cfg_types import Fea, Lab

FEA_KEYS = ("fea_name", "fea_lst", "fea_opts", "cw_left", "cw_right")
LAB_KEYS = ("lab_name", "lab_folder", "lab_opts", "lab_count_file", "lab_data_folder",
            "lab_graph")
PRODUCTION_KEYS = ("lab_name", "lab_data_folder", "lab_graph")


def split_entries(value: str, keys: tuple[str, ...], *, option: str,
                  file: str | None, section: str | None) -> list[dict[str, str]]:
    """Split a multi-line value into entries ``{key: value}`` with exactly ``keys``,
    in that order (upstream reads them with one regex in that order)."""
    entries: list[dict[str, str]] = []
    for raw in str(value).splitlines():
        line = raw.strip()
        if not line:
            continue
        key, sep, text = line.partition("=")
        key = key.strip()
        if not sep or key not in keys:
            raise ConfigError(f"unexpected line in {option}", file=file,
                              section=section, key=option, value=line,
                              allowed=" then ".join(f"{k}=..." for k in keys))
        if key == keys[0]:
            entries.append({})
        if not entries:
            raise ConfigError(f"{option} must start with {keys[0]}=", file=file,
                              section=section, key=option, value=line)
        entry = entries[-1]
        expected = keys[len(entry)] if len(entry) < len(keys) else None
        if key != expected:
            raise ConfigError(f"{key} out of order in {option}", file=file,
                              section=section, key=option, value=line,
                              allowed=f"{expected}=... next (order: {', '.join(keys)})")
        entry[key] = text.strip()
    if not entries:
        raise ConfigError(f"empty {option}", file=file, section=section, key=option,
                          allowed=", ".join(f"{k}=..." for k in keys))
    for entry in entries:
        if len(entry) != len(keys):
            missing = [k for k in keys if k not in entry]
            raise ConfigError(f"{option} entry {entry[keys[0]]!r} lacks "
                              f"{', '.join(missing)}", file=file, section=section,
                              key=option, allowed=", ".join(keys))
    names = [e[keys[0]] for e in entries]
    for name in names:
        if not name or names.count(name) > 1:
            raise ConfigError(f"{keys[0]} empty or used twice", file=file,
                              section=section, key=option, value=name)
    return entries


def _cw(entry: dict[str, str], key: str, file: str | None,
        section: str | None) -> int:
    text = entry[key]
    if not text.isdigit():
        raise ConfigError(f"{key} of {entry['fea_name']!r} is not an integer >= 0",
                          file=file, section=section, key="fea", value=text,
                          allowed="an integer >= 0 (context frames)")
    return int(text)


def parse_feas(value: str, *, file: str | None = None,
               section: str | None = None) -> tuple[Fea, ...]:
    """The ``fea`` value as :class:`Fea` entries; ``fea_lst`` must not be empty."""
    out = []
    for e in split_entries(value, FEA_KEYS, option="fea", file=file, section=section):
        if not e["fea_name"].isalnum() or not e["fea_name"].isascii():
            raise ConfigError("fea_name must contain only letters and digits "
                              "(PyTorch-Kaldi's rule)", file=file, section=section,
                              key="fea", value=e["fea_name"],
                              allowed="e.g. mfcc, fmllr")
        if not e["fea_lst"]:
            raise ConfigError(f"empty fea_lst for {e['fea_name']!r}", file=file,
                              section=section, key="fea", allowed="an scp/ark path")
        out.append(Fea(e["fea_name"], e["fea_lst"], e["fea_opts"],
                       _cw(e, "cw_left", file, section),
                       _cw(e, "cw_right", file, section)))
    return tuple(out)


def parse_labs(value: str, *, file: str | None = None,
               section: str | None = None) -> tuple[Lab, ...]:
    """The ``lab`` value as :class:`Lab` entries.

    Upstream's production mode (forward and decode without alignments) is a single
    entry ``lab_name=none`` followed by ``lab_data_folder=`` and ``lab_graph=``; it
    gives ``Lab("none", "none", "", "none", data_folder, graph)``.
    """
    lines = [ln.strip() for ln in str(value).splitlines() if ln.strip()]
    if lines and lines[0].replace(" ", "") == "lab_name=none":
        entry = split_entries(value, PRODUCTION_KEYS, option="lab", file=file,
                              section=section)[0]
        return (Lab("none", "none", "", "none", entry["lab_data_folder"],
                    entry["lab_graph"]),)
    return tuple(
        Lab(*(e[k] for k in LAB_KEYS))
        for e in split_entries(value, LAB_KEYS, option="lab", file=file,
                               section=section)
    )
