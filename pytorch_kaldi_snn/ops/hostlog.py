"""Operation counts from inside upstream PyTorch-Kaldi's forward stage (no patch).

PyTorch-Kaldi builds the network once per chunk as ``cls(options, inp_dim)`` and never
tells it when a chunk ends. An architecture class calls :func:`maybe_attach` at the end
of its ``__init__``; when ``options["to_do"] == "forward"`` it attaches the counter and,
after every forward call, atomically rewrites one JSON file next to the forward output::

    out_info = <out_folder>/exp_files/forward_TIMIT_test_ep23_ck0.info
    counts  -> <out_folder>/exp_files/forward_TIMIT_test_ep23_ops.json

The file keeps one entry per architecture section and chunk (``ck0``, ``ck1``, ...), so
counts accumulate across chunks, and a re-run of a chunk replaces that chunk's entry
instead of counting it twice. ``summary`` holds the merged report of each section
(:func:`pytorch_kaldi_snn.ops.report.summarize`).

>>> maybe_attach(None, {"to_do": "train"}) is None
True
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from typing import Any

from torch import nn

from pytorch_kaldi_snn.ops.counter import OpCounter, count_ops
from pytorch_kaldi_snn.ops.report import (
    merge_records,
    records_from_summary,
    summarize,
    write_json,
)

logger = logging.getLogger(__name__)

FORMAT = "pytorch-kaldi-snn ops v1"
_CHUNK = re.compile(r"_ck(\d+)\.info$")


def ops_path(out_info: str) -> tuple[str, str]:
    """The JSON path and chunk key for PyTorch-Kaldi's ``out_info`` file name.

    >>> ops_path("exp/x/exp_files/forward_test_ep23_ck4.info")
    ('exp/x/exp_files/forward_test_ep23_ops.json', 'ck4')
    """
    m = _CHUNK.search(out_info)
    if m:
        return out_info[: m.start()] + "_ops.json", f"ck{m.group(1)}"
    stem = out_info.removesuffix(".info")
    return stem + "_ops.json", "ck0"


def _where(options: Mapping[str, Any]) -> tuple[str, str] | None:
    """JSON path and chunk key from ``options.parser["exp"]`` (None if unknown)."""
    parser = getattr(options, "parser", None)
    try:
        exp = parser["exp"] if parser is not None else options.get("exp")
    except KeyError:
        exp = None
    if not exp:
        return None
    out_info = exp.get("out_info") if hasattr(exp, "get") else None
    if out_info:
        return ops_path(str(out_info))
    out_folder = exp.get("out_folder") if hasattr(exp, "get") else None
    if out_folder:
        return os.path.join(str(out_folder), "forward_ops.json"), "ck0"
    return None


class HostLog:
    """Keeps one chunk's counts and rewrites the JSON file after each forward call."""

    def __init__(self, counter: OpCounter, path: str, chunk: str, section: str,
                 label: str) -> None:
        self.counter = counter
        self.path = path
        self.chunk = chunk
        self.section = section
        self.label = label

    def _load(self) -> dict[str, Any]:
        if not os.path.exists(self.path):
            return {"format": FORMAT, "sections": {}}
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as exc:
            logger.warning("ignoring unreadable ops file %s: %s", self.path, exc)
            return {"format": FORMAT, "sections": {}}
        if data.get("format") != FORMAT:
            logger.warning("ignoring ops file %s of another format", self.path)
            return {"format": FORMAT, "sections": {}}
        return data

    def write(self) -> None:
        """Merge this chunk into the file (other chunks kept) and write atomically."""
        data = self._load()
        section = data["sections"].setdefault(
            self.section, {"label": self.label, "chunks": {}}
        )
        section["chunks"][self.chunk] = summarize(self.counter.records(), self.label)
        chunks = [records_from_summary(s) for s in section["chunks"].values()]
        section["summary"] = summarize(merge_records(chunks), self.label)
        write_json(self.path, data)

    def after_forward(self, module: nn.Module, inp: Any, out: Any) -> None:
        self.write()


def maybe_attach(net: nn.Module | None, options: Mapping[str, Any]) -> OpCounter | None:
    """Attach the counter and the JSON writer when PyTorch-Kaldi runs ``forward``.

    ``options`` is the architecture's cfg section (``configparser.SectionProxy``, whose
    ``.parser`` is the chunk cfg) or a plain mapping with an ``"exp"`` mapping. Returns
    the counter, or None when ``to_do`` is not ``forward`` or no output folder is known
    (nothing is attached then). Call it as the last line of ``__init__``.
    """
    if net is None or str(options.get("to_do", "")).strip() != "forward":
        return None
    where = _where(options)
    if where is None:
        logger.warning("to_do=forward but no [exp] out_info/out_folder: ops not logged")
        return None
    path, chunk = where
    section = getattr(options, "name", None) or "architecture"
    counter = count_ops(net)
    log = HostLog(counter, path, chunk, section, type(net).__name__)
    net.register_forward_hook(log.after_forward)
    logger.info("operation counts of %s (%s) -> %s", section, chunk, path)
    return counter
