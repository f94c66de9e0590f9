"""The [model] language: parse, validate, build with the right inp_dim, execute."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pytorch_kaldi_snn.errors import ConfigError
from pytorch_kaldi_snn.runner.model_lang import parse_model, validate_model

PROGRAM = """
h1=compute(rnn,mfcc)
h2=compute(rnn2,fbank)
both=concatenate(h1,h2)
out=compute(head,both)
loss_a=cost_nll(out,lab_cd)
loss_b=cost_nll(out,lab_mono)
halfsum=sum(loss_a,loss_b)
loss_final=mult_constant(halfsum,0.5)
err_final=cost_err(out,lab_cd)
"""


class Seq(nn.Module):
    """[T, B, F] -> [T, B, H], records the input shape."""

    def __init__(self, inp_dim: int, out_dim: int):
        super().__init__()
        self.lin = nn.Linear(inp_dim, out_dim)
        self.out_dim = out_dim
        self.seen = None

    def forward(self, x):
        self.seen = tuple(x.shape)
        return torch.tanh(self.lin(x))


class Head(Seq):
    def forward(self, x):
        self.seen = tuple(x.shape)
        return torch.log_softmax(self.lin(x), dim=-1)


def _built():
    prog = parse_model(PROGRAM).bind(fea_dims={"mfcc": 5, "fbank": 3},
                                     seq_models={"rnn": True, "rnn2": True,
                                                 "head": False})
    calls = []

    def make(name, inp_dim):
        calls.append((name, inp_dim))
        return {"rnn": Seq(inp_dim, 4), "rnn2": Seq(inp_dim, 2),
                "head": Head(inp_dim, 7)}[name]

    return prog, prog.build(make), calls


def test_build_passes_inp_dims_in_program_order():
    prog, _nets, calls = _built()
    assert calls == [("rnn", 5), ("rnn2", 3), ("head", 6)]
    assert prog.arch_names() == ["rnn", "rnn2", "head"]
    assert prog.label_names() == ["lab_cd", "lab_mono"]
    assert prog.input_names() == ["mfcc", "fbank"]


def test_run_matches_hand_computation_on_masked_frames():
    torch.manual_seed(0)
    prog, nets, _ = _built()
    T, B = 6, 3
    feats = {"mfcc": torch.randn(T, B, 5), "fbank": torch.randn(T, B, 3)}
    mask = torch.ones(T, B, dtype=torch.bool)
    mask[4:, 1] = False
    mask[2:, 2] = False
    lab_cd = torch.randint(0, 7, (T, B))
    lab_mono = torch.randint(0, 7, (T, B))
    lab_cd[~mask] = -1
    lab_mono[~mask] = -1
    outs = prog.run(nets, feats, {"lab_cd": lab_cd, "lab_mono": lab_mono}, mask)
    assert nets["rnn"].seen == (T, B, 5)
    assert nets["head"].seen == (T * B, 6)  # a non-sequence arch gets [T*B, F]
    logp = outs["out"].reshape(T, B, 7)
    want_a = -logp[mask].gather(1, lab_cd[mask][:, None]).mean()
    want_b = -logp[mask].gather(1, lab_mono[mask][:, None]).mean()
    torch.testing.assert_close(outs["loss_a"], want_a)
    torch.testing.assert_close(outs["loss_final"], 0.5 * (want_a + want_b))
    want_err = (logp[mask].argmax(-1) != lab_cd[mask]).float().mean()
    torch.testing.assert_close(outs["err_final"], want_err)
    outs["loss_final"].backward()
    assert nets["rnn2"].lin.weight.grad.abs().sum() > 0


def test_forward_mode_skips_costs_and_stops():
    prog, nets, _ = _built()
    feats = {"mfcc": torch.randn(4, 2, 5), "fbank": torch.randn(4, 2, 3)}
    mask = torch.ones(4, 2, dtype=torch.bool)
    outs = prog.run(nets, feats, {}, mask, stop_after="out")
    assert outs["out"].shape == (8, 7) and "loss_final" not in outs
    # without labels, costs and what is computed from them are skipped
    outs = prog.run(nets, feats, {}, mask)
    assert "out" in outs and not {"loss_a", "halfsum", "loss_final"} & set(outs)


def test_elementwise_operations():
    prog = parse_model("a=sum_constant(x,1.5)\nb=mult(a,x)\nc=avg(a,b)\n"
                       "d=mse(c,x)\nloss_final=sum(d,d)\nerr_final=mult(d,d)")
    x = torch.arange(6.0).reshape(3, 2, 1)
    outs = prog.run({}, {"x": x}, {}, torch.ones(3, 2, dtype=torch.bool))
    a = x + 1.5
    b = a * x
    c = (a + b) / 2
    torch.testing.assert_close(outs["d"], torch.mean((c - x) ** 2))
    torch.testing.assert_close(outs["loss_final"], 2 * outs["d"])


def test_validation_names_what_is_wrong():
    prog = parse_model(PROGRAM)
    validate_model(prog, archs=["rnn", "rnn2", "head"], features=["mfcc", "fbank"],
                   labels=["lab_cd", "lab_mono"])
    with pytest.raises(ConfigError, match="unknown label 'lab_mono'"):
        validate_model(prog, archs=["rnn", "rnn2", "head"],
                       features=["mfcc", "fbank"], labels=["lab_cd"])
    with pytest.raises(ConfigError, match="'fbank' is used before"):
        validate_model(prog, archs=["rnn", "rnn2", "head"], features=["mfcc"],
                       labels=["lab_cd", "lab_mono"])
    twice = parse_model("h=compute(a,x)\nh=compute(a,h)\nloss_final=cost_nll(h,l)\n"
                        "err_final=cost_err(h,l)")
    with pytest.raises(ConfigError, match="defined twice"):
        validate_model(twice, archs=["a"], features=["x"], labels=["l"])


@pytest.mark.parametrize("text,match", [
    ("", "empty"),
    ("h=compute(a)", "two arguments"),
    ("h=mult_constant(x,big)", "needs a number"),
    ("h compute(a,x)", "not a statement"),
    ("h=pool(a,x)", "unknown operation"),
])
def test_syntax_errors(text, match):
    with pytest.raises(ConfigError, match=match):
        parse_model(text)


def test_build_without_feature_dims_is_a_clear_error():
    prog = parse_model("h=compute(a,x)\nloss_final=cost_nll(h,l)\n"
                       "err_final=cost_err(h,l)")
    with pytest.raises(ConfigError, match="dimension of 'x' is unknown"):
        prog.build(lambda name, dim: Seq(dim, 2))
