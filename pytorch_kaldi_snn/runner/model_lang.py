"""The ``[model]`` language of PyTorch-Kaldi: parser, validator and executor.

A program is one statement per line, ``out=op(arg1,arg2)``::

    out_dnn1=compute(LSTM_layers,mfcc)
    out_dnn2=compute(MLP_head,out_dnn1)
    loss_final=cost_nll(out_dnn2,lab_cd)
    err_final=cost_err(out_dnn2,lab_cd)

Operations (x, y tensors already defined, c a float constant, A an architecture, l a
label stream; ``m`` the mask of real frames, ``|m|`` their number)::

    compute(A, x)        A(x)      ([T, B, F] for sequence models, else [T*B, F])
    concatenate(x, y)    [x ; y] along the last dimension
    cost_nll(x, l)       -sum_{t,b in m} x[t, b, l[t, b]] / |m|   (x log-probabilities)
    cost_err(x, l)       sum_{t,b in m} [argmax x[t, b] != l[t, b]] / |m|
    mult(x, y)           x * y              mult_constant(x, c)   x * c
    sum(x, y)            x + y              sum_constant(x, c)    x + c
    avg(x, y)            (x + y) / 2        mse(x, y)             mean((x - y)^2)

``loss_final`` and ``err_final`` must be defined: the runner optimises and reports them.

>>> p = parse_model("h=compute(net,fea)\\nloss_final=cost_nll(h,lab)"
...                 "\\nerr_final=cost_err(h,lab)")
>>> [s.op for s in p.statements]
['compute', 'cost_nll', 'cost_err']
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from pytorch_kaldi_snn.errors import ConfigError

OPERATIONS = {
    "compute": ("architecture", "input"),
    "concatenate": ("input", "input"),
    "cost_nll": ("input", "label"),
    "cost_err": ("input", "label"),
    "mult": ("input", "input"),
    "mult_constant": ("input", "float"),
    "sum": ("input", "input"),
    "sum_constant": ("input", "float"),
    "avg": ("input", "input"),
    "mse": ("input", "input"),
}
COSTS = ("cost_nll", "cost_err", "mse")
_STATEMENT = re.compile(r"^([A-Za-z_][\w.-]*)\s*=\s*([A-Za-z_]\w*)\s*\((.*)\)$")


@dataclass(frozen=True)
class Statement:
    """``out=op(arg1,arg2)``; ``line`` is the 1-based line inside the ``model``
    value."""

    out: str
    op: str
    args: tuple[str, str]
    line: int = 0


@dataclass(frozen=True)
class ModelProgram:
    """A parsed ``[model]`` program (see module docstring).

    ``fea_dims`` (feature name -> dim) must be known before :meth:`build`; give it with
    :meth:`bind`. ``seq_models`` (arch name -> ``arch_seq_model``) decides the tensor
    layout handed to each architecture, as upstream does.
    """

    statements: tuple[Statement, ...]
    loss_final: str = "loss_final"
    err_final: str = "err_final"
    fea_dims: Mapping[str, int] = field(default_factory=dict)
    seq_models: Mapping[str, bool] = field(default_factory=dict)

    def arch_names(self) -> list[str]:
        """Architectures in the order the program first uses them."""
        seen: list[str] = []
        for s in self.statements:
            if s.op == "compute" and s.args[0] not in seen:
                seen.append(s.args[0])
        return seen

    def label_names(self) -> list[str]:
        return sorted({s.args[1] for s in self.statements
                       if s.op in ("cost_nll", "cost_err")})

    def input_names(self) -> list[str]:
        """Names read but never defined by the program: the feature streams."""
        defined = {s.out for s in self.statements}
        used: list[str] = []
        for s in self.statements:
            kinds = OPERATIONS[s.op]
            for kind, arg in zip(kinds, s.args):
                if kind == "input" and arg not in defined and arg not in used:
                    used.append(arg)
        return used

    def bind(self, fea_dims: Mapping[str, int] | None = None,
             seq_models: Mapping[str, bool] | None = None) -> ModelProgram:
        """A copy that knows the feature dims and each arch's ``arch_seq_model``."""
        return replace(
            self,
            fea_dims=dict(self.fea_dims if fea_dims is None else fea_dims),
            seq_models=dict(self.seq_models if seq_models is None else seq_models),
        )

    def build(self, make_arch: Callable[[str, int], nn.Module],
              fea_dims: Mapping[str, int] | None = None) -> dict[str, nn.Module]:
        """Call ``make_arch(arch_name, inp_dim)`` in program order.

        ``inp_dim`` is the feature dim, an earlier architecture's ``out_dim``, the sum
        of both dims for ``concatenate``, and the dim of x for element-wise operations.
        """
        dims: dict[str, int] = dict(self.fea_dims if fea_dims is None else fea_dims)
        nets: dict[str, nn.Module] = {}
        for s in self.statements:
            a, b = s.args
            if s.op == "compute":
                inp = _dim(dims, b, s)
                if a not in nets:
                    nets[a] = make_arch(a, inp)
                dims[s.out] = int(nets[a].out_dim)
            elif s.op == "concatenate":
                dims[s.out] = _dim(dims, a, s) + _dim(dims, b, s)
            elif s.op in ("mult", "sum", "avg", "mult_constant", "sum_constant"):
                dims[s.out] = _dim(dims, a, s)
            else:  # costs and mse are scalars
                dims[s.out] = 1
        return nets

    def run(self, nets: Mapping[str, nn.Module], features: Mapping[str, torch.Tensor],
            labels: Mapping[str, torch.Tensor], mask: torch.Tensor,
            stop_after: str | None = None) -> dict[str, torch.Tensor]:
        """Execute the program on one batch; returns every defined output.

        ``features[name]`` is ``[T, B, F]``, ``labels[name]`` ``[T, B]`` int64 (-1 on
        padding), ``mask`` ``[T, B]`` bool. Cost statements whose label is absent from
        ``labels`` (forward), and everything computed from them, are skipped;
        ``stop_after`` ends the run once that output
        exists (upstream stops at the last ``forward_out``).
        """
        steps, batch = mask.shape[0], mask.shape[1]
        outs: dict[str, torch.Tensor] = dict(features)
        skipped: set[str] = set()
        for s in self.statements:
            a, b = s.args
            if (s.op in ("cost_nll", "cost_err") and b not in labels) or \
                    a in skipped or b in skipped:
                skipped.add(s.out)  # needs a label we do not have (forward)
                continue
            if s.op in ("cost_nll", "cost_err"):
                outs[s.out] = _masked_cost(s.op, outs[a], labels[b], mask)
            elif s.op == "compute":
                x = outs[b]
                if self.seq_models.get(a, True):
                    if x.dim() == 2:
                        x = x.reshape(steps, batch, -1)
                elif x.dim() == 3:
                    x = x.reshape(steps * batch, -1)
                outs[s.out] = nets[a](x)
            elif s.op == "concatenate":
                x, y = _same_layout(outs[a], outs[b], steps, batch)
                outs[s.out] = torch.cat((x, y), dim=-1)
            elif s.op in ("mult_constant", "sum_constant"):
                c = float(b)
                outs[s.out] = outs[a] * c if s.op == "mult_constant" else outs[a] + c
            else:
                x, y = _same_layout(outs[a], outs[b], steps, batch)
                if s.op == "mult":
                    outs[s.out] = x * y
                elif s.op == "sum":
                    outs[s.out] = x + y
                elif s.op == "avg":
                    outs[s.out] = (x + y) / 2
                else:
                    outs[s.out] = torch.mean((x - y) ** 2)
            if stop_after is not None and s.out == stop_after:
                break
        return outs


def _dim(dims: Mapping[str, int], name: str, s: Statement) -> int:
    if name not in dims:
        raise ConfigError(f"line {s.line}: the dimension of {name!r} is unknown",
                          section="model", key="model", value=f"{s.out}={s.op}(...)",
                          allowed=", ".join(sorted(dims)) or "a feature name")
    return int(dims[name])


def _same_layout(x: torch.Tensor, y: torch.Tensor, steps: int,
                 batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    if x.dim() != y.dim():
        x = x.reshape(steps * batch, -1) if x.dim() == 3 else x
        y = y.reshape(steps * batch, -1) if y.dim() == 3 else y
    return x, y


def _masked_cost(op: str, out: torch.Tensor, lab: torch.Tensor,
                 mask: torch.Tensor) -> torch.Tensor:
    flat = out.reshape(-1, out.shape[-1])
    y = lab.reshape(-1)
    m = mask.reshape(-1)
    if flat.shape[0] != y.shape[0]:
        raise ValueError(f"output has {flat.shape[0]} rows, labels {y.shape[0]} frames")
    sel, ys = flat[m], y[m]
    if op == "cost_nll":
        return torch.nn.functional.nll_loss(sel, ys)
    return (sel.argmax(dim=-1) != ys).float().mean()


def parse_model(text: str, *, file: str | None = None) -> ModelProgram:
    """Parse a ``model`` value; syntax errors raise ConfigError naming the line."""
    statements: list[Statement] = []
    allowed = "out=op(arg1,arg2) with op in " + ", ".join(OPERATIONS)
    for number, raw in enumerate(str(text).splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        match = _STATEMENT.match(line)
        if not match:
            raise ConfigError(f"line {number}: not a statement", file=file,
                              section="model", key="model", value=line, allowed=allowed)
        out, op, inner = match.groups()
        if op not in OPERATIONS:
            raise ConfigError(f"line {number}: unknown operation {op!r}", file=file,
                              section="model", key="model", value=line,
                              allowed=", ".join(OPERATIONS))
        args = [a.strip() for a in inner.split(",")]
        if len(args) != 2 or not all(args):
            raise ConfigError(f"line {number}: {op} takes two arguments", file=file,
                              section="model", key="model", value=line,
                              allowed=f"{op}({', '.join(OPERATIONS[op])})")
        if OPERATIONS[op][1] == "float":
            try:
                float(args[1])
            except ValueError:
                raise ConfigError(f"line {number}: {op} needs a number", file=file,
                                  section="model", key="model", value=line,
                                  allowed=f"{op}(input,float)") from None
        statements.append(Statement(out, op, (args[0], args[1]), number))
    if not statements:
        raise ConfigError("empty [model] program", file=file, section="model",
                          key="model", value=str(text), allowed=allowed)
    return ModelProgram(tuple(statements))


def validate_model(program: ModelProgram, *, archs: Sequence[str],
                   features: Sequence[str], labels: Sequence[str],
                   file: str | None = None) -> None:
    """Check names: every arch, label and input exists; no name defined twice;
    ``loss_final`` and ``err_final`` defined."""
    defined = set(features)
    for s in program.statements:
        line = f"{s.out}={s.op}({s.args[0]},{s.args[1]})"
        for kind, arg in zip(OPERATIONS[s.op], s.args):
            if kind == "architecture" and arg not in archs:
                raise ConfigError(f"line {s.line}: unknown architecture {arg!r}",
                                  file=file, section="model", key="model", value=line,
                                  allowed=", ".join(archs))
            if kind == "label" and arg not in labels:
                raise ConfigError(f"line {s.line}: unknown label {arg!r}", file=file,
                                  section="model", key="model", value=line,
                                  allowed=", ".join(labels))
            if kind == "input" and arg not in defined:
                raise ConfigError(f"line {s.line}: {arg!r} is used before it is "
                                  "defined", file=file, section="model", key="model",
                                  value=line, allowed=", ".join(sorted(defined)))
        if s.out in defined:
            raise ConfigError(f"line {s.line}: {s.out!r} is defined twice", file=file,
                              section="model", key="model", value=line)
        defined.add(s.out)
    for final in (program.loss_final, program.err_final):
        if final not in defined:
            raise ConfigError(f"{final} is not defined", file=file, section="model",
                              key="model", allowed=f"a line {final}=cost_...(out,lab)")
