"""Typed option parsing of the SNN_* classes: kind-specific keys, quantiser bounds,
the authors' quantiser and encoder variants, and the forward-time input check."""

from __future__ import annotations

import configparser

import pytest
import torch

from pytorch_kaldi_snn import pytorch_kaldi as pk
from pytorch_kaldi_snn.errors import ConfigError, DataError
from pytorch_kaldi_snn.nn import MultiBitSpike, SymmetricSpike

BASE = {
    "snn_lay": "8,6",
    "snn_drop": "0.0,0.0",
    "snn_use_batchnorm": "True,False",
    "snn_n_bits": "4",
    "snn_threshold_k": "2",
    "snn_ema_momentum": "0.1",
    "snn_alpha": "1.0",
    "snn_learn_decay": "False",
    "snn_input_encoding": "none",
    "arch_name": "snn",
    "arch_lr": "0.001",
    "opt_betas": "0.9,0.999",
    "use_cuda": "False",
    "to_do": "train",
}


def _section(**extra):
    parser = configparser.ConfigParser(interpolation=None)
    parser["architecture1"] = dict(BASE, **extra)
    return parser["architecture1"]


def test_host_keys_are_ignored_and_options_reach_the_layers():
    net = pk.SNN_v1(_section(), 5)
    layers = net.snn.layers
    assert [la.hidden_size for la in layers] == [8, 6] and net.out_dim == 6
    assert layers[0].bn is not None and layers[1].bn is None
    assert isinstance(layers[0].spike, MultiBitSpike)
    assert (layers[0].spike.n_bits, layers[0].spike.k) == (4, 2)


def test_synaptic_decay_is_traditional_only():
    net = pk.SNN_traditional(_section(snn_beta="0.5"), 5)
    assert torch.all(net.snn.layers[0].beta == 0.5)
    with pytest.raises(ConfigError, match="snn_beta") as err:
        pk.SNN_v2(_section(snn_beta="0.5"), 5)
    assert "SNN_v2" in str(err.value) and "0.5" in str(err.value)


def test_full_precision_and_learnable_decays():
    net = pk.SNN_traditional(
        _section(snn_n_bits="0", snn_threshold_k="0", snn_learn_decay="true"), 5
    )
    layer = net.snn.layers[0]
    assert layer.spike.n_bits is None
    names = {n for n, _ in net.named_parameters()}
    assert "snn.layers.0.alpha" in names and "snn.layers.0.beta" in names
    x = torch.randn(6, 3, 5)
    y = net(x)
    assert torch.all(y >= 0) and y.shape == (6, 3, 6)


def test_authors_quantiser_and_sigma_delta_encoder():
    net = pk.SNN_v2(
        _section(
            snn_quantizer="authors",
            snn_threshold_k="3",
            snn_input_encoding="sigma_delta",
            snn_input_bits="5",
        ),
        5,
    )
    assert isinstance(net.snn.layers[0].spike, SymmetricSpike)
    assert net.snn.encoder.spike.n_bits == 5
    assert net(torch.randn(7, 2, 5)).shape == (7, 2, 6)
    # 4 bits signed: 7 levels per sign, so k = 8 is above the range
    with pytest.raises(ConfigError, match="threshold above the range"):
        pk.SNN_v2(_section(snn_quantizer="authors", snn_threshold_k="8"), 5)
    with pytest.raises(ConfigError, match="at least 2 bits"):
        pk.SNN_v2(
            _section(snn_quantizer="authors", snn_n_bits="1", snn_threshold_k="0"), 5
        )


@pytest.mark.parametrize(
    "key,value",
    [
        ("snn_learn_decay", "yes"),
        ("snn_alpha", "1.5"),
        ("snn_ema_momentum", "-0.1"),
        ("snn_quantizer", "fancy"),
        ("snn_input_bits", "1"),
        ("snn_lay", ""),
        ("snn_drop", "0.1,1.5"),
    ],
)
def test_bad_values_raise_located_errors(key, value):
    with pytest.raises(ConfigError) as err:
        pk.SNN_traditional(_section(**{key: value}), 5)
    text = str(err.value)
    assert "SNN_traditional" in text and key in text and "allowed" in text


def test_forward_checks_the_feature_dimension():
    net = pk.SNN_v1(_section(), 5).eval()
    with pytest.raises(DataError, match=r"SNN_v1.*inp_dim=5"):
        net(torch.zeros(3, 2, 4))
    # [T*B, F] from a non-sequential caller is one frame per row
    assert net(torch.zeros(4, 5)).shape == (1, 4, 6)
