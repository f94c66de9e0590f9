"""The C kernels split over threads (nn/parallel.py) give bit-for-bit the results of
one call: forward, every gradient, the tracked range (with NaN) and batch norm."""

from __future__ import annotations

import pytest
import torch

from pytorch_kaldi_snn.nn import MultiBitSpike, SNNStack, cstep, parallel

KINDS = ["traditional", "v1", "v2"]


@pytest.fixture
def split(monkeypatch):
    """Run with 3 torch threads; ``split(True)`` cuts every kernel call and frame loop
    into ranges."""
    if cstep.fused(torch.float32) is None:
        pytest.skip("no C compiler: no kernels to split")
    threads = torch.get_num_threads()
    torch.set_num_threads(3)
    monkeypatch.setenv("OMP_WAIT_POLICY", "passive")

    def cut(on):
        monkeypatch.setattr(parallel, "MIN_WORK", 1 if on else 1 << 60)
        monkeypatch.setattr(parallel, "MIN_LOOP_MACS", 1 if on else 1 << 60)

    yield cut
    torch.set_num_threads(threads)


def _step(kind, dtype, x_scale=1.0, batch=5):
    torch.manual_seed(0)
    net = SNNStack(6, [7, 5], kind, lambda: MultiBitSpike(3, 1, init_range=1.0),
                   dropout=[0.2, 0.2]).to(dtype)
    net.train()
    x = (x_scale * torch.randn(9, batch, 6, dtype=dtype)).requires_grad_()
    torch.manual_seed(1)
    y = net(x)
    y.backward(torch.linspace(-1, 1, y.numel(), dtype=dtype).reshape(y.shape))
    return ([y.detach(), x.grad] + [p.grad for p in net.parameters()]
            + list(net.buffers()))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind", KINDS)
def test_split_kernels_equal_one_call(kind, dtype, split, monkeypatch):
    split(False)
    whole = _step(kind, dtype)
    split(True)
    loops = []  # v2's frame loops: how many ranges each ran on
    run_each = parallel.run_one_thread_each
    monkeypatch.setattr(parallel, "run_one_thread_each", lambda fn, parts: (
        loops.append(len(parts)), run_each(fn, parts)))
    parts = _step(kind, dtype)
    assert parallel.ranges(5, 10**6) == [(0, 1), (1, 3), (3, 5)]
    assert len(whole) == len(parts)
    for a, b in zip(whole, parts):
        if kind == "v2":
            # each range runs its own per-frame products: MKL blocks 1-3 rows
            # differently from 5, so the gradients may differ by rounding
            torch.testing.assert_close(a, b, rtol=1e-5 if dtype == torch.float32
                                       else 1e-12, atol=1e-6)
        else:
            assert torch.equal(a, b)
    assert (whole[0] != 0).any()
    # the two layers' forward and backward loops, each over three ranges
    assert loops == ([3, 3, 3, 3] if kind == "v2" else [])


def test_v2_inference_over_ranges_equals_one_call(split):
    torch.manual_seed(0)
    net = SNNStack(6, [7, 5], "v2", lambda: MultiBitSpike(3, 1, init_range=1.0))
    net.eval()
    x = torch.randn(9, 6, 6)
    split(False)
    with torch.no_grad():
        whole = net(x)
    split(True)
    with torch.no_grad():
        parts = net(x)
    torch.testing.assert_close(parts, whole, rtol=1e-5, atol=1e-6)
    assert (whole != 0).any()


def test_one_thread_each_keeps_grad_mode_and_restores_the_thread_count():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    seen = []

    def fn(lo, hi):
        seen.append((lo, torch.get_num_threads(), torch.is_grad_enabled()))

    try:
        with torch.no_grad():
            parallel.run_one_thread_each(fn, [(0, 3), (3, 6)])
        assert torch.get_num_threads() == 2
        assert sorted(seen) == [(0, 1, False), (3, 1, False)]
        seen.clear()
        parallel.run_one_thread_each(fn, [(0, 6)])  # one range: one thread too
        assert seen == [(0, 1, True)]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("kind", ["v1", "v2"])
def test_a_nan_in_one_range_reaches_the_tracked_range(kind, split):
    split(True)
    torch.manual_seed(0)
    # no batch norm: its statistics would spread the NaN to every sequence
    net = SNNStack(6, [7], kind, lambda: MultiBitSpike(3, 1, init_range=1.0),
                   use_batchnorm=[False])
    net.train()
    x = torch.randn(9, 5, 6)
    x[4, 4, 0] = float("nan")  # the last sequence only: the last range
    net(x)
    assert torch.isnan(net.layers[0].spike.range)


def test_an_error_in_any_range_is_raised_after_all_ran():
    seen = []

    def fn(lo, hi):
        seen.append(lo)
        if lo == 3:
            raise RuntimeError("range 3")

    with pytest.raises(RuntimeError, match="range 3"):
        parallel.run(fn, [(0, 3), (3, 6), (6, 9)])
    assert sorted(seen) == [0, 3, 6]


def test_no_split_while_openmp_workers_spin(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    assert parallel.ranges(64, 10**7) == [(0, 32), (32, 64)]
    monkeypatch.delenv("OMP_WAIT_POLICY")
    assert parallel.ranges(64, 10**7) == [(0, 64)]
    monkeypatch.setenv("OMP_WAIT_POLICY", "active")
    assert parallel.ranges(64, 10**7) == [(0, 64)]


def test_frame_loops_split_only_big_products_and_only_over_sleeping_workers(
        monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    big = parallel.FrameLoop(64, 2 * 550 * 550)  # 32 rows: 19.4M multiply-adds
    assert (big.alone, big.parts) == (True, [(0, 32), (32, 64)])
    small = parallel.FrameLoop(16, 2 * 128 * 128)  # the demo's: one thread alone
    assert (small.alone, small.parts) == (True, [(0, 16)])
    monkeypatch.delenv("OMP_WAIT_POLICY")  # spinning: OpenMP inside each operation
    spin = parallel.FrameLoop(64, 2 * 550 * 550)
    assert (spin.alone, spin.parts) == (False, [(0, 64)])
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    one = parallel.FrameLoop(64, 2 * 550 * 550)
    assert (one.alone, one.parts) == (False, [(0, 64)])
