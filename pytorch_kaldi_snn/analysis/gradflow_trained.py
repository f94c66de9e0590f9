"""Gradient flow through time in a *trained* experiment folder.

The same measure as :mod:`.gradflow` (g(d) = ||d(u . s) / d x[T-1-d]||, s the last
frame's synaptic current I of the first spiking layer, the cell state c of the first
LSTM layer, the hidden state h of the first GRU layer), taken on the trained weights
of ``<exp>/exp_files/final_architecture1.pkl`` in eval mode (batch norm with its
running statistics, no dropout, the spike range b frozen) and on real inputs: windows
of ``frames`` frames from the cfg's first forward dataset, with its feature pipeline
(CMVN, deltas, context window), each starting from a zero state.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from pytorch_kaldi_snn.analysis.gradflow import FlowCurve, input_gradient_norms
from pytorch_kaldi_snn.errors import ConfigError, DataError

KINDS = {"traditional": "traditional", "v1": "v1", "v2": "v2"}


def _first_arch(exp: str) -> nn.Module:
    """architecture1 of ``<exp>/exp.cfg`` with its final trained weights."""
    from pytorch_kaldi_snn.runner.archs import build_arch, resolve_arch_class
    from pytorch_kaldi_snn.runner.checkpoint import load_checkpoint

    cfg = os.path.join(exp, "exp.cfg")
    ckpt = os.path.join(exp, "exp_files", "final_architecture1.pkl")
    for path in (cfg, ckpt):
        if not os.path.isfile(path):
            raise DataError(f"{path}: not found; --exp needs a trained experiment "
                            "folder (exp.cfg and exp_files/final_architecture1.pkl)")
    cp = configparser.ConfigParser(interpolation=None)
    cp.read(cfg)
    if not cp.has_section("architecture1"):
        raise ConfigError("no [architecture1] section", file=cfg)
    state = load_checkpoint(ckpt)
    state = state.get("model_par", state)
    sec = cp["architecture1"]
    sec["to_do"], sec["use_cuda"] = "forward", "False"
    cls = resolve_arch_class(sec.get("arch_library", ""), sec.get("arch_class", ""),
                             section="architecture1", file=cfg)
    inp_dim = _input_dim(state)
    net = build_arch(cls, sec, inp_dim, section="architecture1", file=cfg)
    net.load_state_dict(state, strict=True)
    return net.eval()


def _input_dim(state: dict) -> int:
    """Input size read off the first 2-d input weight of a state dict."""
    for key, value in state.items():
        if key.endswith("weight") and getattr(value, "ndim", 0) == 2 and (
                "w_in" in key or "wx" in key or "weight_ih" in key):
            return int(value.shape[1])
    raise DataError("cannot find the input weight in the checkpoint")


StateFn = Callable[[torch.Tensor], torch.Tensor]


def first_layer_state(net: nn.Module) -> tuple[str, StateFn]:
    """``(kind, final_state)`` of the first recurrent layer of a trained stack."""
    from pytorch_kaldi_snn.nn import SpikingLayer

    spiking = [m for m in net.modules() if isinstance(m, SpikingLayer)]
    if spiking:
        layer = spiking[0]
        encoder = getattr(next((m for m in net.modules() if hasattr(m, "encoder")),
                               None), "encoder", None)

        def final(x: torch.Tensor) -> torch.Tensor:
            if encoder is not None:
                x = encoder(x)
            return layer.run(x)[1].i

        return KINDS.get(layer.kind, layer.kind), final
    kind = type(net).__name__.lower()
    if kind not in ("lstm", "gru") or not hasattr(net, "wx"):
        raise DataError(f"grad-flow knows spiking layers and PyTorch-Kaldi LSTM/GRU, "
                        f"not {type(net).__name__}")
    if getattr(net, "fused", False):
        rnn = net.fused_layers[0]

        def final(x: torch.Tensor) -> torch.Tensor:
            out = rnn(net.inp(x))[1]
            return out[1][0] if kind == "lstm" else out[0]

        return kind, final

    def final(x: torch.Tensor) -> torch.Tensor:
        from pytorch_kaldi_snn.pytorch_kaldi.baselines import _rows

        wx = _rows(net.bn[0], net.ln[0](net.wx[0](net.inp(x))))
        size = net.opts.sizes[0]
        h = wx.new_zeros(wx.shape[1], size)
        c = wx.new_zeros(wx.shape[1], size)
        for t in range(wx.shape[0]):
            h, c = net._cell(0, wx[t], h, c, None)
        return c if kind == "lstm" else h

    return kind, final


def real_inputs(exp: str, frames: int, batch: int, seed: int = 0) -> torch.Tensor:
    """``[frames, batch, F]`` windows of the cfg's first forward dataset (one per
    utterance long enough, at a seeded random offset)."""
    from pytorch_kaldi_snn.runner.config import load_config
    from pytorch_kaldi_snn.runner.data import dataset_utterances, load_chunk
    from pytorch_kaldi_snn.runner.plan import plan_from_config

    plan = plan_from_config(load_config(os.path.join(exp, "exp.cfg")))
    names = plan.forward_with or plan.valid_with
    spec = plan.datasets[names[0]]
    utts = dataset_utterances(spec)
    chunk = load_chunk(spec, utts[: 4 * batch], with_labels=False)
    table = next(iter(chunk.features.values()))
    rng = np.random.default_rng(seed)
    wins = []
    for u in chunk.utts:
        mat = table[u]
        if mat.shape[0] >= frames:
            start = int(rng.integers(0, mat.shape[0] - frames + 1))
            wins.append(mat[start:start + frames])
        if len(wins) == batch:
            break
    if not wins:
        raise DataError(f"{spec.name}: no utterance has {frames} frames; use a "
                        "smaller --frames")
    return torch.tensor(np.stack(wins, axis=1), dtype=torch.float32)


def trained_gradient_flow(exp: str, frames: int = 60, batch: int = 16,
                          seed: int = 0) -> FlowCurve:
    """g(d) of the first recurrent layer of the trained experiment ``exp``."""
    net = _first_arch(exp)
    kind, final = first_layer_state(net)
    x = real_inputs(exp, frames, batch, seed)
    norms = input_gradient_norms(final, x, seed).detach().flip(0).numpy()
    label = f"{kind} trained ({os.path.basename(os.path.normpath(exp))})"
    return FlowCurve(model=label, distance=np.arange(x.shape[0]),
                     mean=norms.mean(axis=1), p10=np.percentile(norms, 10, axis=1),
                     p90=np.percentile(norms, 90, axis=1))
