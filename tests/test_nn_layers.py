"""Spiking layers: EMA range, eval freezing, dropout masks, shapes, Eq. 15 gradients."""

from __future__ import annotations

import pytest
import torch

from pytorch_kaldi_snn.errors import ConfigError, DataError
from pytorch_kaldi_snn.nn import (
    MultiBitSpike,
    SigmaDeltaEncoder,
    SNNStack,
    SpikingLayer,
    SymmetricSpike,
)


@pytest.mark.parametrize("kind", ["traditional", "v1", "v2"])
def test_shapes_contiguity_and_parameters(kind):
    torch.manual_seed(0)
    layer = SpikingLayer(7, 5, kind, MultiBitSpike(4, 2))
    y = layer(torch.randn(9, 3, 7))
    assert y.shape == (9, 3, 5) and y.is_contiguous()
    names = dict(layer.named_parameters())
    assert "w_in.weight" in names
    assert ("w_rec.weight" in names) == (kind == "v2")
    assert layer.w_in.out_features == (5 if kind == "traditional" else 10)


def test_ema_range_moves_in_training_and_is_frozen_in_eval():
    torch.manual_seed(0)
    layer = SpikingLayer(4, 6, "v1", MultiBitSpike(6, 4, momentum=0.5, init_range=1.0))
    x = 5 * torch.randn(20, 2, 4)
    layer.train()
    layer(x)
    b1 = layer.spike.range.item()
    assert b1 != 1.0
    _, _state = layer.run(x)
    layer.eval()
    frozen = layer.spike.range.clone()
    layer(x)
    assert torch.equal(layer.spike.range, frozen)
    # training again moves b toward the sequence's max membrane potential
    layer.train()
    layer(x)
    assert layer.spike.range.item() != frozen.item()


def test_range_update_is_the_ema_of_the_sequence_maximum():
    spike = MultiBitSpike(6, 4, momentum=0.25, init_range=2.0)
    spike.train()
    spike.observe(torch.tensor(6.0))
    assert spike.range.item() == pytest.approx(0.75 * 2.0 + 0.25 * 6.0)
    spike.eval()
    spike.observe(torch.tensor(100.0))
    assert spike.range.item() == pytest.approx(3.0)


def test_outputs_are_quantised_to_the_layer_range():
    torch.manual_seed(1)
    layer = SpikingLayer(4, 8, "v2", MultiBitSpike(3, 2)).eval()
    y = layer(torch.randn(30, 2, 4))
    step = layer.spike.range.item() / 8
    assert torch.allclose(y / step, (y / step).round(), atol=1e-4)
    assert torch.all((y == 0) | (y >= 2 * step - 1e-6))


def test_dropout_mask_is_one_per_sequence():
    torch.manual_seed(0)
    layer = SpikingLayer(
        3, 50, "v1", MultiBitSpike(None), dropout=0.5, use_batchnorm=False
    )
    layer.train()
    mask = layer.dropout_mask(4, torch.zeros(1))
    assert mask.shape == (4, 50)
    assert set(mask.unique().tolist()) <= {0.0, 2.0}
    # a dropped neuron's candidate never reaches its current in any frame
    x = torch.rand(12, 4, 3)
    _y, state = layer.run(x, mask=mask)
    dropped = mask == 0
    with torch.no_grad():
        assert torch.all(state.i[dropped] == 0)
    layer.eval()
    assert layer.dropout_mask(4, torch.zeros(1)) is None


def test_bad_arguments_are_named():
    with pytest.raises(ConfigError, match="kind"):
        SpikingLayer(3, 4, "v3")
    with pytest.raises(ConfigError, match="threshold above the range"):
        MultiBitSpike(2, 4)
    with pytest.raises(ConfigError, match="bits"):
        MultiBitSpike(17, 1)
    with pytest.raises(DataError, match=r"\[T, B, 3\]"):
        SpikingLayer(3, 4, "v1")(torch.zeros(5, 2, 4))


def _grad_vs_distance(kind: str, beta: float = 0.8):
    """|dI[T-1]/dx[T-1-d]| in full precision (no STE), Eq. 15's argument."""
    torch.manual_seed(0)
    layer = SpikingLayer(
        4, 16, kind, MultiBitSpike(None), use_batchnorm=False, beta=beta
    )
    if kind != "traditional":
        with torch.no_grad():  # forget gate open: a long memory, as after training
            layer.w_in.bias[:16] = 4.0
    layer.eval()
    x = torch.randn(20, 1, 4, requires_grad=True)
    _, state = layer.run(x)
    state.i.sum().backward()
    g = x.grad[:, 0].norm(dim=-1)
    return g.flip(0)  # index = distance


def test_traditional_gradient_decays_like_beta_power():
    g = _grad_vs_distance("traditional", beta=0.8)
    ratios = g[1:10] / g[:9]
    assert torch.allclose(ratios, torch.full_like(ratios, 0.8), rtol=1e-4)


@pytest.mark.parametrize("kind", ["v1", "v2"])
def test_improved_layers_keep_gradient_to_distant_inputs(kind):
    trad = _grad_vs_distance("traditional", beta=0.8)
    imp = _grad_vs_distance(kind)
    assert imp[15] / imp[0] > 5 * trad[15] / trad[0]


def test_stack_with_sigma_delta_encoder():
    torch.manual_seed(0)
    enc = SigmaDeltaEncoder(SymmetricSpike(8, 0))
    stack = SNNStack(5, [6, 4], "v2", encoder=enc)
    y = stack(torch.randn(10, 3, 5))
    assert y.shape == (10, 3, 4)
    # a fine quantiser makes the encoded stream track the input on average
    x = torch.randn(200, 1, 5) * 0.5
    e = enc.eval()(x)
    assert (e.cumsum(0) - x.cumsum(0)).abs().max() < 0.1
