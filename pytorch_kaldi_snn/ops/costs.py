"""Per-frame operation costs: the counting convention in closed form.

Everything here is a pure function of layer sizes (and, for spiking layers, of the
number of non-zero events), so the counter in :mod:`pytorch_kaldi_snn.ops.counter` and
the documentation (docs/ops-counting.md) share one definition.

Convention (one *frame* = one time step of one sequence):

* A synaptic product ``x_j * W_jk`` accumulated into a neuron costs one multiplication
  and one addition (a multiply-accumulate). The accumulator of a freshly computed
  pre-activation starts at its bias, so a bias is free; batch norm at inference is an
  affine map folded into the weights and that bias.
* Event-driven layers (the spiking ones) only pay for non-zero inputs: a layer with G
  weight blocks of H neurons pays ``nnz(x_t) * G * H`` MACs for its input, and the v2
  layer ``nnz(y_{t-1}) * 2H`` for its recurrent input.
* Dense layers (LSTM, GRU, Linear) pay for every input, zero or not.
* Element-wise work per neuron and frame is counted as the equations are written (no
  algebraic rewriting), multiplications by a constant 1 are skipped, and nonlinearities
  (sigmoid, tanh, relu, the spike quantiser's rounding/compare) are counted separately
  as ``nonlin``. Dropout at inference is an identity (inverted dropout).

Dense LSTM layer (input F, hidden H)::

    mults = 4H(F + H) + 3H      (f*c, i*g, o*tanh(c))
    adds  = 4H(F + H) + H       (f*c + i*g)
    nonlin = 5H                 (3 sigmoid, 2 tanh)

Dense GRU layer, PyTorch-Kaldi form ``h = z*h + (1-z)*act(x W + (r*h) U)``::

    mults = 3H(F + H) + 3H      (r*h, z*h, (1-z)*h~)
    adds  = 3H(F + H) + 2H      (1-z, the final sum)
    nonlin = 3H

torch.nn.GRU form ``n = tanh(x W_n + r*(h U_n + b_hn))`` adds one more addition per
neuron (input and gated recurrent parts are two accumulators): ``adds = 3H(F+H) + 3H``.

>>> lstm_layer_cost(40, 550).mults == 4 * 550 * 590 + 3 * 550
True
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Cost:
    """Operation counts of one layer for one frame (or summed over frames)."""

    mults: int
    adds: int
    nonlin: int

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.mults + other.mults, self.adds + other.adds, self.nonlin + other.nonlin
        )

    def scale(self, k: int) -> Cost:
        """The cost ``k`` times (``k`` frames or directions)."""
        return Cost(self.mults * k, self.adds * k, self.nonlin * k)


ZERO = Cost(0, 0, 0)
GRU_VARIANTS = ("pytorch-kaldi", "torch")


def lstm_layer_parts(
    input_size: int, hidden_size: int, proj_size: int = 0
) -> dict[str, Cost]:
    """Dense per-frame cost of one LSTM direction, split into input / recurrent /
    element-wise parts; ``proj_size`` as in torch.nn.LSTM.

    With a projection ``h = W_hr (o * tanh(c))`` of size P the recurrent input is P wide
    and the projection adds ``P*H`` MACs: mults = 4H(F + P) + P H + 3H.
    """
    h = hidden_size
    r = proj_size or hidden_size
    mac_in = 4 * h * input_size
    mac_rec = 4 * h * r + (proj_size * h if proj_size else 0)
    return {
        "input": Cost(mac_in, mac_in, 0),
        "recurrent": Cost(mac_rec, mac_rec, 0),
        "elementwise": Cost(3 * h, h, 5 * h),
    }


def gru_layer_parts(
    input_size: int, hidden_size: int, variant: str = "pytorch-kaldi"
) -> dict[str, Cost]:
    """Dense per-frame cost of one GRU direction (``variant``: pytorch-kaldi or torch),
    split into input / recurrent / element-wise parts."""
    if variant not in GRU_VARIANTS:
        raise ValueError(f"unknown GRU variant {variant!r}; allowed: {GRU_VARIANTS}")
    h = hidden_size
    mac_in = 3 * h * input_size
    mac_rec = 3 * h * h
    return {
        "input": Cost(mac_in, mac_in, 0),
        "recurrent": Cost(mac_rec, mac_rec, 0),
        "elementwise": Cost(3 * h, 3 * h if variant == "torch" else 2 * h, 3 * h),
    }


def total(parts: dict[str, Cost]) -> Cost:
    """The sum of a parts dictionary."""
    out = ZERO
    for c in parts.values():
        out = out + c
    return out


def lstm_layer_cost(input_size: int, hidden_size: int, proj_size: int = 0) -> Cost:
    """Dense per-frame cost of one LSTM direction (sum of :func:`lstm_layer_parts`)."""
    return total(lstm_layer_parts(input_size, hidden_size, proj_size))


def gru_layer_cost(
    input_size: int, hidden_size: int, variant: str = "pytorch-kaldi"
) -> Cost:
    """Dense per-frame cost of one GRU direction (sum of :func:`gru_layer_parts`)."""
    return total(gru_layer_parts(input_size, hidden_size, variant))


def linear_cost(in_features: int, out_features: int) -> Cost:
    """Dense per-frame cost of a Linear layer: ``in*out`` MACs (bias free)."""
    macs = in_features * out_features
    return Cost(macs, macs, 0)


def stack_cost(sizes: Iterable[tuple[int, int]], cell: str = "lstm") -> Cost:
    """Dense per-frame cost of a unidirectional stack of ``(input, hidden)`` layers.

    >>> stack_cost([(40, 550), (550, 550)], "gru").mults
    2791800
    """
    total = ZERO
    for f, h in sizes:
        layer = lstm_layer_cost(f, h) if cell == "lstm" else gru_layer_cost(f, h)
        total = total + layer
    return total


def spiking_elementwise_cost(
    kind: str,
    hidden_size: int,
    *,
    n_alpha: int,
    n_beta: int = 0,
    quantised: bool = True,
    bias_add: bool = False,
) -> Cost:
    """Fixed per-frame element-wise cost of a spiking layer of ``hidden_size`` neurons.

    ``n_alpha``/``n_beta``: neurons whose membrane / synaptic decay differs from 1 (a
    product with 1 is free). ``quantised``: the multi-bit spike scales V to levels (one
    multiplication; the step back to values is folded into the next weights); full
    precision (relu) costs none. Per neuron:

    * traditional (Eq. 7-9): ``I = beta*I + xW (+ b)``, ``V = alpha*V + I - Y``,
      ``Y = spike(V)``: adds 2 (+1 for a bias, since the accumulator holds beta*I),
      nonlin 1.
    * v1/v2 (Eq. 16-21): ``F = sigmoid(.)``, ``C = relu(.)``,
      ``I = F*I + (1-F)*C``: mults 2, adds 2, nonlin 2; then the membrane and spike
      as above (adds 2, nonlin 1). The gate accumulators start at their bias (free).
    """
    h = hidden_size
    q = h if quantised else 0
    if kind == "traditional":
        return Cost(n_beta + n_alpha + q, 2 * h + (h if bias_add else 0), h)
    if kind in ("v1", "v2"):
        return Cost(2 * h + n_alpha + q, 4 * h, 3 * h)
    raise ValueError(f"unknown spiking layer kind {kind!r}")


def encoder_elementwise_cost(features: int, quantised: bool = True) -> Cost:
    """Per-frame cost of the sigma-delta input encoder (per feature).

    ``r = r + x`` (add), ``y = Q(r)`` (one scaling multiplication and a rounding),
    ``r = r - y`` (add).
    """
    return Cost(features if quantised else 0, 2 * features, features)
