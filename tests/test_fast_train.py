"""Fused training path vs the reference SpikingLayer.run: outputs, gradients, EMA."""

from __future__ import annotations

import copy

import pytest
import torch

from pytorch_kaldi_snn.nn import (
    MultiBitSpike,
    SNNStack,
    SpikingLayer,
    SymmetricSpike,
    fast_train,
)
from pytorch_kaldi_snn.nn.layers import FAST_PATHS

KINDS = ["traditional", "v1", "v2"]


def _pair(kind, n_bits, *, bn=True, dropout=0.0, learn_decay=False, dtype=torch.float64,
          k=2, seed=0):
    torch.manual_seed(seed)
    layer = SpikingLayer(5, 7, kind,
                         MultiBitSpike(n_bits, min(k, 2**n_bits - 1) if n_bits else 0,
                                       momentum=0.3, init_range=1.5),
                         use_batchnorm=bn, dropout=dropout, alpha=0.95, beta=0.8,
                         learn_decay=learn_decay).to(dtype)
    if kind == "v2":
        with torch.no_grad():  # a recurrence strong enough to matter
            layer.w_rec.weight.mul_(0.7)
    return layer, copy.deepcopy(layer)


def _grads(layer, x, y, g):
    params = [p for p in layer.parameters()]
    return torch.autograd.grad(y, [x] + params, g, allow_unused=True)


def _compare(kind, n_bits, *, dtype=torch.float64, train=True, **kw):
    ref, fast = _pair(kind, n_bits, dtype=dtype, **kw)
    ref.train(train)
    fast.train(train)
    x = (1.5 * torch.randn(23, 4, 5, dtype=dtype)).requires_grad_()
    torch.manual_seed(11)  # the dropout mask comes from the same draw in both
    y_ref = ref.run(x)[0]
    torch.manual_seed(11)
    y_fast = fast_train.fused_run(fast, x)
    assert y_fast.shape == y_ref.shape and y_fast.is_contiguous()
    torch.testing.assert_close(y_fast, y_ref, rtol=1e-9, atol=1e-10)
    assert (y_ref != 0).any()
    # the fused kernel orders the membrane sum differently: max V agrees to 1 ulp
    torch.testing.assert_close(fast.spike.range, ref.spike.range, rtol=1e-14, atol=0)
    if fast.bn is not None:
        torch.testing.assert_close(fast.bn.running_mean, ref.bn.running_mean)
    g = torch.randn_like(y_ref)
    for a, b in zip(_grads(ref, x, y_ref, g), _grads(fast, x, y_fast, g)):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(b, a, rtol=1e-8, atol=1e-10)
    return ref, fast


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n_bits", [1, 3, 6, None])
def test_outputs_and_gradients_match_the_reference(kind, n_bits):
    _compare(kind, n_bits)


@pytest.mark.parametrize("kind", KINDS)
def test_dropout_mask_no_batchnorm_and_learned_decays(kind):
    _compare(kind, 4, bn=False, dropout=0.3, learn_decay=True)
    _compare(kind, None, bn=True, dropout=0.5, learn_decay=True)


@pytest.mark.parametrize("kind", KINDS)
def test_eval_mode_matches_and_freezes_the_range(kind):
    ref, fast = _pair(kind, 4, dropout=0.3)
    ref.eval()
    fast.eval()
    x = torch.randn(17, 3, 5, dtype=torch.float64)
    with torch.no_grad():
        y_ref = ref.run(x)[0]
        y_fast = fast_train.fused_run(fast, x)
    torch.testing.assert_close(y_fast, y_ref, rtol=1e-9, atol=1e-10)
    assert torch.equal(fast.spike.range, torch.tensor(1.5, dtype=torch.float64))


@pytest.mark.parametrize("kind", KINDS)
def test_float32_matches_the_reference(kind):
    ref, fast = _pair(kind, 6, dtype=torch.float32, seed=3)
    x = torch.randn(40, 8, 5)
    with torch.no_grad():
        y_ref = ref.run(x)[0]
        y_fast = fast_train.fused_run(fast, x)
    step = ref.spike.range.item() / 64
    # a rounding difference may move one value across a level, never further
    diff = (y_fast - y_ref).abs()
    assert diff.max() <= step * 1.001
    assert (diff > 1e-6).float().mean() < 1e-3


def test_layer_forward_selects_the_fast_path_and_declines_other_quantisers():
    assert fast_train.fast_training_path in FAST_PATHS
    layer = SpikingLayer(5, 7, "v2", MultiBitSpike(4, 2))
    x = torch.randn(6, 2, 5)
    assert fast_train.fast_training_path(layer, x) is not None
    sym = SpikingLayer(5, 7, "v2", SymmetricSpike(4, 1))
    assert fast_train.fast_training_path(sym, x) is None
    assert fast_train.fast_training_path(layer, torch.randn(6, 2, 4)) is None
    assert sym(x).shape == (6, 2, 7)


def test_stack_training_steps_follow_the_reference():
    torch.manual_seed(5)
    ref = SNNStack(5, [8, 6], "v2", lambda: MultiBitSpike(3, 1, momentum=0.5),
                   dropout=[0.2, 0.2]).double()
    fast = copy.deepcopy(ref)
    opt_r = torch.optim.SGD(ref.parameters(), lr=0.05)
    opt_f = torch.optim.SGD(fast.parameters(), lr=0.05)
    for step in range(3):
        x = torch.randn(12, 3, 5, dtype=torch.float64)
        torch.manual_seed(100 + step)
        h = x
        for layer in ref.layers:
            h = layer.run(h)[0]
        loss_r = (h ** 2).mean()
        torch.manual_seed(100 + step)
        loss_f = (fast(x) ** 2).mean()
        torch.testing.assert_close(loss_f, loss_r)
        for opt, loss in ((opt_r, loss_r), (opt_f, loss_f)):
            opt.zero_grad()
            loss.backward()
            opt.step()
    for (name, a), b in zip(ref.state_dict().items(), fast.state_dict().values()):
        torch.testing.assert_close(b, a, msg=name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_tensors_fall_back_to_the_reference():
    layer = SpikingLayer(5, 7, "v2", MultiBitSpike(4, 2)).cuda()
    x = torch.randn(6, 2, 5, device="cuda")
    assert fast_train.fast_training_path(layer, x) is None
    assert layer(x).shape == (6, 2, 7)


def test_workspace_never_hands_out_a_buffer_in_use():
    from pytorch_kaldi_snn.nn.fast_workspace import Workspace

    ws = Workspace(max_bytes=1 << 20, per_key=2)
    a = ws.take((4, 5), torch.float32, torch.device("cpu"))
    view = a[1:]
    del a
    b = ws.take((4, 5), torch.float32, torch.device("cpu"))
    b.fill_(1.0)
    assert b.untyped_storage().data_ptr() != view.untyped_storage().data_ptr()
    view.fill_(2.0)
    assert torch.all(b == 1.0)
    del view
    # the first one is free again
    c = ws.take((20,), torch.float32, torch.device("cpu"))
    assert ws.pooled_bytes == 2 * 20 * 4 and c.shape == (20,)
    d = ws.take((20,), torch.float32, torch.device("cpu"))  # beyond per_key: plain
    assert ws.pooled_bytes == 2 * 20 * 4 and d.shape == (20,)


def test_second_backward_is_reported():
    layer, _ = _pair("v2", 4)
    y = fast_train.fused_run(layer, torch.randn(5, 2, 5, dtype=torch.float64))
    y.sum().backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="second backward"):
        y.sum().backward()


@pytest.fixture(params=["c", "torch"])
def recurrence_impl(request, monkeypatch):
    """Run a test with the C recurrences (_fused.c) and with the torch loop."""
    from pytorch_kaldi_snn.nn import cstep

    if request.param == "torch":
        monkeypatch.setenv("PYTORCH_KALDI_SNN_NO_C", "1")
    cstep.reset()
    if request.param == "c" and cstep.fused(torch.float64) is None:
        pytest.skip("no C compiler: only the torch loop exists here")
    yield request.param
    monkeypatch.delenv("PYTORCH_KALDI_SNN_NO_C", raising=False)
    cstep.reset()


@pytest.mark.parametrize("kind", KINDS)
def test_both_recurrence_implementations_match_the_reference(kind, recurrence_impl):
    _compare(kind, 4, dropout=0.3, learn_decay=True, bn=False)
    _compare(kind, None)
    ref, fast = _pair(kind, 6, dtype=torch.float32, seed=3)
    x = torch.randn(40, 8, 5)
    with torch.no_grad():
        diff = (fast_train.fused_run(fast, x) - ref.run(x)[0]).abs()
    assert diff.max() <= ref.spike.range.item() / 64 * 1.001
    assert (diff > 1e-6).float().mean() < 1e-3


def test_cstep_disabled_selects_the_torch_loop():
    from pytorch_kaldi_snn.nn import cstep

    with cstep.disabled():
        assert cstep.fused(torch.float64) is None and cstep.library() is None
    ref, fast = _pair("v1", 4)
    fast.eval()  # the range stays put between the two runs
    x = torch.randn(9, 2, 5, dtype=torch.float64)
    with torch.no_grad():
        with cstep.disabled():
            y_torch = fast_train.fused_run(fast, x)
        y_default = fast_train.fused_run(fast, x)
    torch.testing.assert_close(y_default, y_torch, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_training_takes_the_c_recurrences_when_built(kind, monkeypatch):
    """Guards the speed: dropout, learned decays, BN and float32 must not push the
    default training path off the C kernels (a silent fallback still passes the
    accuracy tests)."""
    from pytorch_kaldi_snn.nn import cstep

    kern = cstep.fused(torch.float32)
    if kern is None:
        pytest.skip("no C compiler: only the torch loop exists here")
    calls = {"forward": 0, "backward": 0}
    for name in calls:
        original = getattr(cstep.Fused, name)

        def counting(self, *args, _name=name, _original=original, **kwargs):
            calls[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cstep.Fused, name, counting)
        # v2 steps frame by frame through bound calls: count the frames they run
        binder = getattr(cstep.Fused, f"v2_{name}_frames")

        def counting_frames(self, *args, _name=name, _binder=binder, **kwargs):
            frame = _binder(self, *args, **kwargs)

            def counted(*a):
                calls[_name] += 1
                return frame(*a)

            return counted

        monkeypatch.setattr(cstep.Fused, f"v2_{name}_frames", counting_frames)
    _, fast = _pair(kind, 6, dropout=0.2, learn_decay=True, dtype=torch.float32)
    fast.train()
    x = torch.randn(7, 3, 5, requires_grad=True)
    fast(x).sum().backward()
    frames = 7 if kind == "v2" else 1
    assert calls == {"forward": frames, "backward": frames}


def test_an_empty_batch_is_left_to_the_reference():
    layer = SpikingLayer(5, 7, "v2", MultiBitSpike(4, 1), use_batchnorm=False).eval()
    assert not fast_train.applicable(layer, torch.randn(6, 0, 5))
    assert layer(torch.randn(6, 0, 5)).shape == (6, 0, 7)


@pytest.mark.parametrize("kind", KINDS)
def test_broadcast_output_gradient_equals_a_dense_one(kind, recurrence_impl):
    """``y.sum().backward()`` hands the layer an expanded (stride-0) gradient, which
    v2 copies frame by frame: the gradients equal those of a dense ones tensor."""
    grads = []
    for dense in (False, True):
        _, fast = _pair(kind, 4, dropout=0.3, learn_decay=True, dtype=torch.float32)
        x = torch.randn(9, 3, 5, generator=torch.Generator().manual_seed(2),
                        requires_grad=True)
        torch.manual_seed(4)
        y = fast_train.fused_run(fast, x)
        if dense:
            y.backward(torch.ones_like(y))
        else:
            y.sum().backward()
        grads.append([x.grad] + [p.grad for p in fast.parameters()])
    for a, b in zip(*grads):
        assert (a is None) == (b is None)
        if a is not None:
            assert torch.equal(a, b)


@pytest.mark.parametrize("kind", KINDS)
def test_c_kernels_equal_the_torch_loop_with_batch_norm_and_dropout(kind):
    """The C path forms v1's C and every gate factor in its own passes, and applies
    traditional's and v1's batch norm (and traditional's dropout) itself; the torch
    loop does each as tensor operations. Both give the same step, gradients and
    running statistics (float64; only the order of the batch-norm sums and the
    sigmoid's vector/scalar split differ)."""
    from pytorch_kaldi_snn.nn import cstep

    if cstep.fused(torch.float64) is None:
        pytest.skip("no C compiler: only the torch loop exists here")
    results = []
    for disabled in (True, False):
        _, fast = _pair(kind, 4, dropout=0.3, learn_decay=True, seed=5)
        fast.train()
        x = (2 * torch.randn(11, 3, 5, dtype=torch.float64,
                             generator=torch.Generator().manual_seed(1))
             ).requires_grad_()
        torch.manual_seed(7)
        if disabled:
            with cstep.disabled():
                y = fast_train.fused_run(fast, x)
                y.backward(torch.linspace(-1, 1, y.numel(), dtype=y.dtype
                                          ).reshape(y.shape))
        else:
            y = fast_train.fused_run(fast, x)
            y.backward(torch.linspace(-1, 1, y.numel(), dtype=y.dtype).reshape(y.shape))
        results.append([y.detach(), x.grad] + [p.grad for p in fast.parameters()]
                       + [fast.bn.running_mean, fast.bn.running_var, fast.spike.range])
    assert (results[0][0] != 0).any()
    for a, b in zip(*results):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kind", KINDS)
def test_a_strided_output_gradient_gives_the_torch_loops_gradients(kind):
    """The gradient reaching the layer may be a strided view (here of a transpose);
    the C path copies its frames, and must give the torch loop's result."""
    from pytorch_kaldi_snn.nn import cstep

    if cstep.fused(torch.float64) is None:
        pytest.skip("no C compiler: only the torch loop exists here")
    layer, _ = _pair(kind, 3, dropout=0.2, learn_decay=True)
    layer.train()
    x = torch.randn(7, 3, 5, dtype=torch.float64)
    weights = torch.randn(3, 7, 7, dtype=torch.float64)

    def gradients():
        net, inp = copy.deepcopy(layer), x.clone().requires_grad_()
        torch.manual_seed(1)  # the same dropout masks
        (net(inp).transpose(0, 1) * weights).sum().backward()
        return [inp.grad] + [p.grad for p in net.parameters()]

    in_c = gradients()
    with cstep.disabled():
        in_torch = gradients()
    for a, b in zip(in_c, in_torch):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert in_c[0].abs().sum() > 0
