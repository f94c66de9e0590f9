"""The operation counter: dense closed forms and hand-computed event-driven counts."""

from __future__ import annotations

import configparser

import pytest
import torch
from torch import nn

from pytorch_kaldi_snn.ops import costs, count_ops, summarize
from pytorch_kaldi_snn.ops.report import merge_records, records_from_summary


def _lstm_closed(f: int, h: int) -> tuple[int, int]:
    """4H(F+H) MACs plus 3 products and 1 sum per neuron."""
    return 4 * h * (f + h) + 3 * h, 4 * h * (f + h) + h


def _gru_closed(f: int, h: int, adds_per_neuron: int) -> tuple[int, int]:
    return 3 * h * (f + h) + 3 * h, 3 * h * (f + h) + adds_per_neuron * h


@pytest.mark.parametrize("bidir", [False, True])
def test_torch_lstm_matches_closed_form(bidir: bool) -> None:
    torch.manual_seed(0)
    net = nn.LSTM(7, 5, num_layers=2, bidirectional=bidir)
    t, b = 6, 3
    with count_ops(net) as counter:
        net(torch.randn(t, b, 7))
    ndir = 2 if bidir else 1
    l0, l1 = counter.records()
    assert l0.frames == l1.frames == t * b
    m0, a0 = _lstm_closed(7, 5)
    m1, a1 = _lstm_closed(5 * ndir, 5)
    assert l0.mults == ndir * m0 * t * b and l0.adds == ndir * a0 * t * b
    assert l1.mults == ndir * m1 * t * b and l1.adds == ndir * a1 * t * b
    assert l0.nonlin == ndir * 5 * 5 * t * b
    assert l0.in_events == t * b * 7 and not l0.observed_out
    assert l1.out_slots == t * b * 5 * ndir


def test_torch_gru_matches_closed_form_and_hooks_are_removed() -> None:
    net = nn.GRU(4, 9)
    x = torch.randn(5, 2, 4)
    with count_ops(net) as counter:
        net(x)
    (rec,) = counter.records()
    mults, adds = _gru_closed(4, 9, adds_per_neuron=3)
    assert (rec.mults, rec.adds) == (mults * 10, adds * 10)
    assert costs.gru_layer_cost(4, 9, "torch") == costs.Cost(mults, adds, 27)
    net(x)  # hooks are gone after the with block
    assert rec.frames == 10
    assert not net._forward_hooks


def _section(
    prefix: str, bn: str, act: str, bidir: str = "False"
) -> configparser.SectionProxy:
    cp = configparser.ConfigParser()
    cp.read_dict({"arch": {
        f"{prefix}_lay": "8,6", f"{prefix}_drop": "0,0",
        f"{prefix}_use_laynorm_inp": "False", f"{prefix}_use_batchnorm_inp": "False",
        f"{prefix}_use_laynorm": "False,False", f"{prefix}_use_batchnorm": bn,
        f"{prefix}_bidir": bidir, f"{prefix}_act": act, f"{prefix}_orthinit": "True",
    }})
    return cp["arch"]


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_pytorch_kaldi_baselines_match_closed_form(cell: str, fused: bool) -> None:
    baselines = pytest.importorskip("pytorch_kaldi_snn.pytorch_kaldi.baselines")
    cls = baselines.LSTM if cell == "lstm" else baselines.GRU
    bn = "False,False" if fused else "True,True"
    act = "tanh,tanh" if fused else "relu,relu"
    net = cls(_section(cell, bn, act), 5).eval()
    x = torch.randn(7, 3, 5)
    x[2] = 0.0
    with count_ops(net) as counter:
        y = net(x)
    l0, l1 = counter.records()
    n = 21
    if cell == "lstm":
        closed0, closed1 = _lstm_closed(5, 8), _lstm_closed(8, 6)
    else:
        per = 3 if fused else 2  # torch.nn.GRU form vs PyTorch-Kaldi form
        closed0, closed1 = _gru_closed(5, 8, per), _gru_closed(8, 6, per)
    assert (l0.mults, l0.adds) == (closed0[0] * n, closed0[1] * n)
    assert (l1.mults, l1.adds) == (closed1[0] * n, closed1[1] * n)
    assert l0.in_events == int((x != 0).sum())
    assert l1.out_events == int((y != 0).sum())
    if not fused:  # the tap on layer 2's input sees layer 1's output
        assert l0.observed_out and l0.out_slots == n * 8
        assert l1.in_events == l0.out_events


def test_mlp_head_is_dense() -> None:
    net = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3))
    x = torch.zeros(10, 6)
    x[:, 0] = 1.0
    with count_ops(net) as counter:
        net(x)
    a, b = counter.records()
    assert (a.mults, a.adds, b.mults) == (10 * 24, 10 * 24, 10 * 12)
    assert a.in_events == 10 and a.role == "head"


class _Spike(nn.Module):
    n_bits = 6


class _FakeSpikingLayer(nn.Module):
    """Has the attributes of docs/internals.md's SpikingLayer; emits a fixed output."""

    def __init__(self, kind: str, y: torch.Tensor, alpha, beta) -> None:
        super().__init__()
        g = 1 if kind == "traditional" else 2
        self.kind, self.input_size, self.hidden_size = kind, 3, 2
        self.w_in = nn.Linear(3, g * 2, bias=False)
        self.bn = None
        self.w_rec = nn.Linear(2, 4, bias=False) if kind == "v2" else None
        self.spike = _Spike()
        self.register_buffer("alpha", torch.tensor(alpha))
        self.register_buffer("beta", torch.tensor(beta))
        self.y = y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.w_in(x)
        return self.y


X = torch.tensor([[[1.0, 0, 0]], [[0, 0, 0]], [[2.0, 3.0, 0]]])  # [T=3, B=1, F=3]
Y = torch.tensor([[[0, 1.0]], [[1.0, 1.0]], [[0, 0]]])  # [T=3, B=1, H=2]


def test_v2_hand_computed() -> None:
    # input: 3 events x (2 gates x 2 neurons) = 12 MACs; recurrent: y[0], y[1] hold
    # 3 events x 4 = 12 MACs; element-wise per frame: F*I, (1-F)*C and the quantiser
    # scale for 2 neurons = 6 mults, 4 adds per neuron = 8 adds, 3 nonlin x 2 = 6.
    layer = _FakeSpikingLayer("v2", Y, [1.0, 1.0], [1.0, 1.0])
    with count_ops(layer) as counter:
        layer(X)
    (rec,) = counter.records()
    assert (rec.mults_input, rec.mults_recurrent, rec.mults_elementwise) == (12, 12, 18)
    assert (rec.adds_input, rec.adds_recurrent, rec.adds_elementwise) == (12, 12, 24)
    assert rec.nonlin == 18 and rec.rec_events == 3
    assert (rec.in_events, rec.out_events, rec.frames) == (3, 3, 3)
    assert rec.zero_output_fraction() == pytest.approx(0.5)
    assert not any(m._forward_hooks for m in layer.modules())


def test_traditional_hand_computed_and_decays_of_one_are_free() -> None:
    # input 3 events x 2 neurons = 6 MACs; per frame: beta*I for 2 neurons, alpha*V
    # for the one neuron with alpha != 1, 2 quantiser scales = 5 mults; 2 adds/neuron.
    layer = _FakeSpikingLayer("traditional", Y, [1.0, 0.5], [0.9, 0.9])
    with count_ops(layer) as counter:
        layer(X)
    (rec,) = counter.records()
    assert (rec.mults, rec.adds, rec.nonlin) == (6 + 15, 6 + 12, 6)
    assert rec.mults_recurrent == 0


def test_summary_ratios_and_merge() -> None:
    net = nn.LSTM(40, 550, num_layers=2)
    with count_ops(net) as counter:
        net(torch.randn(3, 1, 40))
    s = summarize(counter.records(), "lstm")
    assert s["table1"]["mults_vs_lstm"] == pytest.approx(1.0)
    gru = costs.stack_cost([(40, 550), (550, 550)], "gru").mults
    lstm = costs.stack_cost([(40, 550), (550, 550)], "lstm").mults
    assert s["table1"]["mults_vs_gru"] == pytest.approx(lstm / gru)
    twice = merge_records([records_from_summary(s), records_from_summary(s)])
    assert twice[0].frames == 6 and twice[0].mults == 2 * counter.records()[0].mults
    assert summarize(twice)["table1"]["mults_per_frame"] == pytest.approx(lstm)


def test_counter_adds_no_state() -> None:
    net = nn.GRU(4, 3)
    keys = set(net.state_dict())
    with count_ops(net):
        assert set(net.state_dict()) == keys


def test_frame_mask_skips_padding() -> None:
    # frame 2 is padding: frames 0-1 hold 1 input event and 3 output events; the
    # recurrent input of frame 1 is y[0] (1 event); y[1] would feed the padded frame.
    layer = _FakeSpikingLayer("v2", Y, [1.0, 1.0], [1.0, 1.0])
    counter = count_ops(layer)
    counter.set_frame_mask(torch.tensor([[True], [True], [False]]))
    layer(X)
    counter.detach()
    (rec,) = counter.records()
    assert (rec.frames, rec.in_events, rec.out_events, rec.rec_events) == (2, 1, 3, 1)
    assert rec.mults_input == 1 * 4 and rec.mults_recurrent == 1 * 4
    assert rec.mults_elementwise == 2 * 6 and rec.out_slots == 4
