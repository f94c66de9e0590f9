r"""Sigma-delta encoding of the input features (the authors' input scheme).

An accumulator integrates the features and emits quantised events; what was emitted is
subtracted, so the residual carries to the next frame:

.. math::  U[n] = U[n-1] + X[n] - E[n-1], \qquad E[n] = Q(U[n])

With a fine quantiser the event stream tracks X[n]; with a coarse one most entries are
zero, which is what an event-driven first layer exploits.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class SigmaDeltaEncoder(nn.Module):
    """Quantise ``x [T, B, F]`` into sparse events with the same shape."""

    def __init__(self, spike: nn.Module) -> None:
        super().__init__()
        self.spike = spike

    def forward(self, x: Tensor) -> Tensor:
        u = x.new_zeros(x.shape[1:])
        e = torch.zeros_like(u)
        outs = []
        for x_t in x.unbind(0):
            u = u + x_t - e
            e = self.spike(u)
            outs.append(e)
        return torch.stack(outs)
