"""PyTorch-Kaldi's proto files and their type rules, re-implemented.

A proto file has a ``[proto]`` section mapping each mandatory key to a type string.
Upstream checks exactly these types; anything else only has to be non-empty:

- ``path``: an existing file or folder
- ``{a,b,c}``: one of the listed words
- ``int(lo,hi)``, ``float(lo,hi)``: a number inside the closed interval
  (``-inf``/``inf`` allowed as bounds)
- ``bool``: one of True/true/1/False/false/0
- ``int_list(lo,hi)``, ``float_list(lo,hi)``, ``bool_list``: comma-separated lists
- ``str``, ``str_list``, ``list_str``, bare ``int``/``float``: only non-empty

Any other type name (a typo such as ``integer(0,16)``) is rejected when the proto file
is read (:func:`check_proto_file`), naming the file, line and key.

>>> check_value("int(1,10)", "3")
>>> check_value("bool", "yes")
Traceback (most recent call last):
...
ValueError: expected True/true/1/False/false/0
"""

from __future__ import annotations

import configparser
import os
import re
from typing import Dict, Mapping, Optional

from pytorch_kaldi_snn.errors import ConfigError

_BOOLS = {"True", "true", "1", "False", "false", "0"}
_RANGE = re.compile(r"^(int|float|int_list|float_list)\((.*),(.*)\)$")
_PLAIN_TYPES = ("path", "bool", "Bool", "bool_list", "str", "str_list", "list_str",
                "int", "float")
KNOWN_TYPES = ", ".join(_PLAIN_TYPES) + ", {a,b,...}, int(lo,hi), float(lo,hi), " \
    "int_list(lo,hi), float_list(lo,hi)"


def _num(text: str, kind: str) -> float:
    text = text.strip()
    if kind == "int":
        if not re.fullmatch(r"[+-]?\d+", text):
            raise ValueError(f"{text!r} is not an integer")
        return int(text)
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None


def _bound(text: str) -> float:
    return float(text.strip())


def check_value(type_str: str, value: str, base_dir: Optional[str] = None) -> None:
    """Raise ``ValueError`` (message says what is expected) if ``value`` fails
    ``type_str``."""
    type_str = type_str.strip()
    if value is None or value.strip() == "":
        raise ValueError("empty value")
    value = value.strip()
    if type_str == "path":
        candidate = value
        if base_dir and not os.path.isabs(value):
            candidate = os.path.join(base_dir, value)
        if not (os.path.exists(value) or os.path.exists(candidate)):
            raise ValueError("path does not exist")
        return
    if type_str.startswith("{") and type_str.endswith("}"):
        choices = [c.strip() for c in type_str[1:-1].split(",")]
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return
    if type_str == "bool":
        if value not in _BOOLS:
            raise ValueError("expected True/true/1/False/false/0")
        return
    if type_str == "bool_list":
        for item in value.split(","):
            if item.strip() not in _BOOLS:
                raise ValueError(
                    "expected a comma-separated list of True/true/1/False/false/0"
                )
        return
    match = _RANGE.match(type_str)
    if match:
        kind, lo, hi = match.groups()
        base = kind.split("_")[0]
        lo_v, hi_v = _bound(lo), _bound(hi)
        items = value.split(",") if kind.endswith("_list") else [value]
        for item in items:
            number = _num(item, base)
            if not lo_v <= number <= hi_v:
                raise ValueError(f"expected {base} values in "
                                 f"[{lo.strip()}, {hi.strip()}]")
        return
    # Any other type (str, str_list, ...) only has to be non-empty upstream.


def is_known_type(type_str: str) -> bool:
    """True for the type names of the module docstring (bounds must be numbers).

    >>> is_known_type("int(0,16)"), is_known_type("integer(0,16)")
    (True, False)
    """
    text = type_str.strip()
    if text in _PLAIN_TYPES:
        return True
    if text.startswith("{") and text.endswith("}"):
        return all(c.strip() for c in text[1:-1].split(","))
    match = _RANGE.match(text)
    if not match:
        return False
    try:
        _bound(match.group(2))
        _bound(match.group(3))
    except ValueError:
        return False
    return True


def check_proto_file(path: str, sections: Mapping[str, Mapping[str, str]]) -> None:
    """Every ``key=type`` of ``sections`` (read from ``path``) has a known type name;
    else ConfigError naming ``path:line``, the section, key and type."""
    if "model" in os.path.basename(path):
        return  # model.proto lists operations, not typed keys
    with open(path, encoding="utf-8", errors="replace") as fh:
        lines = fh.read().splitlines()
    section = None
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if text.startswith("[") and text.endswith("]"):
            section = text[1:-1].strip()
            continue
        key, sep, type_str = text.partition("=")
        if not sep or text.startswith(("#", ";")):
            continue
        key = key.strip().lower()
        if section not in sections or key not in sections[section]:
            continue
        if not is_known_type(type_str):
            raise ConfigError("unknown type name in the proto file",
                              file=f"{path}:{number}", section=section, key=key,
                              value=type_str.strip(), allowed=KNOWN_TYPES)


def read_proto(path: str) -> Dict[str, str]:
    """Return the ``[proto]`` section of a proto file as ``{key: type string}``."""
    if not os.path.isfile(path):
        raise ConfigError("proto file does not exist", file=path)
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path)
    except configparser.Error as exc:
        raise ConfigError(f"cannot parse proto file: {exc}", file=path) from None
    check_proto_file(path, {s: dict(parser[s]) for s in parser.sections()})
    if not parser.has_section("proto"):
        raise ConfigError("proto file has no [proto] section", file=path)
    return dict(parser["proto"])


def check_section(
    section: Mapping[str, str],
    proto: Mapping[str, str],
    *,
    file: Optional[str] = None,
    section_name: Optional[str] = None,
    base_dir: Optional[str] = None,
) -> None:
    """Check a cfg section against a proto the way PyTorch-Kaldi does.

    Every key of the proto is mandatory and must pass its type; keys not in the proto
    pass unchecked (upstream behaviour). Raises :class:`ConfigError` on the first
    problem.
    """
    for key, type_str in proto.items():
        if key not in section:
            raise ConfigError(
                "mandatory key is missing",
                file=file,
                section=section_name,
                key=key,
                allowed=f"a value of type {type_str}",
            )
        try:
            check_value(type_str, section[key], base_dir=base_dir)
        except ValueError as exc:
            raise ConfigError(
                str(exc),
                file=file,
                section=section_name,
                key=key,
                value=section[key],
                allowed=type_str,
            ) from None
