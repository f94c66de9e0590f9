"""The authors' class names: options as in their cfgs, their quantiser and readout."""

from __future__ import annotations

import configparser

import pytest
import torch

from pytorch_kaldi_snn import pytorch_kaldi as pk
from pytorch_kaldi_snn.errors import ConfigError
from pytorch_kaldi_snn.nn import SymmetricSpike

OPTS = {
    "hidden_size": "10",
    "num_layers": "2",
    "dropout": "0.2",
    "use_bn": "True",
    "do_edat": "True",
    "n_bits": "6",
    "threshold": "3",
    "momentum": "0.05",
    "output_size": "7",
    "learn_tau": "True",
    "arch_lr": "0.001",
    "to_do": "train",
    "use_cuda": "False",
}


def _section(**extra):
    parser = configparser.ConfigParser(interpolation=None)
    parser["architecture1"] = dict(OPTS, **extra)
    return parser["architecture1"]


def test_traditional_learns_only_the_synaptic_decay():
    torch.manual_seed(0)
    net = pk.TraditionalSpikingModel(_section(), 5).train()
    layer = net.snn.layers[0]
    assert torch.all(layer.beta == 1.0) and torch.all(layer.alpha == 1.0)
    assert layer.beta.requires_grad and not layer.alpha.requires_grad
    out = net(torch.randn(9, 3, 5))
    assert out.shape == (27, 7)
    out[:, 0].sum().backward()
    assert layer.beta.grad is not None and layer.alpha.grad is None
    assert layer.bn.momentum == 0.05 and net.readout_bn.momentum == 0.05
    assert net.readout.bias is None


def test_traditional_always_quantises_v1_v2_follow_do_edat():
    trad = pk.TraditionalSpikingModel(_section(do_edat="False"), 5)
    assert isinstance(trad.snn.layers[0].spike, SymmetricSpike)
    assert trad.snn.encoder is not None
    v2 = pk.ImprovedSpikingModelV2(_section(do_edat="False"), 5)
    assert v2.snn.layers[0].spike.n_bits is None and v2.snn.encoder is None


def test_full_precision_v2_emits_its_synaptic_current():
    # without do_edat the authors' v2 emits I[n] itself; relu(V) with V = I matches
    torch.manual_seed(1)
    net = pk.ImprovedSpikingModelV2(_section(do_edat="False"), 5).eval()
    layer = net.snn.layers[0]
    for t in (1, 4):
        y, state = layer.run(torch.randn(t, 3, 5))
        assert torch.allclose(y[-1], state.i, atol=1e-6)


def test_n_bits_32_is_practically_full_precision():
    spike = SymmetricSpike(32, 0, 0.1).train()
    v = torch.randn(1000)
    y = spike(v)
    assert torch.allclose(y, v, rtol=1e-5, atol=1e-6)
    pk.ImprovedSpikingModelV1(_section(n_bits="32", threshold="0"), 5)


@pytest.mark.parametrize(
    "key,value",
    [("n_bits", "33"), ("n_bits", "0"), ("threshold", "32"), ("use_bn", "maybe"),
     ("snn_lay", "4")],
)
def test_bad_authors_options_are_located(key, value):
    with pytest.raises(ConfigError) as err:
        pk.ImprovedSpikingModelV2(_section(**{key: value}), 5)
    text = str(err.value)
    assert "ImprovedSpikingModelV2" in text and key in text and "allowed" in text
