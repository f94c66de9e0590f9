"""The PyTorch-Kaldi contract of our six classes, built from real cfg sections."""

from __future__ import annotations

import configparser
import tempfile
from pathlib import Path

import pytest
import torch

from pytorch_kaldi_snn import pytorch_kaldi as pk
from pytorch_kaldi_snn.errors import ConfigError, DataError
from pytorch_kaldi_snn.proto import check_section, read_proto

ROOT = Path(__file__).resolve().parents[1]
SNN = ["SNN_traditional", "SNN_v1", "SNN_v2"]
AUTHORS = [
    "TraditionalSpikingModel",
    "ImprovedSpikingModelV1",
    "ImprovedSpikingModelV2",
]
AUTHORS_OPTIONS = {
    "hidden_size": "16",
    "num_layers": "2",
    "dropout": "0.2",
    "use_bn": "True",
    "do_edat": "True",
    "n_bits": "6",
    "threshold": "3",
    "momentum": "0.1",
    "output_size": "11",
    "learn_tau": "True",
}


def _template_section(cls: str, to_do: str, small: bool = True):
    """The SNN arch section of cfg/TIMIT_<cls>.cfg, as the host hands it over."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "cfg" / f"TIMIT_{cls}.cfg")
    # the forward stage writes operation counts under [exp] out_folder
    parser["exp"]["out_folder"] = tempfile.mkdtemp(prefix="pk_contract_")
    name = next(
        s
        for s in parser.sections()
        if s.startswith("architecture") and parser[s]["arch_class"] == cls
    )
    sec = parser[name]
    if small:
        sec["snn_lay"] = "12,9"
    sec["use_cuda"] = "False"
    sec["to_do"] = to_do
    return sec


def _authors_section(cls: str, to_do: str):
    parser = configparser.ConfigParser(interpolation=None)
    parser["architecture1"] = dict(
        AUTHORS_OPTIONS, arch_class=cls, to_do=to_do, use_cuda="False"
    )
    return parser["architecture1"]


def _build(cls, to_do):
    sec = _template_section(cls, to_do) if cls in SNN else _authors_section(cls, to_do)
    return getattr(pk, cls)(sec, 13)


@pytest.mark.parametrize("cls", SNN + AUTHORS)
def test_contract(cls):
    torch.manual_seed(0)
    nets = {t: _build(cls, t) for t in ("train", "valid", "forward")}
    keys = {t: list(n.state_dict()) for t, n in nets.items()}
    assert keys["train"] == keys["valid"] == keys["forward"]
    assert any(p.requires_grad for p in nets["train"].parameters())
    net = nets["train"].train()
    x = torch.randn(15, 4, 13)
    out = net(x)
    if cls in SNN:
        assert net.out_dim == 9 and out.shape == (15, 4, 9)
    else:
        assert net.out_dim == 11 and out.shape == (60, 11)
        assert torch.allclose(out.exp().sum(-1), torch.ones(60), atol=1e-4)
    assert out.is_contiguous()
    out.sum().backward()
    # the next chunk rebuilds the net and loads strictly; buffers (ranges) survive
    fresh = _build(cls, "forward")
    fresh.load_state_dict(net.state_dict(), strict=True)
    net.eval()
    fresh.eval()
    with torch.no_grad():
        assert torch.equal(net(x), fresh(x))
    if cls in SNN:  # upstream's forward stage: counts land next to the forward output
        sec = _template_section(cls, "forward")
        counted = getattr(pk, cls)(sec, 13).eval()
        with torch.no_grad():
            counted(x)
        out_folder = Path(sec.parser["exp"]["out_folder"])
        assert list(out_folder.rglob("*ops*.json")), f"no counts under {out_folder}"


@pytest.mark.parametrize("cls", SNN + AUTHORS)
def test_proto_accepts_the_options_we_ship(cls):
    proto = read_proto(str(ROOT / "proto" / f"{cls}.proto"))
    sec = (
        _template_section(cls, "train")
        if cls in SNN
        else _authors_section(cls, "train")
    )
    check_section(sec, proto, section_name=cls)
    for key in proto:  # every proto key is read by the class
        broken = dict(sec)
        broken[key] = "@@bad@@"
        parser = configparser.ConfigParser(interpolation=None)
        parser["a"] = broken
        with pytest.raises(ConfigError):
            getattr(pk, cls)(parser["a"], 13)


@pytest.mark.parametrize(
    "key,value,match",
    [
        ("snn_n_bits", "17", "snn_n_bits"),
        ("snn_threshold_k", "64", "threshold above the range"),
        ("snn_drop", "0.1", "one entry per layer"),
        ("snn_use_batchnorm", "yes,no", "snn_use_batchnorm"),
        ("snn_lay", "12,x", "snn_lay"),
        ("snn_input_encoding", "delta", "sigma_delta"),
        ("snn_typo", "1", "unknown option"),
    ],
)
def test_bad_options_name_class_key_value_and_allowed(key, value, match):
    sec = _template_section("SNN_v2", "train")
    sec[key] = value
    with pytest.raises(ConfigError, match=match) as err:
        pk.SNN_v2(sec, 13)
    text = str(err.value)
    assert "SNN_v2" in text and key in text and value in text and "allowed" in text


@pytest.mark.parametrize("cls", ["SNN_v1", "ImprovedSpikingModelV2"])
def test_inp_dim_mismatch_is_reported(cls):
    net = _build(cls, "train")
    with pytest.raises(DataError, match=r"\[T, B, 13\]") as err:
        net(torch.zeros(4, 2, 40))
    assert cls in str(err.value) and "inp_dim=13" in str(err.value)
    net(torch.zeros(8, 13))  # a 2-D [T*B, F] input is one frame per row


def test_inp_dim_must_be_positive():
    with pytest.raises(ConfigError, match="inp_dim"):
        pk.SNN_v1(_template_section("SNN_v1", "train"), 0)


def test_full_size_template_builds_the_paper_network():
    net = pk.SNN_v2(_template_section("SNN_v2", "train", small=False), 40)
    assert [layer.hidden_size for layer in net.snn.layers] == [550, 550]
    assert net.snn.layers[0].spike.n_bits == 6 and net.snn.layers[0].spike.k == 4
