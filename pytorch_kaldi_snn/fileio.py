"""Atomic file writes: the one implementation every module uses.

A file is written under a temporary name in its destination folder and renamed onto the
final name with :func:`os.replace`, so a crash never leaves a half-written file there.
The file gets the permissions a plain ``open(path, "w")`` would give it (0666 minus
the umask), not the owner-only 0600 of :func:`tempfile.mkstemp`, so results and models
can be shared as usual. A full disk (or quota) raises :class:`DiskFullError`, "no space
left on device while writing <path>", and leaves the old file, if any, untouched.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from typing import BinaryIO, Callable, Union

from pytorch_kaldi_snn.errors import DataError

PathLike = Union[str, "os.PathLike[str]"]
_FULL = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(DataError):
    """The device (or the user's quota) is full while writing a file."""


def _disk_full(exc: BaseException) -> bool:
    """An OSError ENOSPC/EDQUOT, also when a library wrapped it (torch.save raises a
    RuntimeError from the failed write)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _FULL:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _read_umask() -> int:
    try:  # Linux: no process-wide side effect
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_read_umask()


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[str]:
    """Yield a temporary file name next to ``path``; rename it onto ``path`` when the
    block succeeds, remove it when it raises.

    For writers that take a file name (``torch.jit.save``, ``savefig``, FST ``write``).

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "x.txt") as tmp:
    ...     _ = pathlib.Path(tmp).write_text("hi")
    >>> (d / "x.txt").read_text()
    'hi'
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".",
                               suffix=".part")
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except Exception as exc:
        if _disk_full(exc):
            raise DiskFullError(f"no space left on device while writing {path}; free "
                                "some space and run again (a run resumes from its "
                                "last complete checkpoint)") from exc
        raise
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_bytes(path: PathLike, writer: Callable[[BinaryIO], object]) -> None:
    """Call ``writer(fileobj)`` on a temp file in ``path``'s folder, then rename it."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        writer(fh)
        fh.flush()
        os.fsync(fh.fileno())


def atomic_write_text(path: PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, lambda fh: fh.write(text.encode("utf-8")))
