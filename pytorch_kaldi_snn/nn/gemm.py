"""Matrix products of the fused CPU layers: oneDNN where it beats MKL, else torch.mm.

PyTorch's CPU wheels carry two GEMM libraries: MKL, behind ``torch.mm`` and
``nn.Linear``, and oneDNN, behind ``torch.ops.mkldnn._linear_pointwise`` (the op
Inductor calls for linear layers). On our AMD EPYC machines (torch 2.13.0, MKL 2024.2)
MKL's float32 GEMM runs at 60-75 % of oneDNN's for the ``X W^T`` and ``G W`` shapes of
a 550-unit layer, and at about the same speed for ``G^T X``; measured numbers are in
``docs/speed.md``. So :func:`linear` (``x @ w.T + b``) goes to oneDNN and weight
gradients stay with ``torch.mm``.

oneDNN's call costs ~15 us more than MKL's, so products below :data:`MIN_MACS`
multiply-adds (e.g. the per-frame products of the 2 x 128 demo model) stay with
``torch.mm``. The choice is a fixed rule of the shape, not a per-run timing, so two
runs (or a run and its resumption) make the same floating-point choices.
``PYTORCH_KALDI_SNN_GEMM=aten`` uses ``torch.mm`` everywhere, ``=onednn`` oneDNN for
every size. oneDNN is used only for float32 CPU tensors, and only when a self-check on
first use gives the same product as ``torch.mm``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator

import torch
from torch import Tensor

log = logging.getLogger(__name__)

#: Smallest product (M * K * N multiply-adds) sent to oneDNN under the default rule;
#: measured crossover on our CPU: ~1e7 (bench/bench_gemm.py, docs/speed.md).
MIN_MACS = 20_000_000

_ONEDNN: bool | None = None
_ANY_SIZE = False


def _onednn_ok(choice: str | None = None) -> bool:
    """Whether oneDNN's linear op exists, runs and agrees with ``torch.mm`` (and
    ``choice``, default ``PYTORCH_KALDI_SNN_GEMM``, does not say ``aten``)."""
    if choice is None:
        choice = os.environ.get("PYTORCH_KALDI_SNN_GEMM", "auto")
    choice = choice.strip().lower()
    if choice == "aten":
        return False
    try:
        op = torch.ops.mkldnn._linear_pointwise
        if not torch.backends.mkldnn.is_available():
            raise RuntimeError("oneDNN is not available in this torch build")
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(5, 7, generator=gen)
        w = torch.randn(3, 7, generator=gen)
        b = torch.randn(3, generator=gen)
        got = op(x, w, b, "none", [], "")
        if not torch.allclose(got, torch.addmm(b, x, w.t()), rtol=1e-5, atol=1e-5):
            raise RuntimeError("oneDNN linear disagrees with torch.mm")
    except (AttributeError, RuntimeError) as err:
        if choice == "onednn":
            log.warning("PYTORCH_KALDI_SNN_GEMM=onednn but oneDNN is unusable: %s", err)
        else:
            log.debug("oneDNN linear unusable (%s): torch.mm everywhere", err)
        return False
    return True


def use_onednn(t: Tensor, macs: int | None = None) -> bool:
    """Whether a product on ``t`` of ``macs`` multiply-adds goes to oneDNN (``macs``
    None: whether oneDNN is in use at all)."""
    global _ONEDNN, _ANY_SIZE
    if t.dtype != torch.float32 or t.device.type != "cpu":
        return False
    if _ONEDNN is None:
        _ONEDNN = _onednn_ok()
        _ANY_SIZE = os.environ.get("PYTORCH_KALDI_SNN_GEMM", "").strip().lower() == (
            "onednn")
    if macs is not None and macs < MIN_MACS and not _ANY_SIZE:
        return False
    return _ONEDNN


def reset() -> None:
    """Re-read ``PYTORCH_KALDI_SNN_GEMM`` at the next call (tests)."""
    global _ONEDNN
    _ONEDNN = None


@contextlib.contextmanager
def forced(choice: str) -> Iterator[None]:
    """Within the block behave as ``PYTORCH_KALDI_SNN_GEMM=choice`` (``aten``,
    ``onednn`` or ``auto``): benchmarks compare the rules in one process."""
    global _ONEDNN, _ANY_SIZE
    saved = _ONEDNN, _ANY_SIZE
    _ONEDNN = _onednn_ok(choice)
    _ANY_SIZE = choice == "onednn"
    try:
        yield
    finally:
        _ONEDNN, _ANY_SIZE = saved


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x [M, K] @ weight[N, K].T (+ bias [N])`` as a new ``[M, N]`` tensor.

    ``weight`` may be a transposed view; oneDNN reads the strides it is given.
    """
    needs_graph = torch.is_grad_enabled() and (
        x.requires_grad or weight.requires_grad
        or (bias is not None and bias.requires_grad))
    macs = x.shape[0] * x.shape[1] * weight.shape[0]
    if use_onednn(x, macs) and not needs_graph:  # the oneDNN op has no autograd formula
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
    if bias is None:
        return torch.mm(x, weight.t())
    return torch.addmm(bias, x, weight.t())


def linear_add(x: Tensor, weight: Tensor, other: Tensor, rows: int | None = None
               ) -> Tensor:
    """``x [M, K] @ weight[N, K].T + other [M, N]`` as a new tensor (no autograd);
    ``rows`` (default M) as in :func:`linear_adder`."""
    return linear_adder(weight, x.shape[0] if rows is None else rows, x)(x, other)


def linear_adder(weight: Tensor, rows: int, like: Tensor, out_rows: int | None = None
                 ) -> Callable[[Tensor, Tensor], Tensor]:
    """``(x, other) -> x @ weight.T + other`` with the library chosen once, for
    products of ``rows`` rows of ``like``'s dtype and device (a frame loop makes the
    same product every frame). ``rows`` is the whole batch's when ``x`` is one range
    of its rows: each range then rounds as the whole would. With ``out_rows`` (the
    rows of every ``x``) the ``torch.addmm`` path writes one reused buffer, which each
    call returns again (oneDNN's op has no ``out=``).

    On oneDNN the sum is the product's post-op, with no second pass over the result.
    For v2's recurrent product of a frame at batch 64 and 550 units it was 1.02x as
    fast on one thread and on two spinning threads, and 1.17x on two threads with
    sleeping OpenMP workers (``bench/bench_gemm.py --threads 1,2``, docs/speed.md).
    Elsewhere ``torch.addmm``. Used only when a self-check on first use gives the
    product plus ``other`` exactly as computing them apart does."""
    macs = rows * weight.shape[1] * weight.shape[0]
    if use_onednn(like, macs) and _fused_add_ok():
        return lambda x, other: torch.ops.mkldnn._linear_pointwise.binary(
            x, other, weight, None, "add")
    if use_onednn(like, macs):
        return lambda x, other: torch.add(
            torch.ops.mkldnn._linear_pointwise(x, weight, None, "none", [], ""), other)
    weight_t = weight.t()
    if out_rows is None:
        return lambda x, other: torch.addmm(other, x, weight_t)
    out = like.new_empty(out_rows, weight.shape[0])
    return lambda x, other: torch.addmm(other, x, weight_t, out=out)


_FUSED_ADD: bool | None = None


def _fused_add_ok() -> bool:
    """Whether oneDNN's binary-add linear exists and equals the product plus the
    addend bit for bit (checked once)."""
    global _FUSED_ADD
    if _FUSED_ADD is None:
        try:
            gen = torch.Generator().manual_seed(0)
            x = torch.randn(64, 96, generator=gen)
            w = torch.randn(80, 96, generator=gen)
            o = torch.randn(64, 80, generator=gen)
            got = torch.ops.mkldnn._linear_pointwise.binary(x, o, w, None, "add")
            want = torch.add(torch.ops.mkldnn._linear_pointwise(x, w, None, "none", [],
                                                                ""), o)
            _FUSED_ADD = bool(torch.equal(got, want))
        except (AttributeError, RuntimeError) as err:
            log.debug("oneDNN binary-add linear unusable (%s)", err)
            _FUSED_ADD = False
    return _FUSED_ADD


def weight_grad(g: Tensor, x: Tensor) -> Tensor:
    """``g [M, N].T @ x [M, K]`` (a weight gradient, ``[N, K]``), computed as the
    transpose of ``x.T @ g`` on ``torch.mm``: MKL runs that form 5-20 % faster for the
    long-M shapes of a training step (docs/speed.md, training step)."""
    return torch.mm(x.t(), g).t()


class Linear(torch.autograd.Function):
    """``x @ w.T + b`` with both products of the forward and the input gradient
    through :func:`linear`; the weight gradient through :func:`weight_grad`."""

    @staticmethod
    def forward(ctx, x, weight, bias):  # type: ignore[override]
        with torch.no_grad():
            out = linear(x, weight, bias)
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return out

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        g_x = g_w = g_b = None
        if need_x:
            g_x = linear(g, weight.t())
        if need_w:
            g_w = weight_grad(g, x)
        if need_b and ctx.has_bias:
            g_b = g.sum(0)
        return g_x, g_w, g_b


def linear_with_grad(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """:class:`Linear` for a 2-d input when oneDNN is in use, else ``F.linear``."""
    if use_onednn(x, x.shape[0] * x.shape[1] * weight.shape[0]):
        return Linear.apply(x, weight, bias)
    return torch.nn.functional.linear(x, weight, bias)
