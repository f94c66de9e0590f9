"""Atomic file writes: the one implementation every module uses.

A file is written under a temporary name in its destination folder and renamed onto the
final name with :func:`os.replace`, so a crash never leaves a half-written file there.
The file gets the permissions a plain ``open(path, "w")`` would give it (0666 minus
the umask), not the owner-only 0600 of :func:`tempfile.mkstemp`, so results and models
can be shared as usual.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import BinaryIO, Callable, Union

PathLike = Union[str, "os.PathLike[str]"]


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
