"""Our MLP/LSTM/GRU with PyTorch-Kaldi's option sets: construction from a real
configparser section, shapes, fused vs. looped paths, strict reload, errors."""

from __future__ import annotations

import configparser

import pytest
import torch

from pytorch_kaldi_snn.errors import ConfigError
from pytorch_kaldi_snn.pytorch_kaldi.baselines import GRU, LSTM, MLP


def _section(prefix: str, **over: str) -> configparser.SectionProxy:
    base = {
        f"{prefix}_lay": "6,5",
        f"{prefix}_drop": "0.0,0.0",
        f"{prefix}_use_laynorm_inp": "False",
        f"{prefix}_use_batchnorm_inp": "False",
        f"{prefix}_use_laynorm": "False,False",
        f"{prefix}_use_batchnorm": "False,False",
        f"{prefix}_act": "tanh,tanh" if prefix != "dnn" else "relu,softmax",
    }
    if prefix != "dnn":
        base[f"{prefix}_bidir"] = "False"
        base[f"{prefix}_orthinit"] = "True"
    base.update({f"{prefix}_{k}": v for k, v in over.items()})
    base.update({"use_cuda": "False", "to_do": "train"})
    cp = configparser.ConfigParser()
    cp.read_dict({"architecture1": base})
    return cp["architecture1"]


@pytest.mark.parametrize("cls,prefix", [(LSTM, "lstm"), (GRU, "gru")])
@pytest.mark.parametrize("over", [
    {},
    {"use_batchnorm": "True,True", "drop": "0.2,0.2"},
    {"bidir": "True", "act": "relu,relu", "use_laynorm": "True,False"},
])
def test_recurrent_shapes_and_reload(cls, prefix, over):
    torch.manual_seed(0)
    net = cls(_section(prefix, **over), 4)
    expect_fused = not over
    assert net.fused == expect_fused
    x = torch.randn(7, 3, 4)
    y = net(x)
    bidir = over.get("bidir") == "True"
    assert y.shape == (7, 3, 5 * (2 if bidir else 1)) == (7, 3, net.out_dim)
    assert y.is_contiguous()
    y.sum().backward()
    again = cls(_section(prefix, **over), 4)
    again.load_state_dict(net.state_dict(), strict=True)
    net.eval()
    again.eval()
    assert torch.allclose(net(x), again(x))


def test_lstm_is_causal_in_eval():
    """A unidirectional stack: frames after t cannot change output t (padding is
    safe)."""
    torch.manual_seed(0)
    net = LSTM(_section("lstm", use_batchnorm="True,True", drop="0.1,0.1"), 4).eval()
    x = torch.randn(9, 2, 4)
    y = net(x)
    x2 = x.clone()
    x2[5:] = 0.0
    assert torch.allclose(net(x2)[:5], y[:5], atol=1e-6)


def test_gru_loop_matches_equations():
    torch.manual_seed(0)
    net = GRU(_section("gru", lay="3", drop="0.0", use_laynorm="False",
                       use_batchnorm="False", act="relu"), 2)
    x = torch.randn(4, 1, 2)
    y = net(x)
    w, u = net.wx[0], net.uh[0].weight
    h = torch.zeros(1, 3)
    for t in range(4):
        a = w(x[t])
        z = torch.sigmoid(a[:, :3] + h @ u[:3].t())
        r = torch.sigmoid(a[:, 3:6] + h @ u[3:6].t())
        cand = torch.relu(a[:, 6:] + (r * h) @ u[6:].t())
        h = z * h + (1 - z) * cand
        assert torch.allclose(y[t], h, atol=1e-6)


def test_mlp_log_softmax_on_sequences_and_rows():
    torch.manual_seed(0)
    net = MLP(_section("dnn", use_batchnorm="True,False"), 4)
    assert net.out_dim == 5
    y = net(torch.randn(6, 2, 4))
    assert y.shape == (6, 2, 5)
    assert torch.allclose(y.exp().sum(-1), torch.ones(6, 2), atol=1e-5)
    assert net(torch.randn(10, 4)).shape == (10, 5)


@pytest.mark.parametrize("over,key", [
    ({"lay": "6,x"}, "lstm_lay"),
    ({"drop": "0.1"}, "lstm_drop"),
    ({"act": "tanh,swish"}, "lstm_act"),
    ({"bidir": "yes"}, "lstm_bidir"),
])
def test_bad_options_name_the_key(over, key):
    with pytest.raises(ConfigError) as err:
        LSTM(_section("lstm", **over), 4)
    assert key in str(err.value) and "architecture1" in str(err.value)


def test_drop_schedule_takes_first_value():
    net = LSTM(_section("lstm", drop="0.2*3|0.1,0.0", act="relu,relu"), 4)
    assert net.opts.drops == (0.2, 0.0)
