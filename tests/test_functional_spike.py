"""The multi-bit spike (Eq. 22) and the authors' signed quantiser: values, STE."""

from __future__ import annotations

import pytest
import torch

from pytorch_kaldi_snn.functional.spike import multibit_spike, symmetric_spike


def test_levels_are_multiples_of_the_step_and_nothing_at_or_below_gamma():
    torch.manual_seed(0)
    b = torch.tensor(2.0)
    v = torch.rand(10000) * 3 - 0.5
    for n_bits, k in ((1, 1), (2, 1), (4, 3), (6, 4)):
        y = multibit_spike(v, b, n_bits, k)
        step = 2.0 / 2**n_bits
        levels = y / step
        assert torch.allclose(levels, levels.round(), atol=1e-5)
        gamma = k * step
        assert torch.all(y[v <= gamma] == 0)
        assert torch.all(y[v > gamma] >= gamma - 1e-6)
        assert y.max() <= (2**n_bits - 1) * step + 1e-6
        # inside the range the quantiser truncates by less than one step
        inside = (v > gamma) & (v < b)
        assert torch.all((v[inside] - y[inside] >= 0) & (v[inside] - y[inside] < step))


def test_binary_spike_is_gamma():
    b = torch.tensor(1.0)
    y = multibit_spike(torch.tensor([0.2, 0.5, 0.51, 0.9, 5.0]), b, 1, 1)
    assert y.tolist() == [0.0, 0.0, 0.5, 0.5, 0.5]


def test_full_precision_is_relu():
    v = torch.tensor([-1.0, 0.0, 0.3, 7.0])
    y = multibit_spike(v, torch.tensor(1.0), None, 4)
    assert torch.equal(y, torch.relu(v))


def test_straight_through_gradient_is_exact():
    b = torch.tensor(1.0)
    v = torch.tensor([-0.5, 0.0, 0.01, 0.3, 0.99, 1.0, 1.5], requires_grad=True)
    g = torch.arange(1.0, 8.0)
    multibit_spike(v, b, 3, 2).backward(g)
    # identity inside [0, b], including the sub-threshold part; zero outside
    assert v.grad.tolist() == [0.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0]


def test_symmetric_quantiser_values_and_gradient():
    s = torch.tensor(1.0)
    v = torch.tensor([-1.5, -0.9, -0.2, 0.1, 0.3, 0.8], requires_grad=True)
    y = symmetric_spike(v, s, 3, 1)  # scale 4 (1 - 1e-4), |q| <= 1 -> 0
    step = 1 / (4 * (1 - 1e-4))
    assert torch.allclose(y, torch.tensor([-3, -3, 0, 0, 0, 3]) * step, atol=0)
    # a zero range (before any training batch) gives zeros; 1 bit gives zeros
    assert torch.all(symmetric_spike(v, torch.tensor(0.0), 3, 0) == 0)
    assert torch.all(symmetric_spike(v, s, 1, 0) == 0)
    y.sum().backward()
    assert v.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("n_bits", [2, 6])
def test_spike_output_dtype_and_device_follow_input(n_bits):
    v = torch.rand(3, 4, dtype=torch.float64)
    y = multibit_spike(v, torch.tensor(1.0, dtype=torch.float64), n_bits, 1)
    assert y.dtype == torch.float64 and y.shape == v.shape
