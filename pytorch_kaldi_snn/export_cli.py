"""``pytorch-kaldi-snn export``: a trained cfg's SNN (+ head) as TorchScript
(:mod:`pytorch_kaldi_snn.export`, default) or ONNX
(:mod:`pytorch_kaldi_snn.export_onnx`: ``--format onnx`` or an ``--out`` ending in
``.onnx``). Only the command line lives here, so that the ONNX exporter can build on
the TorchScript one without an import circle."""

from __future__ import annotations

import argparse
import logging

from pytorch_kaldi_snn import export_onnx as onnx_export
from pytorch_kaldi_snn.errors import ConfigError
from pytorch_kaldi_snn.export import export_model, model_from_cfg, save_scripted

log = logging.getLogger(__name__)
FORMATS = ("torchscript", "onnx")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("cfg", help="experiment cfg whose training has finished")
    parser.add_argument("--out", required=True,
                        help="file to write: a TorchScript .pt, or NAME.onnx (then "
                             "NAME.step.onnx is written too: the streaming step)")
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="file format (default: onnx when --out ends in .onnx, "
                             "else torchscript); onnx needs pip install "
                             "'pytorch-kaldi-snn[onnx]'")
    parser.add_argument("--no-check", action="store_true",
                        help="onnx: write without the ONNX Runtime comparison with "
                             "the PyTorch eval forward (for a machine without "
                             "onnxruntime)")
    parser.add_argument("--output", default=None,
                        help="[model] output to export (default: first forward_out)")
    parser.add_argument("--feat-dim", type=int, default=None,
                        help="input features per frame (default: read from the data)")
    parser.add_argument("--n-out", action="append", default=[], metavar="LAB=N",
                        help="classes of label stream LAB (replaces N_out_LAB)")
    parser.add_argument("--checkpoint", action="append", default=[],
                        metavar="SECTION=PATH",
                        help="weights of an architecture section (default: "
                             "<out_folder>/exp_files/final_<section>.pkl)")


def export_format(out: str, fmt: str | None) -> str:
    """The format asked for, or the one ``out``'s suffix implies; a clash raises."""
    is_onnx = out.lower().endswith(".onnx")
    if fmt is None:
        return "onnx" if is_onnx else "torchscript"
    if is_onnx != (fmt == "onnx"):
        raise ConfigError(f"--format {fmt} does not fit the file name; use --format "
                          f"onnx with NAME.onnx, torchscript with any other name",
                          key="--out", value=out)
    return fmt


def run(args: argparse.Namespace) -> int:
    """``pytorch-kaldi-snn export``; errors are turned into one line by the console
    script."""
    fmt = export_format(args.out, args.format)
    if fmt == "onnx":
        onnx_export.check_path(args.out)
        onnx_export.require("onnx")
        if not args.no_check:
            onnx_export.require("onnxruntime")
    ckpts = {}
    for item in args.checkpoint:
        section, sep, path = item.partition("=")
        if not sep or not section or not path:
            raise ConfigError("expected SECTION=PATH", key="--checkpoint", value=item)
        ckpts[section] = path
    n_out = {}
    for item in args.n_out:
        lab, sep, n = item.partition("=")
        if not sep or not n.isdigit() or int(n) < 1:
            raise ConfigError("expected LAB=N with N >= 1", key="--n-out", value=item)
        n_out[lab] = int(n)
    model, head = model_from_cfg(args.cfg, args.output, args.feat_dim, ckpts, n_out)
    what = f"{type(model).__name__}{' + head' if head is not None else ''}"
    if fmt == "onnx":
        report = onnx_export.export_onnx(model, args.out, head, check=not args.no_check)
        checked = (f"; ONNX Runtime vs PyTorch max |difference| {report.max_diff:.3g}"
                   if report.checked else "; not checked (--no-check)")
        print(f"exported {what} to {report.path} and {report.step_path}{checked}")
        return 0
    scripted = export_model(model, head)
    save_scripted(scripted, args.out)
    log.info("wrote %s", args.out)
    print(f"exported {what} to {args.out}")
    return 0
