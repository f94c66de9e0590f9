r"""A trained SNN (+ its frame-wise head) as TorchScript; the ``pytorch-kaldi-snn
export`` command is :mod:`pytorch_kaldi_snn.export_cli` (which also writes ONNX through
:mod:`pytorch_kaldi_snn.export_onnx`, a module that builds on this one).

The exported module has no Python dependency on this package:

- ``forward(x [T, B, F]) -> out [T, B, C]``: the whole sequence from the zero state;
- ``step(x_t [B, F], state [B, S]) -> (out_t [B, C], state)``, the streaming form;
- ``initial_state(batch) -> [B, S]`` zeros, ``S`` = the packed (encoder u, e) and, per
  layer, (I, V, Y).

The frame step is traced from pure tensor operations: the layers' own linear and
eval batch-norm arithmetic, the reference step functions of
:mod:`pytorch_kaldi_snn.functional.neurons`, and the quantisers written out with the
same operations as their autograd Functions (``floor``/``clamp``/``where``), so the
export reproduces the eval forward (and the posteriors of the head that follows it).
The time loop around it is scripted, so any length and batch size work.

From a cfg: ``pytorch-kaldi-snn export EXP.cfg --out model.pt`` builds the [model]
program's architectures, loads ``<out_folder>/exp_files/final_<section>.pkl`` (or
``--checkpoint SECTION=PATH``) and exports the chain ``compute(SNN, features)`` ->
``compute(head, ...)`` up to ``--output`` (default: the first ``forward_out``).
``--out model.onnx`` writes ``model.onnx`` and ``model.step.onnx`` instead, checked with
ONNX Runtime before they are written.
"""

from __future__ import annotations

import logging
import os

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pytorch_kaldi_snn.errors import ConfigError, DataError, SnnKaldiError
from pytorch_kaldi_snn.fileio import atomic_path
from pytorch_kaldi_snn.functional import neurons
from pytorch_kaldi_snn.functional.neurons import NeuronState
from pytorch_kaldi_snn.nn.layers import SNNStack, SpikingLayer
from pytorch_kaldi_snn.nn.spike import MultiBitSpike, SymmetricSpike
from pytorch_kaldi_snn.nn.streaming import _stack_of

log = logging.getLogger(__name__)



def _multibit(v: Tensor, b: Tensor, n_bits: int | None, k: int) -> Tensor:
    """Eq. 22 with the operations of ``functional.spike._MultiBitSpike.forward``."""
    if n_bits is None:
        return torch.relu(v)
    levels = 2**n_bits
    step = b / levels
    q = torch.floor(v / step).clamp(0, levels - 1)
    return torch.where(v > k * step, q * step, torch.zeros((), dtype=v.dtype))


def _symmetric(v: Tensor, max_abs: Tensor, scale: Tensor, threshold: float) -> Tensor:
    """The authors' quantiser with the operations of ``_SymmetricSpike.forward``;
    ``trunc`` is written as ceil/floor by sign (the same values) because ONNX has no
    Trunc operator."""
    z = scale * torch.minimum(torch.maximum(v, -max_abs), max_abs)
    q = torch.where(z < 0, torch.ceil(z), torch.floor(z))
    q = torch.where(q.abs() <= threshold, torch.zeros_like(q), q)
    return q / scale


def _spike_fn(spike: nn.Module):
    if type(spike) is MultiBitSpike:
        b = spike.range.detach().clone()
        return lambda v: _multibit(v, b.to(v.dtype), spike.n_bits, spike.k)
    if type(spike) is SymmetricSpike:
        m = spike.max_abs().detach().clone()
        scale = spike.q_scale.detach().clone()
        return lambda v: _symmetric(v, m.to(v.dtype), scale.to(v.dtype),
                                    spike.threshold)
    raise DataError(f"cannot export the spike activation {type(spike).__name__}")


class _FrameStep(nn.Module):
    """One frame of the stack (+ head) on a packed state; traced by :func:`export`."""

    def __init__(self, stack: SNNStack, head: nn.Module | None) -> None:
        super().__init__()
        self.stack = stack
        self.head = head
        self.sizes = [layer.hidden_size for layer in stack.layers]
        self.enc = stack.encoder is not None
        self.enc_size = stack.input_size if self.enc else 0
        self.spikes = [_spike_fn(layer.spike) for layer in stack.layers]
        self.enc_spike = _spike_fn(stack.encoder.spike) if self.enc else None

    def state_size(self) -> int:
        return 2 * self.enc_size + 3 * sum(self.sizes)

    def forward(self, x_t: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        parts = []
        pos = 0
        h = x_t
        if self.enc:
            u = state[:, pos:pos + self.enc_size]
            e = state[:, pos + self.enc_size:pos + 2 * self.enc_size]
            pos += 2 * self.enc_size
            u = u + x_t - e
            e = self.enc_spike(u)
            parts += [u, e]
            h = e
        for layer, size, spike in zip(self.stack.layers, self.sizes, self.spikes):
            s = NeuronState(*(state[:, pos + j * size:pos + (j + 1) * size]
                              for j in range(3)))
            pos += 3 * size
            h, s = _layer_step(layer, h, s, spike)
            parts += [s.i, s.v, s.y]
        out = self.head(h) if self.head is not None else h
        return out, torch.cat(parts, dim=1)


def _layer_step(layer: SpikingLayer, x: Tensor, s: NeuronState, spike
                ) -> tuple[Tensor, NeuronState]:
    pre = F.linear(x, layer.w_in.weight, layer.w_in.bias)
    if layer.bn is not None:
        bn = layer.bn
        pre = F.batch_norm(pre, bn.running_mean, bn.running_var, bn.weight, bn.bias,
                           False, 0.0, bn.eps)
    alpha, beta = layer.decays()
    if layer.kind == "traditional":
        return neurons.traditional_step(pre, s, beta, alpha, spike)
    f_pre, c_pre = pre.chunk(2, dim=-1)
    if layer.kind == "v1":
        return neurons.improved_v1_step(f_pre, c_pre, s, alpha, spike)
    return neurons.improved_v2_step(f_pre, c_pre, s, layer.w_rec.weight.t(), alpha,
                                    spike)


class _Exported(nn.Module):
    """Scripted wrapper: the time loop around the traced frame step."""

    def __init__(self, step: nn.Module, state_size: int, input_size: int) -> None:
        super().__init__()
        self.frame = step
        self.state_size = state_size
        self.input_size = input_size

    def forward(self, x: Tensor) -> Tensor:
        state = torch.zeros(x.shape[1], self.state_size, dtype=x.dtype, device=x.device)
        outs: list[Tensor] = []
        for t in range(x.shape[0]):
            y, state = self.frame(x[t], state)
            outs.append(y)
        return torch.stack(outs)

    @torch.jit.export
    def step(self, x_t: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        return self.frame(x_t, state)

    @torch.jit.export
    def initial_state(self, batch: int) -> Tensor:
        return torch.zeros(batch, self.state_size)


def export_model(model: nn.Module,
                 head: nn.Module | None = None) -> torch.jit.ScriptModule:
    """TorchScript of ``model``'s spiking stack (+ a frame-wise ``head``), eval mode."""
    stack = _stack_of(model)
    model.eval()
    if head is not None:
        head.eval()
    step = _FrameStep(stack, head).eval()
    param = next(stack.parameters())
    example = (torch.zeros(2, stack.input_size, dtype=param.dtype),
               torch.zeros(2, step.state_size(), dtype=param.dtype))
    with torch.no_grad():
        traced = torch.jit.trace(step, example, check_trace=False)
    return torch.jit.script(_Exported(traced, step.state_size(), stack.input_size))


def save_scripted(module: torch.jit.ScriptModule, path: str) -> None:
    """Atomic ``torch.jit.save``: a temporary name in the same folder, then rename."""
    with atomic_path(path) as tmp:
        torch.jit.save(module, tmp)


def _feature_dim(cfg, fea_name: str) -> int:
    """Dim of ``fea_name`` as the network sees it: the first utterance of the first
    dataset through its ``fea_opts`` pipeline (deltas included) and context window."""
    from pytorch_kaldi_snn.runner.features import list_utterances, load_features

    for ds in cfg.datasets.values():
        for fea in ds.fea:
            if fea.fea_name != fea_name:
                continue
            try:
                first = list_utterances(fea.fea_lst)[:1]
                table = load_features(fea.fea_lst, fea.fea_opts, fea.cw_left,
                                      fea.cw_right, first, section=ds.section)
                return int(table[first[0]].shape[1])
            except Exception as exc:
                raise DataError(f"{fea.fea_lst}: cannot read features ({exc}); "
                                f"pass --feat-dim") from exc
    raise ConfigError("no dataset has this feature", file=cfg.path, key="fea_name",
                      value=fea_name)


def _chain(cfg, output: str):
    """The compute statements from the features to ``output``: [(out, arch, arg)]."""
    by_out = {s.out: s for s in cfg.model.statements}
    chain = []
    name = output
    while name in by_out:
        s = by_out[name]
        if s.op != "compute":
            raise ConfigError("export follows compute(...) statements only",
                              file=cfg.path, section="model", key=s.out, value=s.op,
                              allowed="compute")
        chain.append(s)
        name = s.args[1]
    if not chain:
        raise ConfigError("not an output of the [model] program", file=cfg.path,
                          section="model", key="output", value=output)
    return list(reversed(chain)), name


def _forward_options(cfg, section: str, n_out: dict[str, int]):
    """The arch section as the runner hands it to a class in the forward stage:
    ``N_out_<lab>`` replaced, ``*_drop`` schedules at the last epoch."""
    import configparser

    from pytorch_kaldi_snn.runner.plan import _layer_schedules

    parser = configparser.ConfigParser(interpolation=None)
    parser.read_dict({s: dict(cfg.parser[s]) for s in cfg.parser.sections()})
    options = parser[section]
    n_ep = cfg.exp.n_epochs_tr
    for key in list(options.keys()):
        value = options[key]
        for lab, n in sorted(n_out.items(), key=lambda kv: -len(kv[0])):
            value = value.replace(f"N_out_{lab}", str(n))
        if "N_out_" in value:
            raise ConfigError("pass the number of outputs with --n-out LAB=N (the "
                              "training alignments could not be read)",
                              file=cfg.path, section=section, key=key, value=value)
        if "_drop" in key:
            value = _layer_schedules(value, n_ep, n_ep - 1, key, section)
        options[key] = value
    options["use_cuda"] = "False"
    # not "forward": that would attach the operation counter, whose JSON writer
    # (ops.hostlog) would overwrite the run's forward_ops.json with the export's checks
    options["to_do"] = "export"
    return options


def _resolve_n_out(cfg, n_out: dict[str, int]) -> dict[str, int]:
    """``N_out_<lab>`` values not given on the command line, read from the training
    alignments as the runner reads them (left out when they cannot be read)."""
    from pytorch_kaldi_snn.runner.data import LabSpec
    from pytorch_kaldi_snn.runner.plan import _n_out

    n_out = dict(n_out)
    try:
        train = cfg.datasets[cfg.data_use.train_with[0]]
    except (AttributeError, KeyError, IndexError):
        return n_out
    cache: dict = {}
    for lb in train.lab:
        if lb.lab_name in n_out or lb.lab_name == "none":
            continue
        spec = LabSpec(lb.lab_name, lb.lab_folder, lb.lab_opts, lb.lab_count_file,
                       lb.lab_data_folder, lb.lab_graph)
        try:
            n_out[lb.lab_name] = _n_out(spec, cache)
        except (OSError, ValueError, SnnKaldiError) as exc:
            log.info("N_out_%s not read from %s (%s)", lb.lab_name, lb.lab_folder, exc)
    return n_out


def model_from_cfg(cfg_path: str, output: str | None = None,
                   feat_dim: int | None = None,
                   checkpoints: dict[str, str] | None = None,
                   n_out: dict[str, int] | None = None,
                   ) -> tuple[nn.Module, nn.Module | None]:
    """(SNN module, frame-wise head or None) of a trained cfg, weights loaded."""
    from pytorch_kaldi_snn.runner.archs import build_arch
    from pytorch_kaldi_snn.runner.checkpoint import load_checkpoint
    from pytorch_kaldi_snn.runner.config import load_config

    cfg = load_config(cfg_path)
    if output is None:
        outs = (cfg.forward.forward_out.split(",") if cfg.forward is not None else [])
        output = outs[0].strip() if outs else cfg.model.statements[-1].out
    chain, fea_name = _chain(cfg, output)
    dim = feat_dim if feat_dim is not None else _feature_dim(cfg, fea_name)
    checkpoints = dict(checkpoints or {})
    n_out = _resolve_n_out(cfg, n_out or {})
    nets = []
    for s in chain:
        arch = cfg.archs[s.args[0]]
        options = _forward_options(cfg, arch.section, n_out)
        net = build_arch(arch.cls, options, dim, section=arch.section, file=cfg.path)
        path = checkpoints.pop(arch.section, None) or os.path.join(
            cfg.exp.out_folder, "exp_files", f"final_{arch.section}.pkl")
        state = load_checkpoint(path)["model_par"]
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise DataError(f"{path}: does not fit {arch.section} ({exc})") from exc
        nets.append(net.eval())
        dim = net.out_dim
    if checkpoints:
        raise ConfigError("unknown architecture section", file=cfg.path,
                          key="--checkpoint", value=",".join(checkpoints),
                          allowed=", ".join(a.section for a in cfg.archs.values()))
    first, rest = nets[0], nets[1:]
    _stack_of(first)  # a clear error when the first architecture is not an SNN
    head = nn.Sequential(*rest) if rest else None
    return first, head
