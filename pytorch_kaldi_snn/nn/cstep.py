"""The batch-1 event-driven step in C (``_step1.c``), built at first use.

Stepping one stream through a layer costs about twenty tiny tensor operations in torch,
each a few microseconds of dispatch for a few hundred floats of work; at batch 1 that
overhead, not arithmetic, sets the speed. ``_step1.c`` does the gather over the weight
rows of non-zero inputs and the whole neuron update in one call.

The library is compiled once per source, compiler and CPU with the system C compiler
(``$CC``, else ``cc``/``gcc``; ``-O3 -march=native``) into
``$PYTORCH_KALDI_SNN_CACHE`` (default ``~/.cache/pytorch_kaldi_snn``), written
atomically, and loaded with :mod:`ctypes`. No compiler, a failed build, or
``PYTORCH_KALDI_SNN_NO_C=1`` leaves :func:`library` returning None, and the torch
implementation runs instead (logged once at INFO).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch
from torch import Tensor

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("_step1.c")
FLAGS = ["-O3", "-march=native", "-fno-math-errno", "-shared", "-fPIC"]

_lib: ctypes.CDLL | None = None
_tried = False


def _cpu_signature() -> str:
    """Model name and flags of the CPU (``-march=native`` output is CPU-specific)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return platform.machine() + platform.processor()
    keep = [line for line in text.splitlines()
            if line.startswith(("model name", "flags", "Features", "CPU part"))]
    return platform.machine() + "\n" + "\n".join(sorted(set(keep)))


def cache_dir() -> Path:
    root = os.environ.get("PYTORCH_KALDI_SNN_CACHE")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "pytorch_kaldi_snn"


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    return None


def build(compiler: str, out_dir: Path) -> Path:
    """Compile ``_step1.c`` into ``out_dir`` (atomically); returns the library path.

    Raises ``OSError``/``subprocess.CalledProcessError`` on failure.
    """
    source = SOURCE.read_bytes()
    key = hashlib.sha256(
        source + " ".join([compiler, *FLAGS]).encode() + _cpu_signature().encode()
    ).hexdigest()[:16]
    target = out_dir / f"step1-{key}.so"
    if target.exists():
        return target
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".step1-", suffix=".so", dir=out_dir)
    os.close(fd)
    try:
        subprocess.run([compiler, *FLAGS, "-o", tmp, str(SOURCE), "-lm"], check=True,
                       capture_output=True, text=True, timeout=120)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def _load(path: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(path))
    fn = lib.pks_step1_f32
    p, i, f = ctypes.c_void_p, ctypes.c_int, ctypes.c_float
    fn.argtypes = [i, i, i, p, p, p, p, p, p, p, p, p, p, f, f, f, i]
    fn.restype = ctypes.c_int
    return lib


def library() -> ctypes.CDLL | None:
    """The compiled step library, building it on first call; None when unavailable."""
    global _lib, _tried
    if _tried:
        return _lib
    _tried = True
    if os.environ.get("PYTORCH_KALDI_SNN_NO_C"):
        log.info("C streaming step disabled by PYTORCH_KALDI_SNN_NO_C")
        return None
    compiler = _compiler()
    if compiler is None:
        log.info("no C compiler found: streaming uses the torch step")
        return None
    try:
        _lib = _load(build(compiler, cache_dir()))
    except (OSError, subprocess.SubprocessError) as err:
        detail = getattr(err, "stderr", "") or str(err)
        log.info("C streaming step not built (%s): using the torch step",
                 detail.strip().splitlines()[-1] if detail.strip() else err)
        _lib = None
    return _lib


def reset() -> None:
    """Forget the loaded library (tests)."""
    global _lib, _tried
    _lib, _tried = None, False


class Step1:
    """A layer's constants bound once; calling it steps one stream by one frame.

    ``table`` ``[rows, G*H]`` float32 (see ``_step1.c``), ``alpha``/``beta`` ``[H]``
    float32; the tensors are kept alive here because the library reads their memory.
    """

    def __init__(self, lib: ctypes.CDLL, kind: int, n_x: int, table: Tensor,
                 alpha: Tensor, beta: Tensor, step: float, thr: float, top: float,
                 levels: int) -> None:
        self.fn = lib.pks_step1_f32
        self.h = alpha.shape[0]
        self.kind, self.n_x, self.levels = kind, n_x, levels
        self.step, self.thr, self.top = step, thr, top
        self.tensors = (table.contiguous(), alpha.contiguous(), beta.contiguous())
        self.table_ptr, self.alpha_ptr, self.beta_ptr = (
            t.data_ptr() for t in self.tensors)

    def __call__(self, x: Tensor, i_prev: Tensor, v_prev: Tensor, y_prev: Tensor
                 ) -> tuple[Tensor, Tensor, Tensor]:
        """``x [1, n_x]`` and the state ``[1, H]`` (float32, contiguous) -> new
        ``(I, V, Y)``, each ``[1, H]`` (views of one new buffer)."""
        h = self.h
        out = torch.empty(3, 1, h)
        ptr = out.data_ptr()
        rc = self.fn(self.kind, self.n_x, h, x.data_ptr(), self.table_ptr,
                     i_prev.data_ptr(), v_prev.data_ptr(), y_prev.data_ptr(),
                     ptr, ptr + 4 * h, ptr + 8 * h, self.alpha_ptr, self.beta_ptr,
                     self.step, self.thr, self.top, self.levels)
        if rc != 0:
            raise RuntimeError(f"pks_step1_f32 returned {rc}")
        i, v, y = out.unbind(0)
        return i, v, y
