"""The authors' classes against an independent float64 reference of their equations.

The reference below is written from the equations of the authors' release (see
pytorch_kaldi_snn/pytorch_kaldi/authors.py and docs/DESIGN.md), with its own parameter
list in the authors' key names; that state_dict is loaded strictly into our classes.
Both run with the default dtype float64 (what the authors' code needs to run in
float64), the same seed before every training call (so the same dropout masks), and
are compared in training (with SGD steps and EMA updates in between) and in eval.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from pytorch_kaldi_snn import pytorch_kaldi as pk
from pytorch_kaldi_snn.nn import spike as spike_mod
from pytorch_kaldi_snn.ops.counter import count_ops
from pytorch_kaldi_snn.ops.paper import tally_from_summary
from pytorch_kaldi_snn.ops.report import summarize
from pytorch_kaldi_snn.pytorch_kaldi.authors import to_authors_state_dict

F, H, LAYERS, N_OUT, T, B = 6, 8, 2, 5, 12, 3
DROP, MOM, EPS = 0.2, 0.1, 1e-5
CLASSES = {
    "traditional": pk.TraditionalSpikingModel,
    "v1": pk.ImprovedSpikingModelV1,
    "v2": pk.ImprovedSpikingModelV2,
}


@pytest.fixture(autouse=True)
def float64_default():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


class RefQuant:
    """Signed quantiser: bias-corrected EMA of min/max, scale n (1 - 1e-4) / M,
    n = 2^(N-1), q = trunc(s clamp(v, -M, M)), 0 where |q| <= threshold, y = q / s;
    gradient: that of the clamp (straight-through estimator)."""

    def __init__(self, bits: int, thr: float) -> None:
        self.n, self.thr = 2 ** (bits - 1), thr
        self.state = {k: torch.zeros(1) for k in ("min_b", "min", "max_b", "max", "t")}
        self.s = torch.ones(1)

    def bound(self) -> float:
        return float(max(abs(self.state["min"]), abs(self.state["max"])))

    def __call__(self, v: torch.Tensor, train: bool) -> torch.Tensor:
        st = self.state
        if train:
            with torch.no_grad():
                st["t"] = st["t"] + 1
                for side, val in (("min", v.min()), ("max", v.max())):
                    st[side + "_b"] = st[side + "_b"] * (1 - MOM) + MOM * val
                    st[side] = st[side + "_b"] / (1 - (1 - MOM) ** st["t"])
                m = self.bound()
                self.s = torch.full((1,), self.n * (1 - 1e-4) / (m if m else self.n))
        m = self.bound()
        vc = torch.clamp(v, -m, m)
        with torch.no_grad():
            q = torch.trunc(self.s * vc)
            q[q.abs() <= self.thr] = 0.0
        return vc + (q / self.s - vc).detach()

    def theirs(self) -> dict[str, torch.Tensor]:
        st = self.state
        return {
            "ema_momentum": torch.tensor(MOM),
            "tracked_min_biased": st["min_b"],
            "tracked_min": st["min"],
            "tracked_max_biased": st["max_b"],
            "tracked_max": st["max"],
            "iter_count": st["t"],
            "scale": self.s,
            "zero_point": torch.zeros(1),
        }


class RefBN:
    def __init__(self, c: int, gen: torch.Generator) -> None:
        self.w = (torch.rand(c, generator=gen) + 0.5).requires_grad_()
        self.b = (torch.rand(c, generator=gen) - 0.5).requires_grad_()
        self.rm, self.rv, self.nbt = torch.zeros(c), torch.ones(c), 0

    def __call__(self, x: torch.Tensor, train: bool) -> torch.Tensor:
        if train:
            mean, var = x.mean(0), x.var(0, unbiased=False)
            with torch.no_grad():
                self.rm = (1 - MOM) * self.rm + MOM * mean
                self.rv = (1 - MOM) * self.rv + MOM * x.var(0, unbiased=True)
                self.nbt += 1
        else:
            mean, var = self.rm, self.rv
        return (x - mean) / torch.sqrt(var + EPS) * self.w + self.b

    def theirs(self) -> dict[str, torch.Tensor]:
        return {
            "weight": self.w,
            "bias": self.b,
            "running_mean": self.rm,
            "running_var": self.rv,
            "num_batches_tracked": torch.tensor(self.nbt),
        }


class Reference:
    """The authors' three models, written from their equations."""

    def __init__(self, kind: str, bits: int, thr: float, do_edat: bool = True) -> None:
        gen = torch.Generator().manual_seed(123)
        self.kind, self.q = kind, do_edat or kind == "traditional"
        g = 1 if kind == "traditional" else 2
        dims = [F] + [H] * LAYERS

        def rnd(*shape, scale=1.0):
            return (
                (torch.rand(*shape, generator=gen) * 2 - 1) * scale
            ).requires_grad_()

        self.W = [
            rnd(g * H, dims[i], scale=(3 / dims[i]) ** 0.5) for i in range(LAYERS)
        ]
        self.U = (
            [rnd(2 * H, H, scale=0.3) for _ in range(LAYERS)] if kind == "v2" else []
        )
        self.tau = [
            (torch.rand(H, generator=gen) * 0.4 + 0.8).requires_grad_()
            for _ in range(LAYERS)
        ]  # decays around 1, some above: no clamp
        self.bz = [RefBN(H, gen) for _ in range(LAYERS)]
        self.bc = [RefBN(H, gen) for _ in range(LAYERS)] if g == 2 else []
        self.Wo = rnd(N_OUT, H, scale=0.5)
        self.bo = RefBN(N_OUT, gen)
        self.qx = RefQuant(bits, thr)
        self.qh = [RefQuant(bits, thr) for _ in range(LAYERS)]

    def params(self) -> list[torch.Tensor]:
        ps = self.W + self.U + [self.Wo, self.bo.w, self.bo.b]
        ps += [p for bn in self.bz + self.bc for p in (bn.w, bn.b)]
        return ps + (self.tau if self.kind == "traditional" else [])

    def forward(self, x: torch.Tensor, train: bool) -> tuple[torch.Tensor, list]:
        n_t, n_b = x.shape[:2]
        events = []
        if self.q:
            acc, enc = torch.zeros_like(x[0]), []
            for x_t in x:
                acc = acc + x_t
                e = self.qx(acc, train)
                enc.append(e)
                acc = acc - e
            x = torch.stack(enc)
        events.append(x)
        for i in range(LAYERS):
            mask = torch.ones(n_b, H)
            if train:
                mask = torch.bernoulli(torch.full((n_b, H), 1 - DROP)) / (1 - DROP)
            pre = (x @ self.W[i].t()).reshape(n_t * n_b, -1)
            if self.kind == "traditional":
                wz = self.bz[i](pre, train).reshape(n_t, n_b, H)
            else:
                wz = self.bz[i](pre[:, :H], train).reshape(n_t, n_b, H)
                wc = self.bc[i](pre[:, H:], train).reshape(n_t, n_b, H)
            cur, v, y, ys = (
                torch.zeros(n_b, H),
                torch.zeros(n_b, H),
                torch.zeros(n_b, H),
                [],
            )
            for t in range(n_t):
                if self.kind == "traditional":
                    cur = wz[t] * mask + self.tau[i] * cur
                else:
                    az, ac = wz[t], wc[t]
                    if self.kind == "v2":
                        az = az + y @ self.U[i][:H].t()
                        ac = ac + y @ self.U[i][H:].t()
                    z, c = torch.sigmoid(az), torch.relu(ac)
                    cur = (1 - z) * c * mask + z * cur
                if self.q:
                    v = v + cur
                    y = self.qh[i](v, train)
                    v = v - y
                else:
                    y = cur
                ys.append(y)
            x = torch.stack(ys)
            events.append(x)
        out = self.bo((x @ self.Wo.t()).reshape(n_t * n_b, -1), train)
        return torch.log_softmax(out, -1), events

    def theirs(self) -> dict[str, torch.Tensor]:
        """This reference's parameters and buffers under the authors' key names."""
        sd = {"final_linear.weight": self.Wo}
        sd.update({f"final_bn.{k}": v for k, v in self.bo.theirs().items()})
        for i in range(LAYERS):
            sd[f"linear_ws.{i}.weight"] = self.W[i]
            if self.kind == "v2":
                sd[f"linear_us.{i}.weight"] = self.U[i]
            if self.kind == "traditional":
                sd[f"taus.{i}"] = self.tau[i]
                sd.update({f"bn_ws.{i}.{k}": v for k, v in self.bz[i].theirs().items()})
            else:
                sd.update({f"bn_zs.{i}.{k}": v for k, v in self.bz[i].theirs().items()})
                sd.update({f"bn_cs.{i}.{k}": v for k, v in self.bc[i].theirs().items()})
            if self.q:
                sd.update(
                    {f"fsq_hs.{i}.{k}": v for k, v in self.qh[i].theirs().items()}
                )
        if self.q:
            sd.update({f"fsq_x.{k}": v for k, v in self.qx.theirs().items()})
        return {k: v.detach().clone() for k, v in sd.items()}


def _ours(kind: str, bits: int, thr: float, do_edat: bool = True, to_do="train"):
    opts = {
        "hidden_size": str(H),
        "num_layers": str(LAYERS),
        "dropout": str(DROP),
        "use_bn": "True",
        "n_bits": str(bits),
        "threshold": str(thr),
        "momentum": str(MOM),
        "output_size": str(N_OUT),
        "to_do": to_do,
    }
    if kind == "traditional":
        opts["learn_tau"] = "True"
    else:
        opts["do_edat"] = str(do_edat)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CLASSES[kind](opts, F)


def _pairs(ours, ref):
    """(our parameter, reference parameter) by name."""
    named = dict(ours.named_parameters())
    pairs = [(named["readout.weight"], ref.Wo)]
    for i in range(LAYERS):
        pairs.append((named[f"snn.layers.{i}.w_in.weight"], ref.W[i]))
        if ref.kind == "v2":
            pairs.append((named[f"snn.layers.{i}.w_rec.weight"], ref.U[i]))
        if ref.kind == "traditional":
            pairs.append((named[f"snn.layers.{i}.beta"], ref.tau[i]))
    return pairs


CASES = [
    ("v2", 1, 0),
    ("v2", 3, 0),
    ("v2", 5, 0),
    ("v2", 6, 3),
    ("v2", 32, 0),
    ("v1", 6, 3),
    ("v1", 32, 0),
    ("traditional", 6, 3),
    ("traditional", 3, 0),
]


@pytest.mark.parametrize("kind,bits,thr", CASES)
def test_equal_to_the_reference_in_training_and_eval(kind, bits, thr):
    ref = Reference(kind, bits, thr)
    ours = _ours(kind, bits, thr)
    ours.load_state_dict(ref.theirs(), strict=True)
    x0 = torch.randn(T, B, F, generator=torch.Generator().manual_seed(7))
    # before any training batch the tracked range is 0: every spike is 0
    ours.eval()
    assert torch.all(ours.snn(x0) == 0)
    assert (ours(x0) - ref.forward(x0, False)[0]).abs().max() < 1e-9
    opt_ours = torch.optim.SGD(ours.parameters(), lr=0.05)
    opt_ref = torch.optim.SGD(ref.params(), lr=0.05)
    labels = torch.randint(
        0, N_OUT, (T * B,), generator=torch.Generator().manual_seed(3)
    )
    ours.train()
    for step in range(4):
        x = torch.randn(T, B, F, generator=torch.Generator().manual_seed(step)) * 2
        torch.manual_seed(100 + step)
        a = ours(x)
        torch.manual_seed(100 + step)
        b, _ = ref.forward(x, True)
        assert (a - b).abs().max() < 1e-9, step
        for opt, out in ((opt_ours, a), (opt_ref, b)):
            opt.zero_grad()
            torch.nn.functional.nll_loss(out, labels).backward()
        for p_ours, p_ref in _pairs(ours, ref):
            assert (p_ours.grad - p_ref.grad).abs().max() < 1e-9
        opt_ours.step()
        opt_ref.step()
    # EMA buffers and batch-norm statistics agree too, in the authors' names
    mine = to_authors_state_dict(ours)
    for key, value in ref.theirs().items():
        err = (mine[key].to(value.dtype) - value).abs() / value.abs().clamp(min=1)
        assert err.max() < 1e-9, key
    ours.eval()
    x = torch.randn(T, B, F, generator=torch.Generator().manual_seed(11))
    assert (ours(x) - ref.forward(x, False)[0]).abs().max() < 1e-9
    if bits == 1:
        assert torch.all(ours.snn(x) == 0)
    else:
        assert torch.any(ours.snn(x) != 0)


@pytest.mark.parametrize("kind", ["v1", "v2"])
def test_full_precision_without_do_edat_is_their_current(kind):
    ref = Reference(kind, 6, 3, do_edat=False)
    ours = _ours(kind, 6, 3, do_edat=False)
    ours.load_state_dict(ref.theirs(), strict=True)
    x = torch.randn(T, B, F, generator=torch.Generator().manual_seed(5))
    torch.manual_seed(9)
    a = ours.train()(x)
    torch.manual_seed(9)
    assert (a - ref.forward(x, True)[0]).abs().max() < 1e-9
    assert (ours.eval()(x) - ref.forward(x, False)[0]).abs().max() < 1e-9


def _their_tally(kind: str, events: list[torch.Tensor]) -> float:
    """Their forward-mode op count of one utterance (B = 1), from the events."""
    nnz = [(e != 0).sum(-1).double() for e in events]  # [T, B] per stage
    g, const = (1, 6) if kind == "traditional" else (2, 8)
    ops = g * nnz[0] * H
    for i in range(1, LAYERS + 1):
        ops = ops + (nnz[i] * N_OUT if i == LAYERS else g * nnz[i] * H) + const * H
        if kind != "traditional":
            ops = ops + g * nnz[i - 1] * H
    return float(ops.sum())


@pytest.mark.parametrize(
    "kind,bits,thr", [("v2", 6, 3), ("v1", 3, 0), ("traditional", 6, 3)]
)
def test_op_counts_equal_their_forward_mode_tally(kind, bits, thr):
    ref = Reference(kind, bits, thr)
    ours = _ours(kind, bits, thr)
    ours.load_state_dict(ref.theirs(), strict=True)
    ours.train()
    torch.manual_seed(0)
    ref.forward(torch.randn(T, B, F) * 2, True)
    ours.load_state_dict(ref.theirs(), strict=True)  # trained ranges, same in both
    ours.eval()
    x = torch.randn(T, 1, F, generator=torch.Generator().manual_seed(4))
    _, events = ref.forward(x, False)
    with count_ops(ours) as counter:
        ours(x)
    summary = summarize(counter.records())
    tally = tally_from_summary(summary, N_OUT)["model"] * summary["frames"]
    assert tally == pytest.approx(_their_tally(kind, events), rel=1e-12)


def test_one_bit_warns_once_and_says_why(monkeypatch):
    monkeypatch.setattr(spike_mod, "_ONE_BIT_WARNED", False)
    opts = {
        "hidden_size": "4",
        "num_layers": "1",
        "dropout": "0",
        "use_bn": "True",
        "do_edat": "True",
        "n_bits": "1",
        "threshold": "0",
        "momentum": "0.1",
        "output_size": "3",
    }
    with pytest.warns(UserWarning, match="every spike .* is 0") as record:
        pk.ImprovedSpikingModelV2(opts, 5)
        pk.ImprovedSpikingModelV2(opts, 5)
    assert len([w for w in record if "n_bits=1" in str(w.message)]) == 1


@pytest.mark.parametrize("kind", ["traditional", "v1", "v2"])
def test_their_checkpoint_file_loads_strictly_and_round_trips(kind, tmp_path):
    from pytorch_kaldi_snn.runner.checkpoint import load_checkpoint, save_checkpoint

    ref = Reference(kind, 6, 3)
    torch.manual_seed(1)
    ref.forward(torch.randn(T, B, F), True)  # trained ranges and statistics
    theirs = ref.theirs()
    path = tmp_path / "final_architecture1.pkl"  # their .pkl layout
    save_checkpoint(str(path), theirs, {})
    ours = _ours(kind, 6, 3, to_do="forward")
    ours.load_state_dict(load_checkpoint(str(path))["model_par"], strict=True)
    x = torch.randn(T, B, F, generator=torch.Generator().manual_seed(2))
    assert (ours.eval()(x) - ref.forward(x, False)[0]).abs().max() < 1e-9
    back = to_authors_state_dict(ours)
    assert sorted(back) == sorted(theirs)
    assert all(torch.equal(back[k].to(v.dtype), v) for k, v in theirs.items())
    # our own naming still loads strictly (the hook only acts on theirs)
    again = _ours(kind, 6, 3)
    again.load_state_dict(ours.state_dict(), strict=True)


def test_a_checkpoint_of_another_kind_is_refused():
    ours = _ours("v1", 6, 3)
    with pytest.raises(RuntimeError, match="w_rec"):
        ours.load_state_dict(Reference("v2", 6, 3).theirs(), strict=True)
