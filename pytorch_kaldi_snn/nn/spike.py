"""Spike activation modules: the quantisers plus the ranges they track (buffers)."""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn

from pytorch_kaldi_snn.errors import ConfigError
from pytorch_kaldi_snn.functional.spike import (
    multibit_spike,
    symmetric_scale,
    symmetric_spike,
)


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


_ONE_BIT_WARNED = False
ONE_BIT_WARNING = (
    "n_bits=1: the authors' signed quantiser has 2^(N-1) - 1 = 0 levels per sign "
    "(trunc(V * (1 - 1e-4) / max|V|) = 0 for every V), so every spike and every "
    "sigma-delta input event is 0 and the output depends on the readout's batch norm "
    "only. This reproduces the authors' code (their 1-bit runs); use n_bits >= 2 for "
    "a model that learns."
)


def _warn_one_bit() -> None:
    global _ONE_BIT_WARNED
    if not _ONE_BIT_WARNED:
        _ONE_BIT_WARNED = True
        warnings.warn(ONE_BIT_WARNING, UserWarning, stacklevel=3)


class SymmetricSpike(nn.Module):
    r"""The authors' signed quantiser (:func:`~pytorch_kaldi_snn.functional.spike.
    symmetric_spike`) with its bias-corrected EMA of the min and the max.

    In training every call first updates, with :math:`t` the call count and
    :math:`m` the momentum (a buffer, as theirs, so it follows ``.double()``),

    .. math::

        \tilde a_t = (1 - m) \tilde a_{t-1} + m \min V, \quad
        a_t = \tilde a_t / (1 - (1 - m)^t) \quad \text{(the same for the max } b_t)

    then quantises with the range :math:`\max(|a_t|, |b_t|)` and stores the scale it
    used; eval uses the stored scale and the last range. Before any training call the
    range is 0, so every output is 0 (as in their code).
    """

    def __init__(
        self, n_bits: int = 6, threshold: float = 3, momentum: float = 0.1
    ) -> None:
        super().__init__()
        if not 1 <= int(n_bits) <= 32:
            raise ConfigError(
                "bits out of range",
                key="n_bits",
                value=str(n_bits),
                allowed="1..32 for the signed quantiser "
                "(32: the authors' full precision; 1: every output is 0)",
            )
        if not 0 <= threshold < max(1, 2 ** (n_bits - 1)):
            raise ConfigError(
                "threshold above the range",
                key="threshold",
                value=str(threshold),
                allowed=f"[0, {max(0, 2 ** (n_bits - 1) - 1)}] levels for "
                f"{n_bits} bits",
            )
        self.n_bits = int(n_bits)
        self.threshold = float(threshold)
        self.momentum = float(momentum)
        if self.n_bits == 1:
            _warn_one_bit()
        self.register_buffer("ema_momentum", torch.tensor(self.momentum))
        for name in ("min_biased", "min_tracked", "max_biased", "max_tracked",
                     "iter_count"):
            self.register_buffer(name, torch.zeros(1))
        self.register_buffer("q_scale", torch.ones(1))
        self._register_load_state_dict_pre_hook(self._old_keys)

    def _old_keys(self, state_dict, prefix, *args) -> None:
        """Checkpoints of earlier versions (``ema_min``, ``ema_max``, ``num_updates``:
        the biased EMAs and the call count) load into the buffers above."""
        if prefix + "ema_min" not in state_dict:
            return
        t = state_dict.pop(prefix + "num_updates").reshape(1).to(self.iter_count)
        corr = torch.where(t > 0, 1 - (1 - self.momentum) ** t, torch.ones_like(t))
        for side in ("min", "max"):
            biased = state_dict.pop(f"{prefix}ema_{side}").reshape(1).to(t)
            state_dict[f"{prefix}{side}_biased"] = biased
            state_dict[f"{prefix}{side}_tracked"] = biased / corr
        state_dict[prefix + "iter_count"] = t
        state_dict[prefix + "ema_momentum"] = self.ema_momentum.clone()
        m = torch.maximum(state_dict[prefix + "min_tracked"].abs(),
                          state_dict[prefix + "max_tracked"].abs())
        state_dict[prefix + "q_scale"] = symmetric_scale(m, self.n_bits)

    def max_abs(self) -> Tensor:
        """The range m = max(|tracked min|, |tracked max|) (0 before training)."""
        return torch.maximum(self.min_tracked.abs(), self.max_tracked.abs())

    @torch.no_grad()
    def _update(self, v: Tensor) -> None:
        m = self.ema_momentum
        self.iter_count += 1
        corr = 1 - (1 - m) ** self.iter_count
        for side, value in (("min", v.min()), ("max", v.max())):
            biased = getattr(self, f"{side}_biased") * (1 - m) + m * value
            getattr(self, f"{side}_biased").copy_(biased)
            getattr(self, f"{side}_tracked").copy_(biased / corr)
        self.q_scale.copy_(symmetric_scale(self.max_abs(), self.n_bits))

    def forward(self, v: Tensor) -> Tensor:
        if self.training:
            self._update(v.detach())
        return symmetric_spike(
            v, self.max_abs(), self.n_bits, self.threshold, self.q_scale
        )

    def observe(self, v_max: Tensor | None) -> None:
        """No-op: this quantiser updates at every call."""

    def extra_repr(self) -> str:
        return (
            f"n_bits={self.n_bits}, threshold={self.threshold}, "
            f"momentum={self.momentum}"
        )


def spike_ranges(module: nn.Module) -> dict[str, float]:
    """The tracked range of every quantiser under ``module``, by the quantiser's
    name: ``b`` of :class:`MultiBitSpike` (Eq. 22), ``max|V|`` of
    :class:`SymmetricSpike`; full-precision quantisers are left out.

    At 1-2 bits on the demo ``b`` of SNN v2 can run away (docs/benchmark.md, "Why 1-2
    bits do not learn here"): the runner logs these values after every chunk.

    >>> stack = nn.ModuleDict({"a": MultiBitSpike(2, k=0, init_range=3.0),
    ...                        "full": MultiBitSpike(None)})
    >>> spike_ranges(stack)
    {'a': 3.0}
    """
    out = {}
    for name, m in module.named_modules():
        if isinstance(m, MultiBitSpike) and m.n_bits is not None:
            out[name] = float(m.range)
        elif isinstance(m, SymmetricSpike):
            out[name] = float(m.max_abs())
    return out
