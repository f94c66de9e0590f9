r"""Matrix-product FLOPs of one training step (forward + backward) of a layer stack.

Only the GEMMs are counted (the element-wise work is a few percent at 550 units);
one multiply-add is 2 FLOPs. For a stack of layers with input sizes
:math:`d_1 = F, d_l = H` (l > 1), H units, batch B, T frames and G gate blocks per layer
(:math:`G = 1` traditional, 2 v1 and v2, 3 GRU, 4 LSTM), per layer l:

.. math::

    \text{forward:}\quad & T B d_l G H \;(X W_i^\top) + R\,(T-1) B H G H
        \;(Y[n-1] W_r^\top) \\
    \text{backward:}\quad & T B d_l G H \;(g_A^\top X) + [l > 1]\, T B G H d_l
        \;(g_A W_i) + 2 R\,(T-1) B G H H \;(g_A[n] W_r,\ Y[n-1]^\top g_A[n])

multiply-adds, with R = 1 for the models with a recurrent product (v2, GRU, LSTM) and
0 for traditional and v1. Frame 0's recurrent products multiply the zero initial
state and are not counted (the code may still run them), nor is the first layer's
input gradient (the input does not require one). An optional readout (Linear H -> N
over all frames) adds :math:`T B H N` forward and :math:`2 T B H N` backward.

    >>> step_flops("v2", frames=2, batch=1, inp=1, hidden=1, layers=1)
    28
"""

from __future__ import annotations

GATES = {"traditional": 1, "v1": 2, "v2": 2, "gru": 3, "lstm": 4}
RECURRENT = {"traditional": False, "v1": False, "v2": True, "gru": True, "lstm": True}


def step_macs(kind: str, frames: int, batch: int, inp: int, hidden: int, layers: int,
              readout: int = 0) -> tuple[int, int]:
    """(forward, backward) multiply-adds of the GEMMs of one training step."""
    if kind not in GATES:
        raise ValueError(f"kind {kind!r}: allowed {', '.join(GATES)}")
    g, rec = GATES[kind], RECURRENT[kind]
    t, b, h = frames, batch, hidden
    fwd = bwd = 0
    for layer in range(layers):
        d = inp if layer == 0 else h
        fwd += t * b * d * g * h
        bwd += t * b * d * g * h  # weight gradient g_A^T X
        if layer > 0:
            bwd += t * b * g * h * d  # input gradient g_A W_i
        if rec:
            fwd += (t - 1) * b * h * g * h
            bwd += 2 * (t - 1) * b * g * h * h
    if readout:
        fwd += t * b * h * readout
        bwd += 2 * t * b * h * readout
    return fwd, bwd


def step_products(kind: str, frames: int, batch: int, inp: int, hidden: int,
                  layers: int) -> list[tuple[str, int, int, int, int]]:
    """The products :func:`step_macs` counts, as ``(form, M, K, N, count)``: ``count``
    products of ``[M, K] @ [K, N]``. Forms: ``xw`` (X W^T, the input projection),
    ``gw`` (G W, its input gradient), ``wg`` (G^T X, a weight gradient: M = N of the
    weight's rows), ``rec`` (a frame's Y W_r^T + P), ``recg`` (a frame's G W_r).

    >>> [p[0] for p in step_products("v2", 3, 2, 4, 5, 1)]
    ['xw', 'wg', 'rec', 'recg', 'wg']
    """
    if kind not in GATES:
        raise ValueError(f"kind {kind!r}: allowed {', '.join(GATES)}")
    g, rec = GATES[kind], RECURRENT[kind]
    rows, gh = frames * batch, GATES[kind] * hidden
    out = []
    for layer in range(layers):
        d = inp if layer == 0 else hidden
        out += [("xw", rows, d, gh, 1), ("wg", gh, rows, d, 1)]
        if layer > 0:
            out.append(("gw", rows, gh, d, 1))
        if rec and frames > 1:
            out += [("rec", batch, hidden, g * hidden, frames - 1),
                    ("recg", batch, g * hidden, hidden, frames - 1),
                    ("wg", g * hidden, (frames - 1) * batch, hidden, 1)]
    return out


def step_flops(kind: str, frames: int, batch: int, inp: int, hidden: int, layers: int,
               readout: int = 0) -> int:
    """FLOPs (2 per multiply-add) of the GEMMs of one forward + backward step."""
    return 2 * sum(step_macs(kind, frames, batch, inp, hidden, layers, readout))


def mm_flops(m: int, k: int, n: int) -> int:
    """FLOPs of one ``[m, k] @ [k, n]`` product."""
    return 2 * m * k * n
