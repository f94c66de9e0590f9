"""C kernels of the fast paths, built at first use: ``_step1.c``, ``_fused.c`` and
``_seq1.c``.

A spiking layer's frame is a dozen or more tiny tensor operations in torch, each a few
microseconds of dispatch for little arithmetic. Where that overhead sets the speed, one
C call replaces them:

- ``_step1.c`` (:class:`Step1`): the event-driven streaming step (per stream, the
  gather over the weight rows of non-zero inputs and the whole neuron update);
- ``_fused.c`` (:class:`Fused`): the element-wise forward and reverse-time backward
  recurrences of the fused training path (``fast_train.py``), float32 and float64;
- ``_seq1.c`` (used by ``batch1.py``): batch-1 event-driven layers over a whole
  utterance in one call, and one frame of a whole stack, float32 and float64.

The library is compiled once per source, compiler and CPU with the system C compiler
(``$CC``, else ``cc``/``gcc``; ``-O3 -march=native -ffp-contract=off``: no fused
multiply-adds, so each operation rounds as the torch reference's does) into
``$PYTORCH_KALDI_SNN_CACHE`` (default ``~/.cache/pytorch_kaldi_snn``), written
atomically, and loaded with :mod:`ctypes`. No compiler, a failed build, or
``PYTORCH_KALDI_SNN_NO_C=1`` leaves :func:`library` returning None, and the torch
implementation runs instead (logged once at INFO).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor

from pytorch_kaldi_snn.nn import parallel

log = logging.getLogger(__name__)

SOURCES = tuple(Path(__file__).with_name(name)
                for name in ("_step1.c", "_fused.c", "_seq1.c"))
FLAGS = ["-O3", "-march=native", "-ffp-contract=off", "-fno-math-errno", "-shared",
         "-fPIC"]
#: Second try when the compiler rejects ``-march=native`` (some clang/ARM toolchains).
PORTABLE_FLAGS = [f for f in FLAGS if f != "-march=native"]

_lib: ctypes.CDLL | None = None
_tried = False
_disabled = 0


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


def build(compiler: str, out_dir: Path, flags: list[str] | None = None) -> Path:
    """Compile the sources into one library in ``out_dir`` (atomically); returns its
    path. Raises ``OSError``/``subprocess.CalledProcessError`` on failure.
    """
    flags = FLAGS if flags is None else flags
    source = b"".join(src.read_bytes() for src in SOURCES)
    key = hashlib.sha256(
        source + " ".join([compiler, *flags]).encode() + _cpu_signature().encode()
    ).hexdigest()[:16]
    target = out_dir / f"kernels-{key}.so"
    if target.exists():
        return target
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".kernels-", suffix=".so", dir=out_dir)
    os.close(fd)
    try:
        subprocess.run([compiler, *flags, "-o", tmp, *map(str, SOURCES), "-lm"],
                       check=True, capture_output=True, text=True, timeout=120)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def _load(path: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(path))
    fn = lib.pks_step1_f32
    p, i, f = ctypes.c_void_p, ctypes.c_int, ctypes.c_float
    fn.argtypes = [i, i, i, i, p, p, p, p, p, p, p, p, p, p, f, f, f, i]
    fn.restype = ctypes.c_int
    for suffix, real in (("f32", ctypes.c_float), ("f64", ctypes.c_double)):
        fwd = getattr(lib, f"pks_fused_forward_{suffix}")
        fwd.argtypes = [i, i, i, i, i, i, i, i, p, p, i, i, p, p, p, p, p, p, p, p,
                        p, p, p, i, i, p, p, real, real, real, i, real]
        fwd.restype = ctypes.c_int
        bwd = getattr(lib, f"pks_fused_backward_{suffix}")
        bwd.argtypes = [i, i, i, i, i, i, i, i, p, i, p, p, p, p, i, p, i, i, p, p,
                        p, p, p, p, p, p, p, i, i, p]
        bwd.restype = ctypes.c_int
        for name, args in (("layer", [p, i, p, p, p, p]), ("frame", [i, p, p, p, p]),
                           ("project", [i, i, i, p, p, p, p, i, p, p])):
            fn = getattr(lib, f"pks_seq1_{name}_{suffix}")
            fn.argtypes = args
            fn.restype = ctypes.c_int
    return lib


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Within the block :func:`library` returns None: the torch implementations run
    (benchmarks compare the two in one process)."""
    global _disabled
    _disabled += 1
    try:
        yield
    finally:
        _disabled -= 1


def library() -> ctypes.CDLL | None:
    """The compiled step library, building it on first call; None when unavailable."""
    global _lib, _tried
    if _disabled:
        return None
    if _tried:
        return _lib
    _tried = True
    if os.environ.get("PYTORCH_KALDI_SNN_NO_C"):
        log.info("C kernels disabled by PYTORCH_KALDI_SNN_NO_C")
        return None
    compiler = _compiler()
    if compiler is None:
        log.info("no C compiler found: the torch implementations run")
        return None
    _lib = None
    for flags in (FLAGS, PORTABLE_FLAGS):
        try:
            _lib = _load(build(compiler, cache_dir(), flags))
            break
        except (OSError, subprocess.SubprocessError) as err:
            detail = (getattr(err, "stderr", "") or str(err)).strip()
            log.info("C kernels not built with %s (%s)", " ".join(flags),
                     detail.splitlines()[-1] if detail else err)
    if _lib is None:
        log.info("no C kernels: the torch implementations run")
    return _lib


def reset() -> None:
    """Forget the loaded library (tests)."""
    global _lib, _tried
    _lib, _tried = None, False
    _FUSED.clear()


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
        """``x [B, n_x]`` and the state ``[B, H]`` (float32, contiguous) -> new
        ``(I, V, Y)``, each ``[B, H]`` (views of one new buffer)."""
        h = self.h
        batch = x.shape[0]
        out = torch.empty(3, batch, h)
        ptr, size = out.data_ptr(), 4 * batch * h
        rc = self.fn(self.kind, self.n_x, h, batch, x.data_ptr(), self.table_ptr,
                     i_prev.data_ptr(), v_prev.data_ptr(), y_prev.data_ptr(),
                     ptr, ptr + size, ptr + 2 * size, self.alpha_ptr, self.beta_ptr,
                     self.step, self.thr, self.top, self.levels)
        if rc != 0:
            raise RuntimeError(f"pks_step1_f32 returned {rc}")
        i, v, y = out.unbind(0)
        return i, v, y


def _ptr(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


class Gates(NamedTuple):
    """Where the v1/v2 recurrences find F and C, as ``_fused.c`` reads them.

    ``f``: F, ``[T, B, H]`` rows (any row stride). ``c``: C itself, or with ``raw``
    the candidate pre-activation, from which the kernels form
    ``C = max(c * a + s, 0) * mask`` (``affine = (a, s)``, ``[H]`` each, or None).
    ``mask``: ``[B, H]`` or None (dC carries it in both cases). The backward also
    needs ``i_base`` (``[T + 1, B, H]``, I[n-1] at frame n) and writes g_P
    ``[T, B, 2H]`` to ``gp`` (which may be the buffer holding F | C)."""

    f: Tensor
    c: Tensor
    raw: bool = False
    affine: tuple[Tensor, Tensor] | None = None
    mask: Tensor | None = None
    i_base: Tensor | None = None
    gp: Tensor | None = None


def _affine_ptrs(affine: tuple[Tensor, Tensor] | None) -> tuple[int | None, int | None]:
    return (None, None) if affine is None else (affine[0].data_ptr(),
                                                affine[1].data_ptr())


class Fused:
    """The ``_fused.c`` recurrences for one dtype (float32 or float64).

    All tensors must be CPU tensors of that dtype with unit stride along the units
    and ``[T, B, .]`` layouts as described (the caller checks); meanings as in
    ``_fused.c``.
    """

    def __init__(self, lib: ctypes.CDLL, dtype: torch.dtype) -> None:
        suffix = {torch.float32: "f32", torch.float64: "f64"}[dtype]
        self.dtype = dtype
        self._fwd = getattr(lib, f"pks_fused_forward_{suffix}")
        self._bwd = getattr(lib, f"pks_fused_backward_{suffix}")

    def forward(self, kind: int, n0: int, n1: int, source: Tensor | Gates,
                alpha: Tensor, beta: Tensor | None,
                state: tuple[Tensor, Tensor, Tensor], i: Tensor, v: Tensor, y: Tensor,
                full_i: bool, full_v: bool, ste: Tensor | None, vmax: Tensor | None,
                spike: tuple[float, float, float, int, float],
                affine: tuple[Tensor, Tensor] | None = None,
                mask: Tensor | None = None) -> None:
        """Frames ``n0 <= n < n1``; frame n reads row ``n - n0`` of ``source``: P
        (traditional, made ``(P * a + s) * mask`` with ``affine`` and ``mask``) or
        :class:`Gates` (v1, v2); writes I, V (slots), Y, S' (bool ``[T, B, H]``,
        when given) and the running max of V (``vmax``, one element updated in place,
        when given)."""
        batch, h = y.shape[1], y.shape[2]
        if isinstance(source, Gates):
            if affine is not None or mask is not None:
                raise ValueError("v1/v2 give their affine and mask in Gates")
            p_or_f, c = source.f, source.c
            affine, mask, raw = source.affine, source.mask, source.raw
        else:
            p_or_f, c, raw = source, None, False
        parts = parallel.ranges(batch, (n1 - n0) * batch * h)
        maxima = parallel.RangeMaxima(vmax, parts)
        head = (kind, n0, n1, batch)
        tail = (h, p_or_f.stride(-2), p_or_f.data_ptr(), _ptr(c),
                0 if c is None else c.stride(-2), int(raw), *_affine_ptrs(affine),
                _ptr(mask), alpha.data_ptr(), _ptr(beta),
                *(t.data_ptr() for t in state), i.data_ptr(), v.data_ptr(),
                y.data_ptr(), int(full_i), int(full_v), _ptr(ste))

        def one(b0: int, b1: int) -> None:
            rc = self._fwd(*head, b0, b1, *tail, _ptr(maxima[b0]), *spike)
            if rc != 0:
                raise RuntimeError(f"pks_fused_forward returned {rc}")

        parallel.run(one, parts)
        maxima.merge()

    def backward(self, kind: int, n0: int, n1: int, g_out: Tensor, go_full: bool,
                 ste: Tensor, alpha: Tensor, beta: Tensor | None, gates: Gates | None,
                 g_rec: Tensor | None, g_v_next: Tensor | None,
                 g_i_next: Tensor | None, g_v: Tensor, g_i: Tensor, full_v: bool,
                 full_i: bool) -> None:
        """Frames ``n1 > n >= n0`` in reverse (see ``_fused.c``); v1, v2 write the
        gate gradient g_P to ``gates.gp``."""
        t_len, batch, h = ste.shape
        if gates is None:
            g_tail: tuple = (None, 0, None, 0, 0, None, None, None, None)
        else:
            g_tail = (gates.f.data_ptr(), gates.f.stride(-2), gates.c.data_ptr(),
                      gates.c.stride(-2), int(gates.raw), *_affine_ptrs(gates.affine),
                      _ptr(gates.mask), _ptr(gates.i_base))
        tail = (h, g_out.data_ptr(), int(go_full), ste.data_ptr(), alpha.data_ptr(),
                _ptr(beta), *g_tail, _ptr(g_rec), _ptr(g_v_next), _ptr(g_i_next),
                g_v.data_ptr(), g_i.data_ptr(), int(full_v), int(full_i),
                None if gates is None else _ptr(gates.gp))

        def one(b0: int, b1: int) -> None:
            rc = self._bwd(kind, n0, n1, t_len, batch, b0, b1, *tail)
            if rc != 0:
                raise RuntimeError(f"pks_fused_backward returned {rc}")

        parallel.run(one, parallel.ranges(batch, (n1 - n0) * batch * h))


    def v2_forward_frames(self, f: Tensor, c: Tensor, alpha: Tensor, i: Tensor,
                          v: Tensor, y: Tensor, full_i: bool, full_v: bool,
                          ste: Tensor | None, vmax: Tensor | None,
                          spike: tuple[float, float, float, int, float],
                          zero: Tensor, rows: tuple[int, int]) -> Callable[[int], None]:
        """``frame(n)``: :meth:`forward` of v2's frame n from the zero state (n = 0)
        or from frame n - 1 in ``i``, ``v``, ``y``, with F and C read from slot
        ``n`` (``full_i``) or ``n % 2`` of ``f``, ``c`` (``[slots, B, H]`` each), on
        the sequences of ``rows``. The arguments of the C call are bound once: v2's
        frame loop calls this once a frame, and :meth:`forward`'s set-up per call
        (~20 us) was a sixth of a frame at the demo's 2 x 128, batch 16."""
        batch, h = y.shape[1], y.shape[2]
        size = y.element_size()
        f0, c0 = f.data_ptr(), c.data_ptr()
        f_step, c_step = f.stride(0) * size, c.stride(0) * size
        i_ptr, v_ptr, y_ptr = i.data_ptr(), v.data_ptr(), y.data_ptr()
        frame_bytes = batch * h * size
        z = zero.data_ptr()
        fwd = self._fwd
        b0, b1 = rows
        middle = (f.stride(-2),)
        rest = (c.stride(-2), 0, None, None, None, alpha.data_ptr(), None)
        tail = (i_ptr, v_ptr, y_ptr, int(full_i), int(full_v), _ptr(ste), _ptr(vmax),
                *spike)
        keep = (f, c, alpha, i, v, y, ste, vmax, zero)  # alive while frame is

        def frame(n: int) -> None:
            s = n if full_i else n % 2
            if n == 0:
                state = (z, z, z)
            else:
                m = n - 1
                state = (i_ptr + (m if full_i else m % 2) * frame_bytes,
                         v_ptr + (m if full_v else m % 2) * frame_bytes,
                         y_ptr + m * frame_bytes)
            rc = fwd(2, n, n + 1, batch, b0, b1, h, *middle, f0 + s * f_step,
                     c0 + s * c_step, *rest, *state, *tail)
            if rc != 0:
                raise RuntimeError(f"pks_fused_forward returned {rc}")

        frame.tensors = keep  # type: ignore[attr-defined]
        return frame

    def v2_backward_frames(self, g_out: Tensor, go_full: bool, ste: Tensor,
                           alpha: Tensor, gates: Gates, g_v: Tensor, g_i: Tensor,
                           full_v: bool, full_i: bool, rows: tuple[int, int]
                           ) -> Callable[[int, Tensor | None], None]:
        """``frame(n, g_rec)``: :meth:`backward` of v2's frame n alone, on the
        sequences of ``rows``; g_V[n+1] and K[n+1] come from slot n + 1 (or
        (n + 1) % 2) of ``g_v``, ``g_i``; ``g_rec`` as in ``_fused.c`` (None at the
        last frame). Bound once, as :meth:`v2_forward_frames`."""
        t_len, batch, h = ste.shape
        size = g_v.element_size()
        frame_bytes = batch * h * size
        gv_ptr, gi_ptr = g_v.data_ptr(), g_i.data_ptr()
        bwd = self._bwd
        b0, b1 = rows
        middle = (h, g_out.data_ptr(), int(go_full), ste.data_ptr(), alpha.data_ptr(),
                  None, gates.f.data_ptr(), gates.f.stride(-2), gates.c.data_ptr(),
                  gates.c.stride(-2), int(gates.raw), *_affine_ptrs(gates.affine),
                  _ptr(gates.mask), _ptr(gates.i_base))
        tail = (gv_ptr, gi_ptr, int(full_v), int(full_i), _ptr(gates.gp))
        keep = (g_out, ste, alpha, gates, g_v, g_i)

        def frame(n: int, g_rec: Tensor | None) -> None:
            if n + 1 < t_len:
                m = n + 1
                nxt = (g_rec.data_ptr(),
                       gv_ptr + (m if full_v else m % 2) * frame_bytes,
                       gi_ptr + (m if full_i else m % 2) * frame_bytes)
            else:
                nxt = (None, None, None)
            rc = bwd(2, n, n + 1, t_len, batch, b0, b1, *middle, *nxt, *tail)
            if rc != 0:
                raise RuntimeError(f"pks_fused_backward returned {rc}")

        frame.tensors = keep  # type: ignore[attr-defined]
        return frame

_FUSED: dict[torch.dtype, Fused] = {}


def fused(dtype: torch.dtype) -> Fused | None:
    """The fused-recurrence kernels for ``dtype``, or None (no library, other dtype,
    or ``PYTORCH_KALDI_SNN_NO_C``)."""
    if dtype not in (torch.float32, torch.float64) or _disabled:
        return None
    kernels = _FUSED.get(dtype)
    if kernels is None:
        lib = library()
        if lib is None:
            return None
        kernels = _FUSED[dtype] = Fused(lib, dtype)
    return kernels
