"""Initialisation: the paper's classes (Glorot per gate matrix, orthogonal recurrent
matrices) and the authors' (Kaiming-uniform with sigmoid gain, one orthogonal matrix
with ReLU gain over the stacked [2H, H] recurrent weight, small uniform readout)."""

from __future__ import annotations

import math

import torch

from pytorch_kaldi_snn import pytorch_kaldi as pk

F, H, N_OUT = 40, 300, 50


def _uniform_bound(w: torch.Tensor) -> float:
    """The bound b of U(-b, b) that ``w`` was drawn from (std = b / sqrt(3))."""
    return float(w.detach().std()) * math.sqrt(3)


def test_paper_classes_draw_glorot_per_gate_matrix():
    torch.manual_seed(0)
    net = pk.SNN_v2({"snn_lay": f"{H}"}, F)
    layer = net.snn.layers[0]
    glorot = math.sqrt(6 / (F + H))  # each W_fi, W_ci is [F, H]
    for block in layer.w_in.weight.split(H, dim=0):
        assert block.abs().max() <= glorot
        assert abs(_uniform_bound(block) / glorot - 1) < 0.03
    for block in layer.w_rec.weight.split(H, dim=0):  # each W_fr, W_cr orthogonal
        assert torch.allclose(block.t() @ block, torch.eye(H), atol=1e-4)


def test_authors_init():
    torch.manual_seed(0)
    opts = {
        "hidden_size": str(H),
        "num_layers": "2",
        "use_bn": "True",
        "do_edat": "True",
        "n_bits": "6",
        "threshold": "3",
        "output_size": str(N_OUT),
    }
    net = pk.ImprovedSpikingModelV2(opts, F)
    first, second = net.snn.layers
    # Kaiming uniform, sigmoid gain 1: bound sqrt(3 / fan_in) over the stacked matrix
    for layer, fan_in in ((first, F), (second, H)):
        bound = math.sqrt(3 / fan_in)
        assert layer.w_in.weight.abs().max() <= bound
        assert abs(_uniform_bound(layer.w_in.weight) / bound - 1) < 0.03
        u = layer.w_rec.weight  # [2H, H]: one orthogonal matrix, ReLU gain sqrt(2)
        assert torch.allclose(u.t() @ u, 2 * torch.eye(H), atol=1e-4)
        assert not torch.allclose(u[:H].t() @ u[:H], 2 * torch.eye(H), atol=1e-2)
    bound = math.sqrt(0.01 / (H + N_OUT))
    assert net.readout.weight.abs().max() <= bound
    assert abs(_uniform_bound(net.readout.weight) / bound - 1) < 0.05
    assert net.readout.bias is None


def test_symmetric_spike_loads_the_buffers_of_earlier_versions():
    from pytorch_kaldi_snn.nn import SymmetricSpike

    spike = SymmetricSpike(6, 3, 0.1)
    old = {"ema_min": torch.tensor(-0.19), "ema_max": torch.tensor(0.271),
           "num_updates": torch.tensor(2.0)}
    spike.load_state_dict(old, strict=True)
    assert torch.allclose(spike.max_abs(), torch.tensor([0.271 / 0.19]))
    assert spike.iter_count.item() == 2
    assert torch.allclose(spike.q_scale, torch.tensor([32 * (1 - 1e-4) * 0.19 / 0.271]))
