"""The hand-written LSTM/GRU recurrences (pytorch_kaldi/recurrence.py) against the
autograd loop over the cells (the reference) and against the equations written out."""

from __future__ import annotations

import configparser

import pytest
import torch

from pytorch_kaldi_snn.pytorch_kaldi import recurrence
from pytorch_kaldi_snn.pytorch_kaldi.baselines import GRU, LSTM


def _section(prefix: str, act: str, bidir: str, drop: str) -> configparser.SectionProxy:
    cp = configparser.ConfigParser()
    cp.read_dict({"architecture1": {
        f"{prefix}_lay": "6,5", f"{prefix}_drop": f"{drop},{drop}",
        f"{prefix}_use_laynorm_inp": "False", f"{prefix}_use_batchnorm_inp": "False",
        f"{prefix}_use_laynorm": "False,False", f"{prefix}_use_batchnorm": "True,True",
        f"{prefix}_bidir": bidir, f"{prefix}_act": f"{act},{act}",
        f"{prefix}_orthinit": "True",
    }})
    return cp["architecture1"]


def _run(net, x, weights, hand: bool):
    net.hand_backward = hand
    torch.manual_seed(1)  # the same dropout masks in both runs
    y = net(x)
    (y * weights).sum().backward()
    grads = [x.grad.clone()] + [p.grad.clone() for p in net.parameters()]
    x.grad = None
    net.zero_grad()
    return y.detach(), grads


@pytest.mark.parametrize("cls,prefix", [(LSTM, "lstm"), (GRU, "gru")])
@pytest.mark.parametrize("act", sorted(recurrence.ACTIVATIONS))
@pytest.mark.parametrize("bidir,drop", [("False", "0.3"), ("True", "0.0")])
def test_hand_backward_equals_autograd_loop(cls, prefix, act, bidir, drop):
    torch.manual_seed(0)
    net = cls(_section(prefix, act, bidir, drop), 4).double().train()
    x = torch.randn(9, 3, 4, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(9, 3, net.out_dim, dtype=torch.float64)
    y_hand, g_hand = _run(net, x, weights, hand=True)
    y_ref, g_ref = _run(net, x, weights, hand=False)
    torch.testing.assert_close(y_hand, y_ref, rtol=0, atol=1e-12)
    assert len(g_hand) == len(g_ref)
    for a, b in zip(g_hand, g_ref):
        assert a.abs().max() > 0  # every parameter receives a gradient
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("fn,gates", [(recurrence.lstm_recurrence, 4),
                                      (recurrence.gru_recurrence, 3)])
@pytest.mark.parametrize("masked", [False, True])
def test_gradcheck(fn, gates, masked):
    torch.manual_seed(0)
    size = 3
    wx = torch.randn(5, 2, gates * size, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(gates * size, size, dtype=torch.float64, requires_grad=True)
    mask = (torch.rand(2, size, dtype=torch.float64) > 0.3) * 2.0 if masked else None
    assert torch.autograd.gradcheck(lambda a, b: fn(a, b, mask, "tanh"), (wx, weight))


def test_lstm_matches_equations():
    torch.manual_seed(0)
    size = 3
    wx = torch.randn(4, 2, 4 * size, dtype=torch.float64)
    u = torch.randn(4 * size, size, dtype=torch.float64)
    mask = torch.tensor([[2.0, 0.0, 2.0], [0.0, 2.0, 2.0]], dtype=torch.float64)
    y = recurrence.lstm_recurrence(wx, u, mask, "relu")
    h = c = torch.zeros(2, size, dtype=torch.float64)
    for n in range(4):
        pre = wx[n] + h @ u.t()
        f, i, o, cand = pre.split(size, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.relu(cand) * mask
        h = torch.sigmoid(o) * torch.relu(c)
        torch.testing.assert_close(y[n], h)


def test_softmax_activation_keeps_the_autograd_loop(monkeypatch):
    """Log-softmax is not element-wise: the stack must not call the recurrence."""
    assert "softmax" not in recurrence.ACTIVATIONS
    calls = []
    monkeypatch.setattr(LSTM, "run_recurrence",
                        staticmethod(lambda *a: calls.append(a)))
    net = LSTM(_section("lstm", "softmax", "False", "0.0"), 4)
    assert net(torch.randn(3, 2, 4)).shape == (3, 2, 5)
    assert calls == []
