"""Cfg templates: fill ``@NAME@`` tokens, refuse to leave any unfilled.

A token is ``@`` + an upper-case name (letters, digits, ``_``) + ``@``. Comments are
rendered too (they document the tokens), but only tokens outside comment lines must be
filled. :func:`check_filled` is what the runner's ``load_config`` calls, so a template
run as it is gives one message listing every unfilled token and how to fill it.

>>> render_text("out_folder = @OUT@\\n", {"OUT": "exp/x"})
'out_folder = exp/x\\n'
"""

from __future__ import annotations

import configparser
import os
import re
from collections.abc import Iterable, Mapping, Sequence

from pytorch_kaldi_snn.errors import ConfigError
from pytorch_kaldi_snn.fileio import atomic_write_text as atomic_write

TOKEN = re.compile(r"@([A-Z][A-Z0-9_]*)@")
_COMMENT = re.compile(r"^\s*[#;]")


def tokens(text: str, *, include_comments: bool = False) -> list[str]:
    """The distinct token names of ``text`` in order of first appearance."""
    seen: list[str] = []
    for line in text.splitlines():
        if not include_comments and _COMMENT.match(line):
            continue
        for name in TOKEN.findall(line):
            if name not in seen:
                seen.append(name)
    return seen


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """``["OUT=exp/x", "@SEED@=3"]`` -> ``{"OUT": "exp/x", "SEED": "3"}``."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = str(item).partition("=")
        name = name.strip().strip("@")
        if not sep or not re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
            raise ConfigError("malformed --set", value=str(item),
                              allowed="NAME=VALUE with NAME upper case, "
                              "e.g. OUT_FOLDER=exp/x")
        out[name] = value
    return out


def render_text(text: str, values: Mapping[str, str], *, strict: bool = True,
                file: str | None = None) -> str:
    """Replace every ``@NAME@`` with ``values[NAME]``.

    With ``strict`` a token outside comments left without a value raises ConfigError
    listing all missing names; values containing ``%`` or a newline are refused (they
    would break the cfg).
    """
    for name, value in values.items():
        if "%" in value or "\n" in value:
            raise ConfigError("token value contains '%' or a newline", file=file,
                              key=name, value=value, allowed="a single-line value "
                              "without '%'")
    out = TOKEN.sub(lambda m: values.get(m.group(1), m.group(0)), text)
    if strict:
        missing = tokens(out)
        if missing:
            raise ConfigError("unfilled template tokens", file=file,
                              value=", ".join(f"@{t}@" for t in missing),
                              allowed="give each with NAME=VALUE")
    return out


def _recipe_for(path: str) -> str:
    name = os.path.basename(path).lower()
    recipes = {"timit": "bash recipes/timit/run.sh --timit DIR",
               "librispeech": "bash recipes/librispeech/run.sh --libri DIR",
               "demo": "bash recipes/demo/run.sh"}
    for prefix, recipe in recipes.items():
        if name.startswith(prefix):
            return recipe
    return "the recipes under recipes/"


def template_error(path: str, found: Sequence[tuple[str, str, str]]) -> ConfigError:
    """The one message for a cfg template run as it is: every unfilled token with
    where it sits (``(token, section, key)`` triples) and the three ways to fill them.
    """
    names: list[str] = []
    where: dict[str, list[str]] = {}
    for token, section, key in found:
        if token not in where:
            names.append(token)
        where.setdefault(token, []).append(f"[{section}] {key}")
    listed = ", ".join(f"@{t}@ ({', '.join(dict.fromkeys(where[t]))})" for t in names)
    assign = " ".join(f"{t}=..." for t in names)
    return ConfigError(
        f"this cfg is a template, {len(names)} @TOKENS@ unfilled: {listed}. Fill "
        f"them with the recipe ({_recipe_for(path)}), or for upstream PyTorch-Kaldi "
        "with `pytorch-kaldi-snn install-into PKDIR --kaldi-egs KALDI_EGS_DIR --set "
        "NAME=VALUE`, or with `python -m pytorch_kaldi_snn.runner.render "
        f"{path} my.cfg {assign}`; then run the filled cfg", file=path)


def check_filled(parser: configparser.ConfigParser, path: str) -> None:
    """Raise :func:`template_error` when a value of ``parser`` holds a token."""
    found = [(name, section, key)
             for section in parser.sections()
             for key, value in parser.items(section, raw=True)
             for name in TOKEN.findall(value)]
    if found:
        raise template_error(path, found)


def render_file(template: str, output: str, values: Mapping[str, str], *,
                strict: bool = True) -> str:
    """Render ``template`` to ``output`` atomically; returns the rendered text."""
    with open(template, encoding="utf-8") as handle:
        text = render_text(handle.read(), values, strict=strict, file=template)
    atomic_write(output, text)
    return text


def main(argv: list[str] | None = None) -> int:
    """``python -m pytorch_kaldi_snn.runner.render TEMPLATE OUTPUT NAME=VALUE ...``."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m pytorch_kaldi_snn.runner.render",
        description="Fill the @NAME@ tokens of a cfg template; fails (exit 1) if a "
        "token outside comments is left unfilled.")
    parser.add_argument("template", help="template cfg (e.g. cfg/TIMIT_SNN_v2.cfg)")
    parser.add_argument("output", help="rendered cfg to write (atomically)")
    parser.add_argument("values", nargs="*", metavar="NAME=VALUE",
                        help="token values, e.g. OUT_FOLDER=exp/timit_snn_v2")
    args = parser.parse_args(argv)
    try:
        render_file(args.template, args.output, parse_assignments(args.values))
    except (ConfigError, OSError) as exc:
        print(f"render: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
