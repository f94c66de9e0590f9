"""Spiking recurrent layers: traditional LIF, improved v1 and v2 (reference code).

The loop below is the readable ground truth: input projections (and batch norm) for all
frames in one matmul, then the step functions of :mod:`pytorch_kaldi_snn.functional.
neurons` frame by frame. Fast paths (``nn/fast_*.py``) are tested against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Callable

import torch
from torch import Tensor, nn

from pytorch_kaldi_snn.errors import ConfigError, DataError
from pytorch_kaldi_snn.functional import neurons
from pytorch_kaldi_snn.functional.neurons import NeuronState
from pytorch_kaldi_snn.nn.spike import MultiBitSpike

KINDS = ("traditional", "v1", "v2")

# Optional accelerated implementations: callables (layer, x) -> Tensor or None.
FAST_PATHS: list[Callable[[SpikingLayer, Tensor], Tensor | None]] = []


class SpikingLayer(nn.Module):
    """One unidirectional layer of spiking neurons, ``[T, B, F]`` -> ``[T, B, H]``.

    Args:
        input_size: F.
        hidden_size: H, the number of neurons.
        kind: "traditional" (Eq. 7-9), "v1" (Eq. 16-18) or "v2" (Eq. 19-21).
        spike: the activation module (default :class:`MultiBitSpike`).
        use_batchnorm: batch norm on the weighted sums X W over all T*B rows.
        dropout: recurrent dropout rate, one mask per sequence, on C[n] (v1/v2) or on
            the input current X W (traditional).
        alpha: membrane decay; beta: synaptic decay (traditional only).
        learn_decay: make alpha (and, for traditional, beta) trainable per neuron;
            v1/v2 keep beta as an unused buffer so every parameter gets a gradient.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        kind: str,
        spike: nn.Module | None = None,
        *,
        use_batchnorm: bool = True,
        dropout: float = 0.0,
        alpha: float = 1.0,
        beta: float = 0.9,
        learn_decay: bool = False,
    ) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ConfigError(
                "unknown neuron kind", key="kind", value=kind, allowed=", ".join(KINDS)
            )
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(
                "dropout out of range",
                key="dropout",
                value=str(dropout),
                allowed="[0, 1)",
            )
        self.kind = kind
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.dropout = float(dropout)
        gates = 1 if kind == "traditional" else 2
        h = self.hidden_size
        self.w_in = nn.Linear(input_size, gates * h, bias=not use_batchnorm)
        with torch.no_grad():  # Glorot per gate matrix W_fi, W_ci: sqrt(6 / (F + H))
            for block in self.w_in.weight.split(h, dim=0):
                nn.init.xavier_uniform_(block)
        if self.w_in.bias is not None:
            nn.init.zeros_(self.w_in.bias)
        self.bn = nn.BatchNorm1d(gates * h) if use_batchnorm else None
        self.w_rec = None
        if kind == "v2":
            self.w_rec = nn.Linear(h, 2 * h, bias=False)
            with torch.no_grad():
                for block in self.w_rec.weight.split(h, dim=0):
                    nn.init.orthogonal_(block)
        self.spike = spike if spike is not None else MultiBitSpike()
        decay = {"alpha": alpha, "beta": beta}
        for name, value in decay.items():
            tensor = torch.full((h,), float(value))
            # beta only drives the traditional neuron: never an unused parameter
            if learn_decay and (name == "alpha" or kind == "traditional"):
                setattr(self, name, nn.Parameter(tensor))
            else:
                self.register_buffer(name, tensor)

    def projections(self, x: Tensor) -> Tensor:
        """X W for all frames at once (+ batch norm over the T*B rows)."""
        t, b, _ = x.shape
        pre = self.w_in(x)
        if self.bn is not None:
            pre = self.bn(pre.reshape(t * b, -1)).reshape(t, b, -1)
        return pre

    def dropout_mask(self, batch: int, like: Tensor) -> Tensor | None:
        """One Bernoulli mask per sequence ``[B, H]`` (inverted scaling), train only."""
        if not self.training or self.dropout == 0.0:
            return None
        keep = 1.0 - self.dropout
        return like.new_empty(batch, self.hidden_size).bernoulli_(keep) / keep

    def decays(self) -> tuple[Tensor, Tensor]:
        return self.alpha.clamp(0.0, 1.0), self.beta.clamp(0.0, 1.0)

    def run(
        self,
        x: Tensor,
        state: NeuronState | None = None,
        mask: Tensor | None = None,
    ) -> tuple[Tensor, NeuronState]:
        """Reference forward pass returning ``(y [T, B, H], final state)``."""
        self._check_input(x)
        _t, b, _ = x.shape
        pre = self.projections(x)
        if mask is None:
            mask = self.dropout_mask(b, pre)
        if state is None:
            state = neurons.zero_state(b, self.hidden_size, pre)
        alpha, beta = self.decays()
        track = self.training
        if self.kind == "traditional":
            if mask is not None:
                pre = pre * mask
            y, state, v_max = neurons.run_sequence(
                neurons.traditional_step,
                (pre,),
                state,
                beta,
                alpha,
                self.spike,
                track_max=track,
            )
        elif self.kind == "v1":
            f_pre, c_pre = pre.chunk(2, dim=-1)
            y, state, v_max = neurons.run_sequence(
                neurons.improved_v1_step,
                (f_pre, c_pre),
                state,
                alpha,
                self.spike,
                mask=mask,
                track_max=track,
            )
        else:
            f_pre, c_pre = pre.chunk(2, dim=-1)
            y, state, v_max = neurons.run_sequence(
                neurons.improved_v2_step,
                (f_pre, c_pre),
                state,
                self.w_rec.weight.t(),
                alpha,
                self.spike,
                mask=mask,
                track_max=track,
            )
        self.spike.observe(v_max)
        return y, state

    def forward(self, x: Tensor) -> Tensor:
        for fast in FAST_PATHS:
            out = fast(self, x)
            if out is not None:
                return out
        return self.run(x)[0]

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise DataError(
                f"{self.kind} spiking layer expects input [T, B, {self.input_size}], "
                f"got {list(x.shape)}"
            )

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, kind={self.kind}, "
            f"dropout={self.dropout}"
        )


class SNNStack(nn.Module):
    """Stacked spiking layers with an optional sigma-delta input encoder.

    ``make_spike()`` builds one activation module per layer (each tracks its own range);
    ``layer_cls`` (default :class:`SpikingLayer`) builds each layer.
    """

    def __init__(
        self,
        input_size: int,
        sizes: Sequence[int],
        kind: str,
        make_spike: Callable[[], nn.Module] | None = None,
        *,
        use_batchnorm: Sequence[bool] = (),
        dropout: Sequence[float] = (),
        alpha: float = 1.0,
        beta: float = 0.9,
        learn_decay: bool = False,
        encoder: nn.Module | None = None,
        layer_cls: type[SpikingLayer] | None = None,
    ) -> None:
        super().__init__()
        make_spike = make_spike or MultiBitSpike
        n = len(sizes)
        use_batchnorm = list(use_batchnorm) or [True] * n
        dropout = list(dropout) or [0.0] * n
        self.encoder = encoder
        layers = []
        dims = [int(input_size)] + [int(s) for s in sizes]
        for i in range(n):
            layers.append(
                (layer_cls or SpikingLayer)(
                    dims[i],
                    dims[i + 1],
                    kind,
                    make_spike(),
                    use_batchnorm=use_batchnorm[i],
                    dropout=dropout[i],
                    alpha=alpha,
                    beta=beta,
                    learn_decay=learn_decay,
                )
            )
        self.layers = nn.ModuleList(layers)
        self.input_size = int(input_size)
        self.out_dim = dims[-1]

    def forward(self, x: Tensor) -> Tensor:
        if self.encoder is not None:
            x = self.encoder(x)
        for layer in self.layers:
            x = layer(x)
        return x
