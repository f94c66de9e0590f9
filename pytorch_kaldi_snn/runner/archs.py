"""Architectures and their optimizers, built the way PyTorch-Kaldi builds them.

``importlib.import_module(arch_library)`` then ``getattr(module, arch_class)`` and
``cls(options, inp_dim)``, where ``options`` is the ``[architectureN]`` section with
``use_cuda`` and ``to_do`` added. Library names that only exist inside an upstream
checkout map to our implementations when they are not importable:

- ``neural_networks`` (PyTorch-Kaldi's MLP/LSTM/GRU) ->
  ``pytorch_kaldi_snn.pytorch_kaldi.baselines``
- the authors' fork modules (``traditional_spiking_model``,
  ``improved_spiking_model_v1``, ``improved_spiking_model_v2``, ...) ->
  ``pytorch_kaldi_snn.pytorch_kaldi``

Optimizers follow upstream's ``optimizer_init``: ``arch_opt`` in {sgd, adam, rmsprop}
with the ``opt_*`` keys of ``proto/{sgd,adam,rmsprop}.proto``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Mapping

import torch
from torch import nn

from pytorch_kaldi_snn.errors import ConfigError

logger = logging.getLogger(__name__)

LIBRARY_FALLBACKS = {
    "neural_networks": "pytorch_kaldi_snn.pytorch_kaldi.baselines",
    "traditional_spiking_model": "pytorch_kaldi_snn.pytorch_kaldi",
    "improved_spiking_model_v1": "pytorch_kaldi_snn.pytorch_kaldi",
    "improved_spiking_model_v2": "pytorch_kaldi_snn.pytorch_kaldi",
    "fake_spike_quantization": "pytorch_kaldi_snn.pytorch_kaldi",
}
OPTIMIZERS = ("sgd", "adam", "rmsprop")
_TRUE = {"True", "true", "1"}


def resolve_arch_class(library: str, class_name: str, *, section: str,
                       file: str | None = None) -> type:
    """The class ``class_name`` of ``library``; when ``library`` is an upstream-only
    module that is not importable, of our fallback modules (``LIBRARY_FALLBACKS``, then
    ``pytorch_kaldi_snn.pytorch_kaldi``, which holds the SNN classes under both our and
    the authors' names)."""
    try:
        modules = [importlib.import_module(library)]
    except ImportError:
        if library not in LIBRARY_FALLBACKS:
            raise ConfigError("arch_library is not importable", file=file,
                              section=section, key="arch_library",
                              value=library) from None
        names = dict.fromkeys([LIBRARY_FALLBACKS[library],
                               "pytorch_kaldi_snn.pytorch_kaldi"])
        modules = [importlib.import_module(n) for n in names]
        logger.info("%s is not importable: looking up %s in %s", library, class_name,
                    ", ".join(names))
    for module in modules:
        cls = getattr(module, class_name, None)
        if isinstance(cls, type):
            return cls
    raise ConfigError(
        f"no class {class_name!r} in {' or '.join(m.__name__ for m in modules)}",
        file=file, section=section, key="arch_class", value=class_name,
    )


def build_arch(cls: type, options, inp_dim: int, *, section: str,
               file: str | None = None) -> nn.Module:
    """``cls(options, inp_dim)`` with upstream's checks: an ``out_dim`` and at least one
    trainable parameter."""
    net = cls(options, int(inp_dim))
    out_dim = getattr(net, "out_dim", None)
    if not isinstance(out_dim, int) or out_dim < 1:
        raise ConfigError(f"{cls.__name__} has no positive int out_dim", file=file,
                          section=section, key="arch_class", value=cls.__name__)
    if not any(p.requires_grad for p in net.parameters()):
        raise ConfigError(f"{cls.__name__} has no trainable parameter", file=file,
                          section=section, key="arch_class", value=cls.__name__)
    return net


def _f(options: Mapping[str, str], key: str, default: str, section: str) -> float:
    value = str(options.get(key, default))
    try:
        return float(value)
    except ValueError:
        raise ConfigError("not a number", section=section, key=key,
                          value=value) from None


def make_optimizer(params: Iterable[nn.Parameter], arch_opt: str, lr: float,
                   options: Mapping[str, str], *,
                   section: str) -> torch.optim.Optimizer:
    """The optimizer named by ``arch_opt`` with its ``opt_*`` options (strings)."""
    params = [p for p in params if p.requires_grad]
    get = options.get
    wd = _f(options, "opt_weight_decay", "0", section)
    if arch_opt == "sgd":
        return torch.optim.SGD(
            params, lr=lr, momentum=_f(options, "opt_momentum", "0", section),
            weight_decay=wd, dampening=_f(options, "opt_dampening", "0", section),
            nesterov=str(get("opt_nesterov", "False")) in _TRUE,
        )
    if arch_opt == "adam":
        text = str(get("opt_betas", "0.9,0.999"))
        try:
            betas = tuple(float(b) for b in text.split(","))
        except ValueError:
            betas = ()
        if len(betas) != 2:
            raise ConfigError("expected two comma-separated floats", section=section,
                              key="opt_betas", value=text)
        return torch.optim.Adam(
            params, lr=lr, betas=betas, eps=_f(options, "opt_eps", "1e-8", section),
            weight_decay=wd, amsgrad=str(get("opt_amsgrad", "False")) in _TRUE,
        )
    if arch_opt == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=lr, momentum=_f(options, "opt_momentum", "0", section),
            alpha=_f(options, "opt_alpha", "0.99", section),
            eps=_f(options, "opt_eps", "1e-8", section),
            centered=str(get("opt_centered", "False")) in _TRUE, weight_decay=wd,
        )
    raise ConfigError("unknown optimizer", section=section, key="arch_opt",
                      value=arch_opt, allowed=", ".join(OPTIMIZERS))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group."""
    for group in optimizer.param_groups:
        group["lr"] = lr
