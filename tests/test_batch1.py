"""Batch-1 C paths (nn/batch1.py, nn/_seq1.c): whole utterance and stateful stream vs
the eval forward, the torch fallback, and the shape errors."""

from __future__ import annotations

import pytest
import torch

from pytorch_kaldi_snn.errors import DataError
from pytorch_kaldi_snn.nn import (
    MultiBitSpike,
    SigmaDeltaEncoder,
    SNNStack,
    SymmetricSpike,
    batch1,
    cstep,
)
from pytorch_kaldi_snn.nn.streaming import StreamingSNN

KINDS = ["traditional", "v1", "v2"]


def _trained(kind, dtype=torch.float64, n_bits=4, sizes=(9, 7), inputs=6,
             encoder=None):
    torch.manual_seed(0)
    k = 1 if n_bits else 0
    stack = SNNStack(inputs, list(sizes), kind, lambda: MultiBitSpike(n_bits, k),
                     dropout=[0.1] * len(sizes), learn_decay=True,
                     encoder=encoder).to(dtype)
    stack.train()
    for _ in range(3):  # move the ranges and BN statistics away from their init
        stack(torch.randn(15, 4, inputs, dtype=dtype))
    return stack.eval()


def _needs_c():
    if cstep.library() is None:
        pytest.skip("no C compiler: the torch paths run")


def _pushed(stream: StreamingSNN, x: torch.Tensor) -> torch.Tensor:
    s = stream.open()
    return torch.stack([s.push(x_t) for x_t in x.unbind(0)])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n_bits", [4, None])
def test_offline_and_stream_equal_the_eval_forward_float64(kind, n_bits):
    _needs_c()
    stack = _trained(kind, n_bits=n_bits)
    x = torch.randn(30, 1, 6, dtype=torch.float64)
    with torch.no_grad():
        full = stack(x)
    assert (full == 0).any() and (full != 0).any()
    for events in batch1.EVENTS:
        out = batch1.build(stack, torch.float64, events).run(x)
        assert out.shape == full.shape
        torch.testing.assert_close(out, full, rtol=1e-10, atol=1e-12)
    stream = StreamingSNN(stack, sparse=True)
    assert stream._program is not None
    torch.testing.assert_close(stream(x), full, rtol=1e-10, atol=1e-12)
    s = stream.open()
    assert s.native
    torch.testing.assert_close(_pushed(stream, x), full, rtol=1e-10, atol=1e-12)


def test_float32_wide_layers_are_close_and_the_event_modes_agree():
    _needs_c()  # widths above the 16-float vectors, many rows per four-row group
    stack = _trained("v2", dtype=torch.float32, n_bits=6, sizes=(70, 50), inputs=20)
    x = torch.randn(60, 1, 20)
    with torch.no_grad():
        full = stack(x)
    assert 0.1 < (full != 0).float().mean() < 0.9
    runs = {ev: batch1.build(stack, torch.float32, ev).run(x) for ev in batch1.EVENTS}
    # the gather in the recurrence and the blocked projection add the same rows in
    # the same order: the same bits
    assert torch.equal(runs["project"], runs["gather"])
    stream = StreamingSNN(stack, sparse=True)
    for out in (*runs.values(), stream(x), _pushed(stream, x)):
        # a value on a level's edge may move by one level, nothing more
        assert ((out - full).abs() > 1e-5).float().mean() < 0.02
    assert torch.equal(_pushed(stream, x), runs["gather"])  # the same frame kernel


def test_stream_reset_and_state_survive_between_frames():
    _needs_c()
    stack = _trained("v2")
    x = torch.randn(20, 1, 6, dtype=torch.float64)
    stream = StreamingSNN(stack, sparse=True)
    s = stream.open()
    first = torch.stack([s.push(x_t) for x_t in x.unbind(0)])
    s.reset()
    again = torch.stack([s.push(x_t) for x_t in x.unbind(0)])
    assert torch.equal(first, again)
    # a float32, non-contiguous frame is converted
    s.reset()
    y0 = s.push(x[0].float().t().contiguous().t())
    torch.testing.assert_close(y0, first[0], rtol=1e-5, atol=1e-6)


def test_sigma_delta_encoder_offline_and_stream_fallback():
    _needs_c()
    enc = SigmaDeltaEncoder(SymmetricSpike(4, 0))
    stack = _trained("v2", encoder=enc)
    x = torch.randn(20, 1, 6, dtype=torch.float64)
    with torch.no_grad():
        full = stack(x)
    stream = StreamingSNN(stack, sparse=True)
    torch.testing.assert_close(stream(x), full, rtol=1e-10, atol=1e-12)
    s = stream.open()
    assert not s.native  # the encoder runs in torch: the step() path
    torch.testing.assert_close(_pushed(stream, x), full, rtol=1e-10, atol=1e-12)


def test_without_c_the_torch_paths_give_the_same_results(monkeypatch):
    stack = _trained("v2", dtype=torch.float32, n_bits=6)
    x = torch.randn(25, 1, 6)
    with torch.no_grad():
        full = stack(x)
    with cstep.disabled():
        assert batch1.build(stack, torch.float32) is None
        stream = StreamingSNN(stack, sparse=True)
    assert stream._program is None
    assert ((stream(x) - full).abs() > 1e-5).float().mean() < 0.05
    s = stream.open()
    assert not s.native
    assert ((_pushed(stream, x) - full).abs() > 1e-5).float().mean() < 0.05
    # the environment switch as a user sets it
    monkeypatch.setenv("PYTORCH_KALDI_SNN_NO_C", "1")
    cstep.reset()
    try:
        assert StreamingSNN(stack, sparse=True)._program is None
    finally:
        monkeypatch.delenv("PYTORCH_KALDI_SNN_NO_C")
        cstep.reset()


def test_paths_that_do_not_apply_fall_back():
    stack = _trained("v2")
    assert batch1.build(stack, torch.float16) is None
    assert batch1.build(stack, torch.float64, events="nope") is None
    assert StreamingSNN(stack, sparse=True, native=False)._program is None
    assert StreamingSNN(stack)._program is None  # exact mode keeps its own loop
    sym = SNNStack(6, [5], "v2", lambda: SymmetricSpike(4, 1)).double().eval()
    assert batch1.build(sym, torch.float64) is None
    # batch > 1 and other dtypes keep the frame loop, with the same result
    stream = StreamingSNN(stack, sparse=True)
    x = torch.randn(12, 3, 6, dtype=torch.float64)
    with torch.no_grad():
        full = stack(x)
    torch.testing.assert_close(stream(x), full, rtol=1e-10, atol=1e-12)


def test_batch1_shape_errors():
    _needs_c()
    stack = _trained("v2")
    program = batch1.build(stack, torch.float64)
    for bad in (torch.randn(5, 2, 6), torch.randn(5, 1, 4), torch.randn(5, 6)):
        with pytest.raises(DataError, match=r"\[T, 1, 6\]"):
            program.run(bad.double())
    s = StreamingSNN(stack, sparse=True).open()
    for bad in (torch.randn(2, 6), torch.randn(6), torch.randn(1, 5)):
        with pytest.raises(DataError, match=r"\[1, 6\]"):
            s.push(bad.double())
    with pytest.raises(DataError, match="events"):
        batch1.Batch1Program(cstep.library(), stack, torch.float64, events="nope")
    assert program.run(torch.zeros(0, 1, 6, dtype=torch.float64)).shape == (0, 1, 7)


def test_offline_chunks_carry_the_state(monkeypatch):
    _needs_c()
    stack = _trained("v2", dtype=torch.float32, n_bits=6)
    x = torch.randn(30, 1, 6)
    whole = {ev: batch1.build(stack, torch.float32, ev).run(x) for ev in batch1.EVENTS}
    monkeypatch.setattr(batch1, "_CHUNK", 7)
    for ev, out in whole.items():
        chunked = batch1.build(stack, torch.float32, ev).run(x)
        if ev == "gemm":  # a BLAS may round a row differently for another M
            assert ((chunked - out).abs() > 1e-5).float().mean() < 0.02
        else:  # the C kernels: the same bits
            assert torch.equal(chunked, out)


def test_float64_wide_and_long_stays_on_the_eval_trajectory():
    _needs_c()  # float32 trajectories of any two implementations drift apart after
    # a level flips (the exact frame loop too); float64 shows the arithmetic is right
    stack = _trained("v2", n_bits=6, sizes=(70, 50), inputs=20)
    x = torch.randn(200, 1, 20, dtype=torch.float64)
    with torch.no_grad():
        full = stack(x)
    assert 0.1 < (full != 0).double().mean() < 0.9
    stream = StreamingSNN(stack, sparse=True)
    torch.testing.assert_close(stream(x), full, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(_pushed(stream, x), full, rtol=1e-10, atol=1e-12)
