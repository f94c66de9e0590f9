"""The GEMM FLOP formulas of bench/flops.py against hand counts (no timing)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import flops  # noqa: E402

sys.path.pop(0)

# T=3 frames, B=2, F=4 inputs, H=5 units, 2 layers.
T, B, F, H = 3, 2, 4, 5


def test_gru_hand_count_with_readout():
    # G = 3 gate blocks (15 columns). Layer 1: X W^T 3*2*4*15 = 360, recurrent
    # (T-1)*2*5*15 = 300; backward: weight grad 360, recurrent 2*300 (g W_r and
    # Y^T g), no input grad. Layer 2: X W^T 3*2*5*15 = 450, recurrent 300; backward
    # weight grad 450, input grad 450, recurrent 600. Readout 5 -> 6: 180 / 360.
    fwd, bwd = flops.step_macs("gru", T, B, F, H, 2, readout=6)
    assert fwd == 360 + 300 + 450 + 300 + 180
    assert bwd == 360 + 600 + 450 + 450 + 600 + 360
    assert flops.step_flops("gru", T, B, F, H, 2, readout=6) == 2 * (1590 + 2820)


def test_snn_kinds_hand_count():
    # traditional: G = 1, no recurrent product.
    #   fwd 3*2*4*5 + 3*2*5*5 = 120 + 150; bwd 120 + 150 + 150 (layer-2 input grad)
    assert flops.step_macs("traditional", T, B, F, H, 2) == (270, 420)
    # v1: G = 2, no recurrent product: twice traditional's.
    assert flops.step_macs("v1", T, B, F, H, 2) == (540, 840)
    # v2: v1 + per layer (T-1)*B*H*2H = 200 forward and 400 backward.
    assert flops.step_macs("v2", T, B, F, H, 2) == (540 + 400, 840 + 800)
    # LSTM: G = 4, recurrent 2*2*5*20 = 400 per layer forward, 800 backward.
    assert flops.step_macs("lstm", T, B, F, H, 1) == (3 * 2 * 4 * 20 + 400,
                                                      3 * 2 * 4 * 20 + 800)


def test_issue_shape_and_mm():
    # 2 x 550, input 40, batch 64, 200 frames: the issue's ~23.8 / 47.0 GMAC (it
    # counted frame 0's recurrent products too).
    fwd, bwd = flops.step_macs("v2", 200, 64, 40, 550, 2)
    assert fwd == 23_717_760_000 and bwd == 46_872_320_000
    assert flops.mm_flops(2048, 2048, 2048) == 2 * 2048**3


def test_unknown_kind():
    with pytest.raises(ValueError, match="allowed"):
        flops.step_macs("rnn", T, B, F, H, 1)


@pytest.mark.parametrize("kind", sorted(flops.GATES))
def test_the_listed_products_are_the_counted_flops(kind):
    """bench_layers' ``products`` path runs step_products: the same FLOPs as
    step_flops counts, shape by shape."""
    shape = dict(frames=7, batch=3, inp=5, hidden=4, layers=3)
    listed = flops.step_products(kind, **shape)
    assert sum(2 * m * k * n * c for _, m, k, n, c in listed) == flops.step_flops(
        kind, **shape)
    recurrent = [p for p in listed if p[0] == "rec"]
    assert (len(recurrent) == 3) == flops.RECURRENT[kind]
    assert all(c == 6 for *_, c in recurrent)  # frame 0 multiplies the zero state
