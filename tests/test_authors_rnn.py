"""The authors' uni-GRU / uni-LSTM against their equations written out here."""

from __future__ import annotations

import torch

from pytorch_kaldi_snn.pytorch_kaldi import authors

T, B, F, H, N_OUT, P = 7, 3, 5, 6, 4, 0.2


def _opts(prefix: str) -> dict[str, str]:
    return {
        f"{prefix}_lay": f"{H}",
        f"{prefix}_drop": f"{P}",
        f"{prefix}_use_batchnorm_inp": "False",
        f"{prefix}_use_batchnorm": "True",
        f"{prefix}_bidir": "False",
        f"{prefix}_act": "tanh",
        f"{prefix}_orthinit": "True",
        "output_size": f"{N_OUT}",
        "momentum": "0.1",
        "n_bits": "0",
        "threshold": "0",
        "to_do": "train",
        "use_cuda": "False",
    }


def _bn(x, bn, train):
    if train:
        mean, var = x.mean(0), x.var(0, unbiased=False)
    else:
        mean, var = bn.running_mean, bn.running_var
    return (x - mean) / torch.sqrt(var + bn.eps) * bn.weight + bn.bias


def _reference(net, x, train, kind):
    """h[n] per their equations, unscaled mask in training, 1 - p in eval."""
    g = 3 if kind == "gru" else 4
    w, u, bn = net.wx[0].weight, net.uh[0].weight, net.bn[0]
    pre = _bn((x @ w.t()).reshape(T * B, -1), bn, train).reshape(T, B, g * H)
    mask = torch.bernoulli(torch.full((B, H), 1 - P)) if train else 1 - P
    h, c, hs = torch.zeros(B, H), torch.zeros(B, H), []
    for t in range(T):
        if kind == "gru":
            wz, wr, wh = pre[t].chunk(3, -1)
            uz, ur, uh = u.chunk(3, 0)
            z, r = torch.sigmoid(wz + h @ uz.t()), torch.sigmoid(wr + h @ ur.t())
            h = z * h + (1 - z) * torch.tanh(wh + (r * h) @ uh.t()) * mask
        else:
            a = pre[t] + h @ u.t()
            f, i, o = (torch.sigmoid(a[:, k * H : (k + 1) * H]) for k in range(3))
            c = i * torch.tanh(a[:, 3 * H :]) * mask + f * c
            h = o * torch.tanh(c)
        hs.append(h)
    out = _bn(
        torch.stack(hs).reshape(T * B, H) @ net.readout.weight.t(),
        net.readout_bn,
        train,
    )
    return torch.log_softmax(out, -1)


def test_gru_and_lstm_follow_their_equations():
    for kind, cls in (("gru", authors.GRU), ("lstm", authors.LSTM)):
        torch.manual_seed(0)
        net = cls(_opts(kind), F).double()
        x = torch.randn(T, B, F, dtype=torch.float64)
        old = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)
        try:
            for train in (True, False):
                net.train(train)
                torch.manual_seed(5)
                ours = net(x)
                torch.manual_seed(5)
                ref = _reference(net, x, train, kind)
                assert (ours - ref).abs().max() < 1e-12, (kind, train)
        finally:
            torch.set_default_dtype(old)
        assert net.bn[0].momentum == 0.1 and net.readout_bn.momentum == 0.1
        assert net.readout.bias is None and net.out_dim == N_OUT
