"""``pytorch-kaldi-snn count-ops``: operation and sparsity counts, Table-1 style.

Two ways to name the model:

* ``--arch lstm,gru,traditional,v1,v2 --layers 550,550 --input 40``: fresh stacks
  (random initialisation, eval mode; ``--bits``/``--k`` for the spike);
* ``--cfg FILE``: the ``[architectureN]`` sections of a PyTorch-Kaldi cfg, built with
  their ``arch_library``/``arch_class`` and chained in order (architecture1 reads the
  features, each next one the previous output), weights from ``--checkpoint``.

Inputs are random features (``--utts`` x ``--frames``) or Kaldi features
(``--feats ark:feats.ark`` / ``scp:feats.scp``), one utterance at a time (no padding).
Prints the Table-1 rows and per-layer tables; ``--out DIR`` writes ``ops.json`` and
``ops.csv``.
"""

from __future__ import annotations

import argparse
import configparser
import logging
import os
import re
from collections.abc import Iterator

import torch
from torch import nn
from tqdm import tqdm

from pytorch_kaldi_snn.errors import ConfigError, DataError
from pytorch_kaldi_snn.ops import report
from pytorch_kaldi_snn.ops.counter import count_ops
from pytorch_kaldi_snn.ops.paper import tally_from_summary
from pytorch_kaldi_snn.runner.checkpoint import load_checkpoint, load_model_state

logger = logging.getLogger(__name__)

ARCHS = ("lstm", "gru", "traditional", "v1", "v2")


class _Chain(nn.Module):
    """Modules applied in order; tuple outputs (torch RNNs) give their first item."""

    def __init__(self, *mods: nn.Module) -> None:
        super().__init__()
        self.mods = nn.ModuleList(mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for m in self.mods:
            x = m(x)
            if isinstance(x, tuple):
                x = x[0]
        return x


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise ConfigError("layer sizes must be positive integers", key="--layers",
                          value=text, allowed="e.g. 550,550")
    return sizes


def build_arch(arch: str, input_size: int, sizes: list[int], n_bits: int | None,
               k: int) -> nn.Module:
    """A fresh unidirectional stack of ``arch`` (one module per layer)."""
    if arch in ("lstm", "gru"):
        cls = nn.LSTM if arch == "lstm" else nn.GRU
        dims = [input_size, *sizes]
        return _Chain(*(cls(dims[i], dims[i + 1]) for i in range(len(sizes))))
    try:
        from pytorch_kaldi_snn.nn import MultiBitSpike, SpikingLayer
    except ImportError as exc:
        raise ConfigError(f"spiking layers are not available ({exc})", key="--arch",
                          value=arch, allowed="lstm, gru") from None
    dims = [input_size, *sizes]
    layers = [
        SpikingLayer(dims[i], dims[i + 1], arch, MultiBitSpike(n_bits=n_bits, k=k))
        for i in range(len(sizes))
    ]
    return _Chain(*layers)


def _read_cfg(path: str, overrides: list[str]) -> configparser.ConfigParser:
    """The cfg with ``--section,field=value`` overrides (the runner's reader)."""
    try:
        from pytorch_kaldi_snn.runner.config import read_cfg
    except ImportError:
        read_cfg = None
    if read_cfg is not None:
        return read_cfg(path, overrides)
    if not os.path.isfile(path):
        raise ConfigError("cfg file not found", file=path)
    if overrides:
        raise ConfigError("overrides need pytorch_kaldi_snn.runner", value=overrides[0])
    cp = configparser.ConfigParser(interpolation=None)
    cp.read(path)
    return cp


def build_from_cfg(path: str, inp_dim: int, out_dim: int | None,
                   checkpoints: dict[str, str],
                   overrides: list[str] | None = None) -> nn.Module:
    """The cfg's architectures chained in section order (see the module docstring)."""
    from pytorch_kaldi_snn.runner.archs import build_arch as make
    from pytorch_kaldi_snn.runner.archs import resolve_arch_class

    cp = _read_cfg(path, ["--" + o.lstrip("-") for o in overrides or []])
    names = sorted(
        (s for s in cp.sections() if re.fullmatch(r"architecture\d+", s)),
        key=lambda s: int(s[len("architecture"):]),
    )
    if not names:
        raise ConfigError("no [architectureN] section", file=path)
    nets, dim = [], inp_dim
    for name in names:
        sec = cp[name]
        for key, value in list(sec.items()):
            if "N_out_" in value:
                if out_dim is None:
                    raise ConfigError("needs the number of output classes", file=path,
                                      section=name, key=key, value=value,
                                      allowed="pass --out-dim N")
                sec[key] = re.sub(r"N_out_\w+", str(out_dim), value)
        sec["to_do"], sec["use_cuda"] = "valid", "False"
        cls = resolve_arch_class(sec.get("arch_library", ""), sec.get("arch_class", ""),
                                 section=name, file=path)
        net = make(cls, sec, dim, section=name, file=path)
        if name in checkpoints:
            state = load_checkpoint(checkpoints[name])
            load_model_state(net, state.get("model_par", state), checkpoints[name],
                             section=name)
        nets.append(net)
        dim = net.out_dim
    return _Chain(*nets)


def _inputs(args: argparse.Namespace, dim: int) -> Iterator[torch.Tensor]:
    """``[T, 1, F]`` tensors: Kaldi features or seeded random ones."""
    if args.feats:
        import kaldiio

        try:
            reader = kaldiio.ReadHelper(args.feats)
        except Exception as exc:  # kaldiio raises bare ValueError/OSError types
            raise DataError(f"cannot read --feats {args.feats!r}: {exc}") from exc
        with reader:
            for n, (_, mat) in enumerate(reader):
                if args.utts and n >= args.utts:
                    break
                yield torch.tensor(mat, dtype=torch.float32).unsqueeze(1)
        return
    gen = torch.Generator().manual_seed(args.seed)
    for _ in range(args.utts or 4):
        yield torch.randn(args.frames, 1, dim, generator=gen)


def _feats_dim(args: argparse.Namespace) -> int | None:
    if not args.feats:
        return None
    return next(_inputs(args, 0)).shape[-1]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``count-ops``."""
    parser.add_argument("--cfg", help="PyTorch-Kaldi cfg whose architectures to count")
    parser.add_argument(
        "--override", action="append", default=[], metavar="SECTION,FIELD=VALUE",
        help="cfg override like run_exp.py's --section,field=value (repeatable)",
    )
    parser.add_argument(
        "--checkpoint", action="append", default=[], metavar="SECTION=PATH",
        help="weights for a cfg architecture (repeatable), e.g. "
        "architecture1=exp/x/exp_files/final_architecture1.pkl",
    )
    parser.add_argument("--arch", default="lstm,gru,traditional,v1,v2",
                        help="comma-separated subset of " + ",".join(ARCHS))
    parser.add_argument("--layers", default="550,550", help="layer sizes, e.g. 550,550")
    parser.add_argument("--input", type=int, default=40,
                        help="input feature dimension (ignored with --feats)")
    parser.add_argument("--bits", type=int, default=6,
                        help="spike output bits (0 = full precision)")
    parser.add_argument("--k", type=int, default=4, help="threshold gamma = k b / 2^N")
    parser.add_argument(
        "--feats", help="Kaldi rspecifier, e.g. scp:data/test/feats.scp"
    )
    parser.add_argument("--utts", type=int, default=0,
                        help="number of utterances (0: all of --feats, 4 random)")
    parser.add_argument("--frames", type=int, default=200,
                        help="frames per random utterance")
    parser.add_argument("--out-dim", type=int, default=None,
                        help="readout size O: fills N_out_* and adds the authors' "
                        "tally")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--out", help="folder for ops.json and ops.csv")


def _checkpoints(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, eq, path = item.partition("=")
        if not eq or not name or not os.path.isfile(path):
            raise ConfigError("expected SECTION=PATH of an existing file",
                              key="--checkpoint", value=item)
        out[name] = path
    return out


def run(args: argparse.Namespace) -> int:
    """Build, count, print and write."""
    torch.manual_seed(args.seed)
    dim = _feats_dim(args) or args.input
    if args.cfg:
        models = {os.path.basename(args.cfg): build_from_cfg(
            args.cfg, dim, args.out_dim, _checkpoints(args.checkpoint),
            args.override)}
    else:
        sizes = _sizes(args.layers)
        models = {}
        for arch in [a.strip() for a in args.arch.split(",") if a.strip()]:
            if arch not in ARCHS:
                raise ConfigError("unknown architecture", key="--arch", value=arch,
                                  allowed=", ".join(ARCHS))
            models[arch] = build_arch(arch, dim, sizes, args.bits or None, args.k)
    summaries = []
    for label, net in models.items():
        net.eval()
        with torch.no_grad(), count_ops(net) as counter:
            for x in tqdm(list(_inputs(args, dim)), desc=label, disable=None):
                net(x)
        summaries.append(report.summarize(counter.records(), label))
    print(report.table1_markdown([s["table1"] for s in summaries]))
    if args.out_dim:
        print(f"authors' tally (readout O = {args.out_dim}, see docs/ops-counting.md)")
        print("| model | vs LSTM | vs GRU |\n|---|---:|---:|")
        for s in summaries:
            t = tally_from_summary(s, args.out_dim)
            s["authors_tally"] = t
            print(
                f"| {s['label']} | {t['model_vs_lstm']:.3f} | "
                f"{t['model_vs_gru']:.3f} |"
            )
        print()
    for s in summaries:
        print(f"{s['label']} ({s['frames']} frames)")
        print(report.layers_markdown(s))
    if args.out:
        report.write_json(os.path.join(args.out, "ops.json"), summaries)
        report.write_csv(os.path.join(args.out, "ops.csv"), summaries)
        print(f"wrote {os.path.join(args.out, 'ops.json')} and ops.csv")
    return 0
