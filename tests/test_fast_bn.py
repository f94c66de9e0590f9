"""nn/fast_bn.py (the fused layers' batch norm in C) against nn.BatchNorm1d."""

from __future__ import annotations

import copy

import pytest
import torch

from pytorch_kaldi_snn.nn import cstep, fast_bn, parallel


@pytest.fixture(autouse=True)
def _needs_c():
    if cstep.fused(torch.float64) is None:
        pytest.skip("no C compiler: the module's batch norm runs")


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("t_len", [6, 525])  # one block of rows; eight (fast_bn.blocks)
def test_batch_norm_matches_the_module(momentum, masked, t_len):
    torch.manual_seed(0)
    batch, ch = 4, 5
    ref = torch.nn.BatchNorm1d(ch, momentum=momentum).double().train()
    with torch.no_grad():
        ref.weight.uniform_(0.5, 1.5)
        ref.bias.uniform_(-0.5, 0.5)
    fast = copy.deepcopy(ref)
    mask = (torch.rand(batch, ch, dtype=torch.float64) > 0.3) / 0.7 if masked else None
    for _ in range(2):  # the running statistics follow over steps
        x = (3 * torch.randn(t_len * batch, ch, dtype=torch.float64) + 1)
        x.requires_grad_()
        y_ref = ref(x)
        if mask is not None:
            y_ref = (y_ref.reshape(t_len, batch, ch) * mask).reshape(-1, ch)
        y = fast_bn.batch_norm(fast, x, mask, batch)
        torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
        g = torch.randn_like(y)
        want = torch.autograd.grad(y_ref, [x, ref.weight, ref.bias], g)
        got = torch.autograd.grad(y, [x, fast.weight, fast.bias], g)
        for a, b in zip(want, got):
            torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            torch.testing.assert_close(getattr(fast, name), getattr(ref, name))


def test_declines_what_it_does_not_reproduce():
    bn = torch.nn.BatchNorm1d(3)
    x = torch.randn(8, 3)
    assert fast_bn.batch_norm(bn.eval(), x) is None  # running statistics
    assert fast_bn.batch_norm(bn.train(), x[:1]) is None  # the module raises
    assert fast_bn.batch_norm(torch.nn.BatchNorm1d(3, affine=False), x) is None
    assert fast_bn.batch_norm(bn, x.t()) is None  # not contiguous
    with cstep.disabled():
        assert fast_bn.batch_norm(bn, x) is None
    assert fast_bn.batch_norm(bn, x) is not None


def test_apply_into_one_half_of_the_rows_and_grad_in_place():
    """The fused v1 path normalises the forget half of ``[rows, 2H]`` into its own
    buffer, and writes the input gradient over the output gradient."""
    torch.manual_seed(0)
    rows, ch, batch = 12, 3, 4
    x = torch.randn(rows, 2 * ch, dtype=torch.float64)
    a = torch.rand(ch, dtype=torch.float64) + 0.5
    s = torch.randn(ch, dtype=torch.float64)
    out = torch.full((rows, ch), float("nan"), dtype=torch.float64)
    mask = ((torch.rand(batch, ch) > 0.3) / 0.7).double()
    with pytest.raises(ValueError, match="contiguous"):
        fast_bn.apply_into(x[:, :ch], a, s, out, batch, mask.float())
    fast_bn.apply_into(x[:, :ch], a, s, out, batch, mask)
    want = (x[:, :ch] * a + s) * mask.repeat(rows // batch, 1)
    torch.testing.assert_close(out, want, rtol=0, atol=0)
    xs = x[:, ch:].contiguous()
    mean, var = xs.mean(0), xs.var(0, unbiased=False)
    istd = (var + 1e-5).rsqrt()
    g = torch.randn(rows, ch, dtype=torch.float64)
    separate = fast_bn.grad(xs, mean, a * istd, istd, mask, g, batch)
    g_x = fast_bn.grad(xs, mean, a * istd, istd, mask, g, batch, out=g)[0]
    assert g_x.data_ptr() == g.data_ptr()
    for got, want in zip((g_x, *separate[1:]), separate):
        assert torch.equal(got, want)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_sums_do_not_depend_on_how_the_blocks_are_shared(dtype, monkeypatch):
    """Blocks of rows on 1 or 3 threads give the same bits (fixed order of adding)."""
    torch.manual_seed(0)
    rows, ch, batch = 2100, 7, 4
    assert len(fast_bn.blocks(rows)) == fast_bn.BLOCKS
    x = 3 * torch.randn(rows, ch, dtype=dtype) + 1
    g = torch.randn(rows, ch, dtype=dtype)
    mask = ((torch.rand(batch, ch) > 0.3) / 0.7).to(dtype)
    a, istd = torch.rand(ch, dtype=dtype) + 0.5, torch.rand(ch, dtype=dtype) + 0.5

    def run():
        mean, var = fast_bn._stats(x, fast_bn._kernels(dtype))
        return (mean, var, *fast_bn.grad(x, mean, a, istd, mask, g, batch))

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = run()
        torch.set_num_threads(3)
        monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
        monkeypatch.setattr(parallel, "MIN_WORK", 1)
        assert len(parallel.ranges(len(fast_bn.blocks(rows)), rows * ch)) == 3
        shared = run()
    finally:
        torch.set_num_threads(threads)
    for u, v in zip(one, shared):
        assert torch.equal(u, v)
    torch.testing.assert_close(one[0], x.double().mean(0).to(dtype))
    torch.testing.assert_close(one[1], x.double().var(0, unbiased=False).to(dtype))
