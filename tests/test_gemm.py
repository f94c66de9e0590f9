"""The GEMM choice of the fused CPU layers (pytorch_kaldi_snn.nn.gemm)."""

from __future__ import annotations

import pytest
import torch

from pytorch_kaldi_snn.nn import MultiBitSpike, SpikingLayer, fast_train, gemm


@pytest.fixture
def mode(monkeypatch):
    def set_mode(value: str) -> None:
        monkeypatch.setenv("PYTORCH_KALDI_SNN_GEMM", value)
        gemm.reset()

    yield set_mode
    gemm.reset()


def _needs_onednn(mode):
    mode("onednn")  # every size (the default rule keeps small products on torch.mm)
    if not gemm.use_onednn(torch.zeros(1)):
        pytest.skip("oneDNN linear is not usable in this torch build")


def test_the_rule_is_fixed_and_can_be_overridden(mode):
    mode("aten")
    assert not gemm.use_onednn(torch.zeros(2, 2))
    mode("auto")
    # never for float64 (oneDNN's linear is float32 here) whatever the build
    assert not gemm.use_onednn(torch.zeros(2, 2, dtype=torch.float64))
    first = gemm.use_onednn(torch.zeros(2, 2))
    assert all(gemm.use_onednn(torch.zeros(3, 3)) == first for _ in range(3))
    # small products stay on torch.mm by default, large ones follow availability
    assert not gemm.use_onednn(torch.zeros(2, 2), gemm.MIN_MACS - 1)
    assert gemm.use_onednn(torch.zeros(2, 2), gemm.MIN_MACS) == first
    mode("onednn")
    assert gemm.use_onednn(torch.zeros(2, 2), 1) == gemm.use_onednn(torch.zeros(1))


def test_linear_equals_addmm_with_plain_and_transposed_weights(mode):
    _needs_onednn(mode)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(33, 17, generator=gen)
    w = torch.randn(12, 17, generator=gen)
    b = torch.randn(12, generator=gen)
    torch.testing.assert_close(gemm.linear(x, w, b), torch.addmm(b, x, w.t()))
    wt = torch.randn(17, 12, generator=gen)  # weight given as a transposed view
    torch.testing.assert_close(gemm.linear(x, wt.t()), x @ wt)


@pytest.mark.parametrize("need", [(True, True, True), (False, True, False),
                                  (True, False, True)])
def test_linear_function_gradients_equal_f_linear(mode, need):
    _needs_onednn(mode)
    gen = torch.Generator().manual_seed(1)
    x0 = torch.randn(40, 9, generator=gen)
    w0 = torch.randn(6, 9, generator=gen)
    b0 = torch.randn(6, generator=gen)
    g = torch.randn(40, 6, generator=gen)
    ours = [t.clone().requires_grad_(r) for t, r in zip((x0, w0, b0), need)]
    ref = [t.clone().requires_grad_(r) for t, r in zip((x0, w0, b0), need)]
    y = gemm.linear_with_grad(*ours)
    y_ref = torch.nn.functional.linear(*ref)
    torch.testing.assert_close(y, y_ref)
    y.backward(g)
    y_ref.backward(g)
    for a, r in zip(ours, ref):
        if r.requires_grad:
            torch.testing.assert_close(a.grad, r.grad)
        else:
            assert a.grad is None


def test_fused_v2_training_step_is_the_same_with_either_library(mode):
    _needs_onednn(mode)
    torch.manual_seed(0)
    layer = SpikingLayer(5, 12, "v2", MultiBitSpike(6, 2))
    x = torch.randn(30, 4, 5)
    results = {}
    for name in ("aten", "onednn"):
        mode(name)
        layer.zero_grad()
        layer.spike.range.fill_(1.0)
        y = fast_train.fused_run(layer, x)
        (y * torch.linspace(-1, 1, 12)).sum().backward()
        results[name] = (y.detach(), {n: p.grad.clone() for n, p in
                                      layer.named_parameters() if p.grad is not None})
    (y_a, g_a), (y_o, g_o) = results["aten"], results["onednn"]
    step = 1.0 / 64
    diff = (y_a - y_o).abs()
    assert diff.max() <= step * 1.001 and (diff > 1e-6).float().mean() < 0.01
    assert g_a.keys() == g_o.keys() and "w_rec.weight" in g_a
    for name in g_a:
        torch.testing.assert_close(g_o[name], g_a[name], rtol=2e-2, atol=2e-3)


def test_forced_rule_applies_inside_the_block_and_is_restored(mode):
    mode("auto")
    before = gemm.use_onednn(torch.zeros(1), gemm.MIN_MACS)
    with gemm.forced("aten"):
        assert not gemm.use_onednn(torch.zeros(1), 10**12)
    with gemm.forced("onednn"):
        assert gemm.use_onednn(torch.zeros(1), 1) == gemm._onednn_ok("onednn")
    assert gemm.use_onednn(torch.zeros(1), gemm.MIN_MACS) == before
    assert not gemm.use_onednn(torch.zeros(1), 1)


def _frame_product(mode, choice, seed):
    """``choice``'s library in force, and v2's frame product at batch 64, 550 units:
    ``(x [64, 550], W [1100, 550], P[n] [64, 1100])``."""
    if choice == "onednn":
        _needs_onednn(mode)
    else:
        mode(choice)
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(64, 550, generator=gen), torch.randn(1100, 550, generator=gen),
            torch.randn(64, 1100, generator=gen))


@pytest.mark.parametrize("choice", ["aten", "onednn"])
def test_linear_add_equals_the_product_plus_the_addend(mode, choice):
    """v2's recurrent product of a frame, x W^T + P[n] in one call: on oneDNN the sum
    is the product's post-op, bit-identical to adding afterwards (the self-check's
    promise); on torch.mm an addmm."""
    x, w, other = _frame_product(mode, choice, seed=3)
    got = gemm.linear_add(x, w, other)
    if choice == "onednn":
        assert torch.equal(got, torch.add(gemm.linear(x, w), other))
    else:  # what the fused layer ran on torch.mm before
        assert torch.equal(got, torch.addmm(other, x, w.t()))
    torch.testing.assert_close(got, other + x @ w.t(), rtol=1e-5, atol=1e-4)
    assert gemm._fused_add_ok() or choice == "aten"


@pytest.mark.parametrize("choice", ["aten", "onednn"])
def test_a_bound_adder_of_one_range_rounds_as_the_whole_batch(mode, choice):
    """linear_adder chooses the library by the whole batch's rows: each half of the
    batch then gets the whole product's rows bit for bit; with out_rows the
    torch.addmm path reuses one buffer."""
    x, w, other = _frame_product(mode, choice, seed=4)
    whole = gemm.linear_add(x, w, other)
    half = gemm.linear_adder(w, 64, x, out_rows=32)
    first = half(x[:32], other[:32]).clone()
    second = half(x[32:], other[32:])
    assert torch.equal(torch.cat([first, second]), whole)
    again = half(x[:32], other[:32])
    assert torch.equal(again, first)
    if choice == "aten":
        assert again.data_ptr() == second.data_ptr()
