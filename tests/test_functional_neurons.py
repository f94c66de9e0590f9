"""Hand-computed traces of the neuron step functions and gradchecks."""

from __future__ import annotations

import torch

from pytorch_kaldi_snn.functional import neurons
from pytorch_kaldi_snn.functional.neurons import NeuronState


def _zeros(n=1):
    z = torch.zeros(1, n)
    return NeuronState(z, z, z)


def _binary(v):  # a simple threshold-at-1 spike emitting 1
    return (v > 1).to(v.dtype)


def test_traditional_trace_by_hand():
    beta, alpha = torch.tensor(0.5), torch.tensor(0.9)
    s = _zeros()
    trace = []
    for x in (1.0, 1.0, 0.0, 2.0):
        y, s = neurons.traditional_step(torch.tensor([[x]]), s, beta, alpha, _binary)
        trace.append((round(s.i.item(), 6), round(s.v.item(), 6), y.item()))
    # I: 1, 1.5, 0.75, 2.375
    # V: 1, 0.9*1+1.5-0 = 2.4 (spike), 0.9*2.4+0.75-1 = 1.91 (spike),
    #    0.9*1.91+2.375-1 = 3.094 (spike)
    assert trace == [
        (1.0, 1.0, 0.0),
        (1.5, 2.4, 1.0),
        (0.75, 1.91, 1.0),
        (2.375, 3.094, 1.0),
    ]


def test_v1_trace_by_hand():
    alpha = torch.tensor(1.0)
    s = _zeros()
    f_pre = torch.tensor([[0.0]])  # sigmoid(0) = 0.5
    out = []
    for c in (2.0, -1.0, 4.0):
        y, s = neurons.improved_v1_step(f_pre, torch.tensor([[c]]), s, alpha, _binary)
        out.append((s.i.item(), s.v.item(), y.item()))
    # I: 0.5*0+0.5*2 = 1; 0.5*1+0.5*relu(-1)=0.5; 0.5*0.5+0.5*4=2.25
    # V: 1 (no spike); 1+0.5 = 1.5 (spike); 1.5+2.25-1 = 2.75 (spike)
    assert out == [(1.0, 1.0, 0.0), (0.5, 1.5, 1.0), (2.25, 2.75, 1.0)]


def test_v2_recurrent_input_enters_the_gates():
    alpha = torch.tensor(1.0)
    # last output 1 on a single neuron; w_rec [H, 2H] = [[w_f, w_c]]
    s = NeuronState(torch.zeros(1, 1), torch.zeros(1, 1), torch.ones(1, 1))
    w_rec = torch.tensor([[100.0, 3.0]])  # forget gate saturates to 1 -> I keeps 0
    _y, s2 = neurons.improved_v2_step(
        torch.zeros(1, 1), torch.zeros(1, 1), s, w_rec, alpha, _binary
    )
    assert abs(s2.i.item()) < 1e-6
    w_rec = torch.tensor([[-100.0, 3.0]])  # forget gate 0 -> I = relu(0 + 3) = 3
    _y, s3 = neurons.improved_v2_step(
        torch.zeros(1, 1), torch.zeros(1, 1), s, w_rec, alpha, _binary
    )
    assert abs(s3.i.item() - 3.0) < 1e-6
    assert abs(s3.v.item() - (3.0 - 1.0)) < 1e-6  # reset subtracts the last output


def test_gradcheck_continuous_parts():
    torch.manual_seed(0)
    relu = torch.relu
    h = 3
    f = torch.randn(2, h, dtype=torch.float64, requires_grad=True)
    c = torch.randn(2, h, dtype=torch.float64, requires_grad=True)
    w = torch.randn(h, 2 * h, dtype=torch.float64, requires_grad=True)
    i0 = torch.randn(2, h, dtype=torch.float64, requires_grad=True)
    y0 = torch.rand(2, h, dtype=torch.float64)
    alpha = torch.tensor(0.9, dtype=torch.float64)

    def v2(f, c, w, i0):
        s = NeuronState(i0, torch.zeros_like(i0), y0)
        _y, s = neurons.improved_v2_step(f, c, s, w, alpha, relu)
        return s.i, s.v

    assert torch.autograd.gradcheck(v2, (f, c, w, i0))

    def trad(x, i0):
        s = NeuronState(i0, torch.zeros_like(i0), y0)
        _y, s = neurons.traditional_step(
            x, s, torch.tensor(0.7, dtype=torch.float64), alpha, relu
        )
        return s.i, s.v

    assert torch.autograd.gradcheck(trad, (f, i0))


def test_run_sequence_tracks_the_membrane_maximum():
    xw = torch.tensor([[[1.0]], [[2.0]], [[-5.0]]])
    y, _s, vmax = neurons.run_sequence(
        neurons.traditional_step,
        (xw,),
        _zeros(),
        torch.tensor(0.0),
        torch.tensor(1.0),
        torch.relu,
        track_max=True,
    )
    # relu spikes reset fully: V = I each frame -> max is 2
    assert y.shape == (3, 1, 1) and vmax.item() == 2.0


def test_v2_trace_by_hand_with_multibit_spikes():
    from pytorch_kaldi_snn.functional.spike import multibit_spike

    # 2 bits, b = 4: step 1, levels 0..3, gamma = k * step = 1
    def spike(v):
        return multibit_spike(v, torch.tensor(4.0), 2, 1)

    alpha = torch.tensor(1.0)
    w_rec = torch.tensor([[0.0, 2.0]])  # candidate sees 2 * Y[n-1]; forget gate 0.5
    s = _zeros()
    out = []
    for c in (3.0, 0.5, -6.0, 10.0):
        y, s = neurons.improved_v2_step(
            torch.zeros(1, 1), torch.tensor([[c]]), s, w_rec, alpha, spike
        )
        out.append((s.i.item(), s.v.item(), y.item()))
    # C: 3, relu(0.5+2)=2.5, relu(-6+4)=0, relu(10+2)=12
    # I: 1.5, 0.75+1.25=2, 1, 0.5+6=6.5
    # V: 1.5, 1.5+2-1=2.5, 2.5+1-2=1.5, 1.5+6.5-1=7 (clamped to level 3)
    assert out == [(1.5, 1.5, 1.0), (2.0, 2.5, 2.0), (1.0, 1.5, 1.0), (6.5, 7.0, 3.0)]
