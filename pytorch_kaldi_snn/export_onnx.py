r"""``pytorch-kaldi-snn export --format onnx``: the TorchScript inference model as ONNX.

Two files, both in eval mode, with dynamic batch ``B`` (and length ``T``):

- ``NAME.onnx``: ``x [T, B, F] -> out [T, B, C]``, the whole sequence from the zero
  state (the posteriors of the head, or the last layer's spikes without one);
- ``NAME.step.onnx``: ``(x_t [B, F], state [B, S]) -> (out_t [B, C], new_state)``, the
  streaming step; start from ``state = zeros(B, S)``. ``S`` is the static second
  dimension of ``state`` and the ``state_size`` metadata entry; the packing is that of
  :func:`pytorch_kaldi_snn.export.export_model`.

Exporter: ``torch.onnx.export(..., dynamo=False)``, the TorchScript-based exporter, run
on the scripted module of :func:`~pytorch_kaldi_snn.export.export_model`; it turns the
scripted time loop into an ONNX ``Loop`` (``SequenceInsert`` + ``ConcatFromSequence``),
so any ``T`` works. Measured with torch 2.13: the ``torch.export``-based exporter
(``dynamo=True``, the default since torch 2.9) refuses ScriptModules, and on the eager
loop it unrolls a fixed ``T``; it is fine for the step alone, but one exporter for both
files is simpler. ONNX has no ``Trunc``, so the exported symmetric quantiser writes it
as ceil/floor by sign. Opset 17; the exporter needs the ``onnx`` package, not
``onnxscript``.

Verification (:func:`export_onnx` with ``check=True``, needs ``onnxruntime``): before
anything is written, ONNX Runtime runs both graphs (the step graph frame by frame on
its own state) on random inputs of two shapes and is compared with the PyTorch eval
forward (stack, then the head frame-wise).

- A float64 twin of the model, exported the same way, must match to ``1e-9``: float64
  rounding (about ``1e-15``) almost never moves a membrane potential across a
  quantisation edge, so a larger difference is an export error and raises
  :class:`~pytorch_kaldi_snn.errors.DataError` naming the file; nothing is written.
- The file actually written (the model's own dtype, usually float32) must have the
  twin's operators and finite outputs; its max difference is logged, not bounded:
  float32 rounding (about ``1e-6``) can move a spike by one quantisation level, and the
  recurrence carries that on (measured: 550-unit v2 and traditional stacks stay within
  ``3e-6``, a v1 stack can drift by 0.1 in log-posterior after such a frame).
"""

from __future__ import annotations

import copy
import importlib
import inspect
import io
import logging
import os
import warnings
from collections import Counter
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from pytorch_kaldi_snn import __version__
from pytorch_kaldi_snn.errors import ConfigError, DataError, SnnKaldiError
from pytorch_kaldi_snn.export import export_model
from pytorch_kaldi_snn.fileio import atomic_write_bytes
from pytorch_kaldi_snn.nn.streaming import _stack_of

log = logging.getLogger(__name__)

OPSET = 17
F64_TOLERANCE = 1e-9
# Reported only: frames whose float32 posteriors differ by more than this.
REPORT_TOLERANCE = 1e-4
CHECK_SHAPES = ((24, 3), (5, 1))
INSTALL_HINT = "pip install 'pytorch-kaldi-snn[onnx]'"


@dataclass(frozen=True)
class OnnxExport:
    """What :func:`export_onnx` wrote and, when checked, how close it came."""

    path: str
    step_path: str
    checked: bool
    max_diff: float | None = None  # the written files vs PyTorch eval
    frames_beyond: float | None = None  # fraction of frames > REPORT_TOLERANCE
    max_diff_f64: float | None = None  # the float64 twin vs PyTorch eval


def require(module: str):
    """Import ``module`` or raise one line naming the pip package to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise SnnKaldiError(
            f"ONNX export needs the Python package {module!r}, which is not "
            f"installed: {INSTALL_HINT} (or pip install {module})") from exc


def step_path_of(path: str) -> str:
    """``model.onnx`` -> ``model.step.onnx``."""
    return path[:-len(".onnx")] + ".step.onnx"


def check_path(path: str) -> None:
    """Raise before any work when ``path`` cannot be an ONNX destination."""
    if not path.lower().endswith(".onnx"):
        raise ConfigError("an ONNX export is written to a .onnx file", key="--out",
                          value=path)
    for target in (path, step_path_of(path)):
        if os.path.isdir(target):
            raise ConfigError("is a folder, expected a file name", key="--out",
                              value=target)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise ConfigError("the parent is not a folder", key="--out", value=path)


def _onnx_bytes(module: nn.Module, args: tuple, inputs: list, outputs: list,
                dynamic: dict, meta: dict) -> bytes:
    onnx = require("onnx")
    buf = io.BytesIO()
    # torch >= 2.5 defaults to (2.9) or offers the torch.export exporter; ask for the
    # TorchScript one, the only one that keeps the scripted loop's length dynamic.
    legacy = ({"dynamo": False}
              if "dynamo" in inspect.signature(torch.onnx.export).parameters else {})
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning,
                                message=".*legacy TorchScript-based ONNX export")
        # ScriptModules have no Python signature to match the inputs against
        warnings.filterwarnings("ignore", category=UserWarning,
                                message="no signature found for")
        with torch.no_grad():
            torch.onnx.export(module, args, buf, opset_version=OPSET,
                              input_names=inputs, output_names=outputs,
                              dynamic_axes=dynamic, **legacy)
    proto = onnx.load_from_string(buf.getvalue())
    onnx.helper.set_model_props(proto, meta)
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def onnx_models(model: nn.Module, head: nn.Module | None = None
                ) -> tuple[bytes, bytes]:
    """(forward, step) ONNX models of ``model``'s stack (+ a frame-wise ``head``)."""
    scripted = export_model(model, head)
    dtype = next(_stack_of(model).parameters()).dtype
    size_in, size_state = scripted.input_size, scripted.state_size
    meta = {"producer": f"pytorch-kaldi-snn {__version__}",
            "model": type(model).__name__ + (" + head" if head is not None else ""),
            "input_size": str(size_in), "state_size": str(size_state)}
    x = torch.zeros(2, 2, size_in, dtype=dtype)
    state = torch.zeros(2, size_state, dtype=dtype)
    forward = _onnx_bytes(
        scripted, (x,), ["x"], ["out"],
        {"x": {0: "T", 1: "B"}, "out": {0: "T", 1: "B"}},
        {**meta, "graph": "forward"})
    step = _onnx_bytes(
        scripted.frame, (x[0], state), ["x_t", "state"], ["out_t", "new_state"],
        {name: {0: "B"} for name in ("x_t", "state", "out_t", "new_state")},
        {**meta, "graph": "step"})
    return forward, step


def _reference(model: nn.Module, head: nn.Module | None, x: Tensor) -> Tensor:
    with torch.no_grad():
        y = _stack_of(model)(x)
        if head is not None:
            t, b = y.shape[:2]
            y = head(y.reshape(t * b, -1)).reshape(t, b, -1)
    return y


def _run(forward: bytes, step: bytes, x: Tensor, path: str) -> tuple[Tensor, Tensor]:
    """ONNX Runtime outputs of both graphs; the step runs on its own state."""
    ort = require("onnxruntime")
    options = ort.SessionOptions()
    options.log_severity_level = 3  # no warnings about de-duplicated initialisers
    options.intra_op_num_threads = 1  # small inputs: spinning worker threads cost more
    try:
        fwd = ort.InferenceSession(forward, options, providers=["CPUExecutionProvider"])
        stp = ort.InferenceSession(step, options, providers=["CPUExecutionProvider"])
        out = fwd.run(None, {"x": x.numpy()})[0]
        size = stp.get_inputs()[1].shape[1]
        state = torch.zeros(x.shape[1], size, dtype=x.dtype).numpy()
        frames = []
        for t in range(x.shape[0]):
            y, state = stp.run(None, {"x_t": x[t].numpy(), "state": state})
            frames.append(torch.from_numpy(y))
    except Exception as exc:  # onnxruntime raises its own exception types
        raise DataError(f"{path}: ONNX Runtime cannot run the export ({exc}); "
                        f"nothing was written") from exc
    return torch.from_numpy(out), torch.stack(frames)


def _compare(forward: bytes, step: bytes, model: nn.Module,
             head: nn.Module | None, path: str) -> tuple[float, float]:
    """(max |difference|, fraction of frames beyond REPORT_TOLERANCE) over
    CHECK_SHAPES for both graphs; raises on a shape mismatch or a non-finite value."""
    stack = _stack_of(model)
    dtype = next(stack.parameters()).dtype
    gen = torch.Generator().manual_seed(0)
    worst, beyond, frames = 0.0, 0, 0
    for t, b in CHECK_SHAPES:
        x = torch.randn(t, b, stack.input_size, generator=gen, dtype=dtype)
        ref = _reference(model, head, x)
        for name, got in zip(("forward", "step"), _run(forward, step, x, path)):
            if got.shape != ref.shape or not torch.isfinite(got).all():
                raise DataError(f"{path}: the ONNX {name} graph gives "
                                f"{tuple(got.shape)} (finite: "
                                f"{bool(torch.isfinite(got).all())}), PyTorch "
                                f"{tuple(ref.shape)}; nothing was written")
            diff = (got - ref).abs().flatten(2).amax(-1)
            worst = max(worst, float(diff.max()))
            beyond += int((diff > REPORT_TOLERANCE).sum())
            frames += diff.numel()
    return worst, beyond / frames


def _op_types(model_bytes: bytes) -> Counter:
    onnx = require("onnx")
    counts: Counter = Counter()
    graphs = [onnx.load_from_string(model_bytes).graph]
    while graphs:
        graph = graphs.pop()
        for node in graph.node:
            counts[node.op_type] += 1
            graphs += [a.g for a in node.attribute if a.HasField("g")]
    return counts


def _check(forward: bytes, step: bytes, model: nn.Module, head: nn.Module | None,
           path: str) -> tuple[float, float, float]:
    """(max |difference|, fraction of frames beyond REPORT_TOLERANCE, float64 twin's
    max |difference|); raises when the twin does not match."""
    dtype = next(_stack_of(model).parameters()).dtype
    if dtype == torch.float64:
        twin, twin_head, twin_fwd, twin_step = model, head, forward, step
    else:
        twin = copy.deepcopy(model).double()
        twin_head = copy.deepcopy(head).double() if head is not None else None
        twin_fwd, twin_step = onnx_models(twin, twin_head)
        for written, exact in ((forward, twin_fwd), (step, twin_step)):
            if _op_types(written) != _op_types(exact):
                raise DataError(f"{path}: the {dtype} graph has other operators than "
                                f"its float64 twin; nothing was written")
    f64, _ = _compare(twin_fwd, twin_step, twin, twin_head, path)
    if f64 > F64_TOLERANCE:
        raise DataError(f"{path}: the ONNX export does not reproduce the PyTorch eval "
                        f"forward (float64 check: max |difference| {f64:.3g} > "
                        f"{F64_TOLERANCE:g}); nothing was written")
    if twin is model:
        return f64, 0.0, f64
    return (*_compare(forward, step, model, head, path), f64)


def export_onnx(model: nn.Module, path: str, head: nn.Module | None = None,
                check: bool = True) -> OnnxExport:
    """Write ``path`` (``*.onnx``) and its ``*.step.onnx`` of ``model``'s stack (+ a
    frame-wise ``head``), both put in eval mode; checked against PyTorch when ``check``
    (needs onnxruntime). On any error neither file is written."""
    check_path(path)
    require("onnx")
    if check:
        require("onnxruntime")
    forward, step = onnx_models(model, head)
    stats = _check(forward, step, model, head, path) if check else (None, None, None)
    step_path = step_path_of(path)
    try:
        atomic_write_bytes(step_path, lambda fh: fh.write(step))
        try:
            atomic_write_bytes(path, lambda fh: fh.write(forward))
        except BaseException:
            os.remove(step_path)
            raise
    except OSError as exc:
        raise DataError(f"{path}: cannot write the ONNX export ({exc})") from exc
    report = OnnxExport(path, step_path, check, *stats)
    if check:
        log.info("%s: ONNX Runtime vs PyTorch eval: max |difference| %.3g "
                 "(%.1f%% of frames beyond %g%s); float64 graph check %.3g",
                 path, report.max_diff, 100 * report.frames_beyond, REPORT_TOLERANCE,
                 ": expected where float32 rounding moves a spike by one level"
                 if report.frames_beyond else "", report.max_diff_f64)
    else:
        log.warning("%s: written without checking it against PyTorch", path)
    return report
