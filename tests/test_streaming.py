"""Streaming step API and the event-driven sparse path vs the full-sequence forward."""

from __future__ import annotations

import pytest
import torch

from pytorch_kaldi_snn.errors import DataError
from pytorch_kaldi_snn.nn import (
    MultiBitSpike,
    SigmaDeltaEncoder,
    SNNStack,
    SymmetricSpike,
)
from pytorch_kaldi_snn.nn.streaming import StreamingSNN

KINDS = ["traditional", "v1", "v2"]


def _trained(kind, dtype=torch.float64, n_bits=4, encoder=None, seed=0):
    torch.manual_seed(seed)
    stack = SNNStack(6, [9, 7], kind, lambda: MultiBitSpike(n_bits, 1 if n_bits else 0),
                     dropout=[0.1, 0.1], learn_decay=True, encoder=encoder).to(dtype)
    stack.train()
    for _ in range(3):  # move the ranges and BN statistics away from their init
        stack(torch.randn(15, 4, 6, dtype=dtype))
    return stack.eval()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n_bits", [4, None])
def test_exact_and_sparse_steps_equal_the_sequence_forward(kind, n_bits):
    stack = _trained(kind, n_bits=n_bits)
    x = torch.randn(25, 3, 6, dtype=torch.float64)
    with torch.no_grad():
        full = stack(x)
    assert (full == 0).any() and (full != 0).any()
    exact = StreamingSNN(stack)(x)
    if n_bits is None:  # relu: X W of one frame vs all frames differ in the last bit
        torch.testing.assert_close(exact, full, rtol=1e-12, atol=1e-13)
    else:  # quantised: the same levels, hence identical values
        assert torch.equal(exact, full)
    sparse = StreamingSNN(stack, sparse=True)(x)
    torch.testing.assert_close(sparse, full, rtol=1e-10, atol=1e-12)


def test_step_by_step_state_and_batch_one():
    stack = _trained("v2")
    stream = StreamingSNN(stack, sparse=True)
    x = torch.randn(12, 1, 6, dtype=torch.float64)
    with torch.no_grad():
        full = stack(x)
    state = stream.initial_state(1, x)
    for n in range(12):
        y, state = stream.step(x[n], state)
        torch.testing.assert_close(y, full[n], rtol=1e-10, atol=1e-12)
    # the first half, then the rest from the carried state
    state = None
    for n in range(12):
        y, state = stream.step(x[n], state)
    assert len(state.layers) == 2 and state.layers[1].y.shape == (1, 7)


def test_sigma_delta_encoder_streams():
    enc = SigmaDeltaEncoder(SymmetricSpike(4, 0))
    stack = _trained("v2", encoder=enc)
    x = torch.randn(20, 2, 6, dtype=torch.float64)
    with torch.no_grad():
        full = stack(x)
    assert torch.equal(StreamingSNN(stack)(x), full)
    torch.testing.assert_close(StreamingSNN(stack, sparse=True)(x), full,
                               rtol=1e-10, atol=1e-12)


def test_float32_sparse_path_is_close():
    stack = _trained("v2", dtype=torch.float32, n_bits=6)
    x = torch.randn(40, 2, 6)
    with torch.no_grad():
        full = stack(x)
    sparse = StreamingSNN(stack, sparse=True)(x)
    assert ((sparse - full).abs() > 1e-5).float().mean() < 0.02


def test_refresh_follows_new_weights_and_bad_input_is_reported():
    stack = _trained("v2")
    stream = StreamingSNN(stack, sparse=True)
    with torch.no_grad():
        stack.layers[1].w_rec.weight.mul_(-1)
    stream.refresh()
    x = torch.randn(10, 1, 6, dtype=torch.float64)
    with torch.no_grad():
        full = stack(x)
    torch.testing.assert_close(stream(x), full, rtol=1e-10, atol=1e-12)
    with pytest.raises(DataError):
        stream.step(torch.randn(1, 5, dtype=torch.float64))
    with pytest.raises(DataError):
        StreamingSNN(torch.nn.Linear(2, 2))


# --- the batch-1 step in C (pytorch_kaldi_snn/nn/_step1.c) ------------------------

from pytorch_kaldi_snn.functional.neurons import NeuronState  # noqa: E402
from pytorch_kaldi_snn.nn import cstep  # noqa: E402


@pytest.fixture
def fresh_cstep(monkeypatch, tmp_path):
    """Build into a temporary cache and forget the loaded library afterwards."""
    monkeypatch.setenv("PYTORCH_KALDI_SNN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("PYTORCH_KALDI_SNN_NO_C", raising=False)
    cstep.reset()
    yield tmp_path / "cache"
    cstep.reset()


def _needs_c():
    if cstep.library() is None:
        pytest.skip("no C compiler: the torch batch-1 step is used")


@pytest.mark.parametrize("kind", KINDS)
def test_c_step_equals_the_torch_step_from_the_same_state(kind, fresh_cstep):
    _needs_c()
    stack = _trained(kind, dtype=torch.float32, n_bits=6)
    stream = StreamingSNN(stack, sparse=True)
    assert all(sl.cstep is not None for sl in stream._sparse_layers)
    gen = torch.Generator().manual_seed(1)
    for sl, n_in in zip(stream._sparse_layers, (6, 9)):
        for _ in range(20):
            x = torch.rand(1, n_in, generator=gen)
            x *= torch.rand(1, n_in, generator=gen) > 0.5
            state = NeuronState(torch.randn(1, sl.h, generator=gen),
                                torch.randn(1, sl.h, generator=gen) * 2,
                                torch.rand(1, sl.h, generator=gen)
                                * (torch.rand(1, sl.h, generator=gen) > 0.6))
            y_c, s_c = sl.step1(x, state)
            lib, sl.cstep = sl.cstep, None
            try:
                y_t, s_t = sl.step1(x, state)
            finally:
                sl.cstep = lib
            torch.testing.assert_close(s_c.i, s_t.i, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(s_c.v, s_t.v, rtol=1e-5, atol=1e-6)
            # a value on a level's edge may move by one level, nothing more
            assert ((y_c - y_t).abs() <= sl.step_f * 1.0001).all()
            assert (y_c != y_t).float().mean() <= 0.2
            assert (y_t != 0).any() or kind == "traditional"


def test_c_step_streams_close_to_the_sequence_forward(fresh_cstep):
    _needs_c()
    stack = _trained("v2", dtype=torch.float32, n_bits=6)
    x = torch.randn(40, 1, 6)
    with torch.no_grad():
        full = stack(x)
    assert (full != 0).float().mean() > 0.1
    sparse = StreamingSNN(stack, sparse=True)(x)
    assert ((sparse - full).abs() > 1e-5).float().mean() < 0.02


def test_c_step_can_be_disabled_and_survives_a_broken_compiler(monkeypatch, tmp_path,
                                                                fresh_cstep):
    monkeypatch.setenv("PYTORCH_KALDI_SNN_NO_C", "1")
    assert cstep.library() is None
    stack = _trained("v2", dtype=torch.float32, n_bits=6)
    stream = StreamingSNN(stack, sparse=True)
    assert all(sl.cstep is None for sl in stream._sparse_layers)
    x = torch.randn(10, 1, 6)
    with torch.no_grad():
        full = stack(x)
    assert ((stream(x) - full).abs() > 1e-5).float().mean() < 0.05
    # a compiler that fails: no library, no half-written file in the cache
    monkeypatch.delenv("PYTORCH_KALDI_SNN_NO_C")
    bad = tmp_path / "bad-cc"
    bad.write_text("#!/bin/sh\necho 'cc: simulated failure' >&2\nexit 1\n")
    bad.chmod(0o755)
    monkeypatch.setenv("CC", str(bad))
    cstep.reset()
    assert cstep.library() is None
    assert not list(fresh_cstep.glob("*.so"))
    assert not list(fresh_cstep.glob(".kernels-*"))


def test_c_library_is_built_once_per_source_and_cpu(fresh_cstep):
    _needs_c()
    built = list(fresh_cstep.glob("kernels-*.so"))
    assert len(built) == 1
    mtime = built[0].stat().st_mtime_ns
    cstep.reset()
    assert cstep.library() is not None
    assert [p.stat().st_mtime_ns for p in fresh_cstep.glob("kernels-*.so")] == [mtime]


def test_native_false_keeps_the_torch_batch1_step(fresh_cstep):
    stack = _trained("v2", dtype=torch.float32, n_bits=6)
    stream = StreamingSNN(stack, sparse=True, native=False)
    assert all(sl.cstep is None for sl in stream._sparse_layers)
    x = torch.randn(20, 1, 6)
    with torch.no_grad():
        full = stack(x)
    assert ((stream(x) - full).abs() > 1e-5).float().mean() < 0.02


def test_a_compiler_without_march_native_gets_the_portable_flags(monkeypatch, tmp_path,
                                                                 fresh_cstep):
    import shutil

    real = shutil.which("cc") or shutil.which("gcc")
    if real is None:
        pytest.skip("no C compiler")
    picky = tmp_path / "picky-cc"
    picky.write_text("#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = -march=native ] && "
                     "{ echo 'error: -march=native unsupported' >&2; exit 1; }; done\n"
                     f"exec {real} \"$@\"\n")
    picky.chmod(0o755)
    monkeypatch.setenv("CC", str(picky))
    cstep.reset()
    assert cstep.library() is not None
    assert len(list(fresh_cstep.glob("kernels-*.so"))) == 1


def test_c_step_streams_batches_like_single_streams(fresh_cstep):
    _needs_c()
    stack = _trained("v2", dtype=torch.float32, n_bits=6)
    x = torch.randn(30, 3, 6)
    stream = StreamingSNN(stack, sparse=True)
    assert all(sl.cstep is not None for sl in stream._sparse_layers)
    batched = stream(x)
    for b in range(3):  # each stream alone gives the same bits (rows are independent)
        assert torch.equal(stream(x[:, b:b + 1]), batched[:, b:b + 1])
    with torch.no_grad():
        full = stack(x)
    assert ((batched - full).abs() > 1e-5).float().mean() < 0.02
