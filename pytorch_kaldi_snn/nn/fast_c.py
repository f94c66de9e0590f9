"""ctypes bindings of the ``_fused.c`` kernels that :mod:`.cstep` does not wrap.

:mod:`.cstep` builds and loads the library (``_fused.c`` is one of its sources) and
wraps the recurrences (:class:`.cstep.Fused`); the batch-norm kernels of the fast
training path (:mod:`.fast_bn`) are bound here, on first use, by name
and dtype. :func:`kernel` returns None whenever :func:`.cstep.fused` does (no
compiler, ``PYTORCH_KALDI_SNN_NO_C=1``, :func:`.cstep.disabled`, another dtype), so
callers keep their torch implementation as the fallback.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

import torch

from pytorch_kaldi_snn.nn import cstep

_P, _I = ctypes.c_void_p, ctypes.c_int

#: entry point -> argument types ("R" stands for the dtype's real type)
SIGNATURES: dict[str, tuple] = {
    "pks_bn_sums": (_I, _I, _I, _P, _P, _P),
    "pks_bn_apply": (_I, _I, _I, _I, _I, _P, _P, _P, _P, _P),
    "pks_bn_grad_sums": (_I, _I, _I, _I, _P, _P, _P, _P, _P),
    "pks_bn_grad_apply": (_I, _I, _I, _I, _P, _P, _P, _P, _P, _P, _P, _P),
}
_SUFFIX = {torch.float32: "f32", torch.float64: "f64"}
_BOUND: dict[tuple[object, str, torch.dtype], Callable[..., int]] = {}


def kernel(name: str, dtype: torch.dtype) -> Callable[..., int] | None:
    """The C function ``name`` (a key of :data:`SIGNATURES`) for ``dtype``, returning
    0 on success; None when the C kernels are unavailable for it."""
    if dtype not in _SUFFIX or cstep.fused(dtype) is None:
        return None
    lib = cstep.library()
    key = (lib, name, dtype)  # holds the library: no reuse of a freed id
    fn = _BOUND.get(key)
    if fn is None:
        fn = getattr(lib, f"{name}_{_SUFFIX[dtype]}")
        fn.argtypes = list(SIGNATURES[name])
        fn.restype = ctypes.c_int
        _BOUND[key] = fn
    return fn


def call(fn: Callable[..., int], *args) -> None:
    """``fn(*args)``, raising RuntimeError on a non-zero return (bad sizes)."""
    rc = fn(*args)
    if rc != 0:
        raise RuntimeError(f"{fn.__name__} returned {rc}")
