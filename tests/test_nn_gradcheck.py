"""gradcheck (float64) of whole spiking layers on their continuous (full-precision)
path.

With ``n_bits=None`` the spike is relu, so every operation of the sequence is
differentiable almost everywhere and autograd must agree with finite differences
through several frames, batch norm, the recurrence and the learnable decays.
"""

from __future__ import annotations

import pytest
import torch

from pytorch_kaldi_snn.nn import MultiBitSpike, SpikingLayer


@pytest.mark.parametrize("kind", ["traditional", "v1", "v2"])
def test_layer_sequence_gradcheck(kind):
    torch.manual_seed(0)
    layer = (
        SpikingLayer(
            3,
            4,
            kind,
            MultiBitSpike(None),
            use_batchnorm=True,
            alpha=0.9,
            beta=0.7,
            learn_decay=True,
        )
        .double()
        .train()
    )
    x = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    params = list(layer.parameters())
    assert all(p.requires_grad for p in params)

    def fn(x):
        return layer.run(x)[0]

    assert torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-5)
    # parameter gradients (weights, batch norm, decays) against finite differences
    y = layer.run(x)[0]
    g = torch.randn_like(y)
    grads = torch.autograd.grad(y, params, g)
    for p, gp in zip(params, grads):
        flat = p.detach().view(-1)
        for idx in range(0, flat.numel(), max(1, flat.numel() // 3)):
            old = flat[idx].item()
            with torch.no_grad():
                flat[idx] = old + 1e-6
                up = (layer.run(x)[0] * g).sum()
                flat[idx] = old - 1e-6
                down = (layer.run(x)[0] * g).sum()
                flat[idx] = old
            num = (up - down) / 2e-6
            assert abs(num.item() - gp.view(-1)[idx].item()) < 1e-4 * (1 + abs(num))


def test_every_parameter_is_used():
    for kind in ("traditional", "v1", "v2"):
        layer = SpikingLayer(3, 4, kind, MultiBitSpike(None), learn_decay=True)
        layer.run(torch.randn(4, 2, 3))[0].sum().backward()
        missing = [n for n, p in layer.named_parameters() if p.grad is None]
        assert not missing, (kind, missing)
