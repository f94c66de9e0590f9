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
