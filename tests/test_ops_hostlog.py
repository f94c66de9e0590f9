"""Operation counts written from inside PyTorch-Kaldi's forward stage."""

from __future__ import annotations

import configparser
import json
from pathlib import Path

import torch
from torch import nn

from pytorch_kaldi_snn.ops import costs
from pytorch_kaldi_snn.ops.hostlog import maybe_attach


class _Net(nn.Module):
    """A PyTorch-Kaldi style arch: (options, inp_dim), calls maybe_attach last."""

    def __init__(self, options: configparser.SectionProxy, inp_dim: int) -> None:
        super().__init__()
        self.rnn = nn.GRU(inp_dim, 6)
        self.out_dim = 6
        self.counter = maybe_attach(self, options)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x)[0]


def _options(tmp_path: Path, to_do: str, chunk: int) -> configparser.SectionProxy:
    cp = configparser.ConfigParser()
    info = tmp_path / "exp_files" / f"forward_TEST_ep3_ck{chunk}.info"
    cp.read_dict({
        "exp": {"out_folder": str(tmp_path), "out_info": str(info)},
        "architecture1": {"arch_name": "snn", "to_do": to_do, "use_cuda": "False"},
    })
    return cp["architecture1"]


def test_forward_stage_writes_counts_across_chunks(tmp_path: Path) -> None:
    path = tmp_path / "exp_files" / "forward_TEST_ep3_ops.json"
    net = _Net(_options(tmp_path, "forward", 0), 4)
    net(torch.randn(5, 1, 4))
    net(torch.randn(3, 1, 4))
    data = json.loads(path.read_text())
    section = data["sections"]["architecture1"]
    assert list(section["chunks"]) == ["ck0"]
    assert section["summary"]["frames"] == 8

    net1 = _Net(_options(tmp_path, "forward", 1), 4)
    net1(torch.randn(2, 1, 4))
    section = json.loads(path.read_text())["sections"]["architecture1"]
    assert sorted(section["chunks"]) == ["ck0", "ck1"]
    assert section["summary"]["frames"] == 10
    per_frame = costs.gru_layer_cost(4, 6, "torch").mults
    assert section["summary"]["totals"]["network"]["mults"] == per_frame

    rerun = _Net(_options(tmp_path, "forward", 0), 4)  # a re-run replaces ck0
    rerun(torch.randn(1, 1, 4))
    section = json.loads(path.read_text())["sections"]["architecture1"]
    assert section["summary"]["frames"] == 3
    assert not list(path.parent.glob(".tmp-*"))


def test_train_and_valid_attach_nothing(tmp_path: Path) -> None:
    for to_do in ("train", "valid"):
        net = _Net(_options(tmp_path, to_do, 0), 4)
        assert net.counter is None and not net._forward_hooks
        net(torch.randn(2, 1, 4))
    assert not (tmp_path / "exp_files").exists()


def test_state_dict_keys_identical_in_all_modes(tmp_path: Path) -> None:
    keys = {
        to_do: set(_Net(_options(tmp_path, to_do, 0), 4).state_dict())
        for to_do in ("train", "valid", "forward")
    }
    assert keys["train"] == keys["valid"] == keys["forward"]
