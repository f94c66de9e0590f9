"""Spike activation modules: the quantisers plus the ranges they track (buffers)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pytorch_kaldi_snn.errors import ConfigError
from pytorch_kaldi_snn.functional.spike import multibit_spike, symmetric_spike


class MultiBitSpike(nn.Module):
    r"""Paper's multi-bit spike (Eq. 22) with an EMA-tracked range ``b``.

    ``b`` lives in the buffer ``range`` so it survives PyTorch-Kaldi's per-chunk rebuild
    and strict reload. In training, layers call :meth:`observe` once per sequence with
    the largest membrane potential of that sequence:
    :math:`b \leftarrow (1 - m) b + m \max V`. In eval ``b`` is frozen. Within a
    sequence ``b`` is constant, so a sequence's output is a pure function of its input
    (the authors update the range at every frame; see docs/DESIGN.md).

    Args:
        n_bits: output bits N (1..16) or None for full precision.
        k: integer threshold multiple, gamma = k * b / 2^N, 0 <= k < 2^N.
        momentum: EMA weight of the newest batch maximum, in [0, 1].
        init_range: initial b.
    """

    def __init__(
        self,
        n_bits: int | None = 6,
        k: int = 4,
        momentum: float = 0.1,
        init_range: float = 1.0,
    ) -> None:
        super().__init__()
        if n_bits is not None and not 1 <= int(n_bits) <= 16:
            raise ConfigError(
                "bits out of range",
                key="n_bits",
                value=str(n_bits),
                allowed="1..16, or None for full precision",
            )
        if n_bits is not None and not 0 <= int(k) < 2**n_bits:
            raise ConfigError(
                "threshold above the range",
                key="k",
                value=str(k),
                allowed=f"an integer in [0, {2**n_bits - 1}] for {n_bits} bits",
            )
        if not 0.0 <= momentum <= 1.0:
            raise ConfigError(
                "momentum out of range",
                key="momentum",
                value=str(momentum),
                allowed="[0, 1]",
            )
        if not init_range > 0:
            raise ConfigError(
                "initial range must be positive",
                key="init_range",
                value=str(init_range),
                allowed="> 0",
            )
        self.n_bits = None if n_bits is None else int(n_bits)
        self.k = int(k)
        self.momentum = float(momentum)
        self.register_buffer("range", torch.tensor(float(init_range)))

    def threshold(self) -> Tensor:
        """gamma = k * b / 2^N (0 for full precision)."""
        if self.n_bits is None:
            return torch.zeros_like(self.range)
        return self.range * self.k / 2**self.n_bits

    def forward(self, v: Tensor) -> Tensor:
        return multibit_spike(v, self.range.to(v.dtype), self.n_bits, self.k)

    @torch.no_grad()
    def observe(self, v_max: Tensor | None) -> None:
        """EMA update of b from a sequence's largest membrane potential (training)."""
        if not self.training or v_max is None or self.n_bits is None:
            return
        v_max = v_max.detach().to(self.range.dtype).clamp(min=1e-6)
        # Rebinding (not in-place) keeps the old b intact for the pending backward pass.
        self.range = (1 - self.momentum) * self.range + self.momentum * v_max

    def extra_repr(self) -> str:
        bits = "full" if self.n_bits is None else self.n_bits
        return f"n_bits={bits}, k={self.k}, momentum={self.momentum}"


class SymmetricSpike(nn.Module):
    """The authors' signed quantiser with a bias-corrected EMA of the min and max.

    Updated at every call in training (the authors' scheme): ``ema <- (1-m) ema + m x``,
    corrected by ``1 - (1-m)^t``. The scale is ``max(|min|, |max|)``.
    """

    def __init__(
        self, n_bits: int = 6, threshold: float = 3, momentum: float = 0.1
    ) -> None:
        super().__init__()
        if not 2 <= int(n_bits) <= 32:
            raise ConfigError(
                "bits out of range",
                key="n_bits",
                value=str(n_bits),
                allowed="2..32 for the signed quantiser "
                "(32: the authors' full precision)",
            )
        if not 0 <= threshold < 2 ** (n_bits - 1):
            raise ConfigError(
                "threshold above the range",
                key="threshold",
                value=str(threshold),
                allowed=f"[0, {2 ** (n_bits - 1) - 1}] levels for {n_bits} bits",
            )
        self.n_bits = int(n_bits)
        self.threshold = float(threshold)
        self.momentum = float(momentum)
        self.register_buffer("ema_min", torch.zeros(()))
        self.register_buffer("ema_max", torch.zeros(()))
        self.register_buffer("num_updates", torch.zeros(()))

    def scale(self) -> Tensor:
        t = self.num_updates.clamp(min=1)
        corr = 1 - (1 - self.momentum) ** t
        s = torch.maximum(self.ema_min.abs(), self.ema_max.abs()) / corr
        return torch.where(self.num_updates > 0, s, torch.ones_like(s)).clamp(min=1e-6)

    def forward(self, v: Tensor) -> Tensor:
        if self.training:
            with torch.no_grad():
                m = self.momentum
                self.ema_min = (1 - m) * self.ema_min + m * v.detach().amin().to(
                    self.ema_min
                )
                self.ema_max = (1 - m) * self.ema_max + m * v.detach().amax().to(
                    self.ema_max
                )
                self.num_updates = self.num_updates + 1
        return symmetric_spike(v, self.scale().to(v.dtype), self.n_bits, self.threshold)

    def observe(self, v_max: Tensor | None) -> None:
        """No-op: this quantiser updates at every call."""

    def extra_repr(self) -> str:
        return (
            f"n_bits={self.n_bits}, threshold={self.threshold}, "
            f"momentum={self.momentum}"
        )
