"""The finite check after every training step: loss, gradients, parameters, buffers.

A learning rate that is too high (``arch_lr=10`` on the demo) can leave the printed loss
finite while the weights turn NaN (seen on the demo: a NaN membrane potential fails
every threshold comparison, so a spiking layer emits zeros and the head still sees
numbers). The loss alone
cannot tell, so after ``loss.backward()`` and the optimizer steps of each batch one
reduction covers every floating tensor the step touched::

    s = loss + sum_{t in gradients, parameters, buffers} sum(t)

``s`` is finite when no term holds a NaN or an Inf; a sum that only overflows float32
(values near 1e38) is re-checked tensor by tensor and passes. A good step thus costs one
pass over the parameters and one host sync (``bench/bench_finite_guard.py`` measures
it); only a failing step walks the tensors to name the first bad one, in the order loss,
gradients, parameters, buffers, and raises :class:`DivergedError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from pytorch_kaldi_snn.errors import SnnKaldiError


class DivergedError(SnnKaldiError):
    """Training produced a NaN or Inf; nothing after the last good checkpoint was
    written."""


@dataclass
class FiniteGuard:
    """Raises :class:`DivergedError` when a step made anything non-finite.

    ``nets`` maps architecture names to their (unwrapped) modules, ``sections`` the
    names to cfg sections, ``lrs`` the names to this epoch's learning rate; ``where``
    says where training is (``"epoch 0, chunk 0 of demo_train"``) and ``kept`` what
    stays on disk (the last good checkpoint).
    """

    nets: Mapping[str, nn.Module]
    sections: Mapping[str, str]
    lrs: Mapping[str, float]
    where: str
    kept: str
    _named: list = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # (arch, name, parameter-or-None, tensor); parameters keep their identity, so
        # the list is built once; gradients are read at each call (set_to_none)
        self._named = []
        for arch, net in self.nets.items():
            for name, p in net.named_parameters():
                if p.is_floating_point():
                    self._named.append((arch, name, p, p))
            for name, b in net.named_buffers():
                if b.is_floating_point():
                    self._named.append((arch, name, None, b))

    def _grads(self) -> list[tuple[str, str, torch.Tensor]]:
        return [(arch, name, p.grad) for arch, name, p, _ in self._named
                if p is not None and p.grad is not None]

    def __call__(self, loss: torch.Tensor, batch: int) -> None:
        """Check the step of batch number ``batch`` (0-based) of the chunk."""
        with torch.no_grad():
            terms = [loss.detach().reshape(())]
            terms += [g.sum() for _, _, g in self._grads()]
            terms += [t.sum() for _, _, _, t in self._named]
            total = torch.stack([t.to(torch.float32) for t in terms]).sum()
            if bool(torch.isfinite(total)):
                return
            self._raise(loss, batch)

    def _raise(self, loss: torch.Tensor, batch: int) -> None:
        where = f"training diverged at {self.where}, batch {batch + 1}"
        if not bool(torch.isfinite(loss.detach()).all()):
            lrs = ", ".join(f"[{self.sections[a]}] {self.lrs[a]:g}" for a in self.lrs)
            raise DivergedError(
                f"{where}: the training loss is {float(loss.detach())}; {self.kept}; "
                f"try a lower arch_lr (now {lrs}) or check the features")
        found = next(((a, n, "gradient of") for a, n, g in self._grads()
                      if not bool(torch.isfinite(g).all())), None)
        if found is None:
            found = next(((a, n, "parameter" if p is not None else "buffer")
                          for a, n, p, t in self._named
                          if not bool(torch.isfinite(t).all())), None)
        if found is None:  # only the float32 sum overflowed: every value is finite
            return
        arch, name, kind = found
        section = self.sections[arch]
        lr = self.lrs.get(arch)
        hint = (f"try a lower arch_lr in [{section}] (now {lr:g}), e.g. "
                f"--{section},arch_lr={lr / 10:g}") if lr is not None else \
            "try a lower arch_lr"
        raise DivergedError(
            f"{where}: non-finite {kind} {name} of [{section}] ({arch}); {self.kept}; "
            f"{hint}")
