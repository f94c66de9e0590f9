"""The experiment folder's own state: one run at a time, the cfg that ran, leftovers.

- **Lock.** A run holds ``fcntl.flock(LOCK_EX)`` on ``<out_folder>/.run.lock`` (which
  holds its PID) from start to end; a second run on the folder stops at once naming that
  PID. The kernel drops the lock when the process dies, ``kill -9`` included, so a lock
  left by a killed run never blocks the next one. Under ``torchrun`` rank 0 holds it.
- **Effective cfg.** ``<out_folder>/conf.cfg`` (upstream's name) is the cfg file with
  every ``--section,field=value`` override applied and the defaults the reader and the
  architecture classes filled in, written before training. A later run on the folder
  compares its own effective cfg with it, key by key, and refuses to continue on any
  change except :data:`NOT_COMPARED` (keys that cannot change a result), naming each
  changed key with both values and the two ways out: another ``out_folder``, or
  ``--restart`` (:func:`clear_outputs`, then training from scratch).
- **Leftovers.** :func:`remove_stale_parts` deletes the hidden ``.<name>.XXXXXXXX.part``
  temp files of :func:`pytorch_kaldi_snn.fileio.atomic_path` that a killed run left.
"""

from __future__ import annotations

import configparser
import contextlib
import errno
import fcntl
import io
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator, Mapping

from pytorch_kaldi_snn.errors import SnnKaldiError
from pytorch_kaldi_snn.fileio import atomic_write_text

logger = logging.getLogger(__name__)

LOCK_NAME = ".run.lock"
CFG_NAME = "conf.cfg"
# where the run writes, not what it computes
NOT_COMPARED = {("exp", "out_folder"), ("exp", "cmd"), ("exp", "run_nn_script"),
                ("exp", "save_gpumem")}
# mkstemp's 8 random characters between atomic_path's prefix and suffix
_PART = re.compile(r"^\..+\.[a-z0-9_]{8}\.part$")
_OUTPUTS = ("exp_files", "res.res", CFG_NAME, "table1.json", "table1.md",
            "forward_ops.json", "log.log")
_OUTPUT_PATTERNS = (re.compile(r"^decode_.+"), re.compile(r"^decoding_.+\.conf$"),
                    re.compile(r"^ops_.+\.json$"))

_held: dict[str, list] = {}  # realpath -> [fd, depth]: re-entrant in one process


class FolderInUseError(SnnKaldiError):
    """Another live run holds the out_folder's lock."""


class ResumeError(SnnKaldiError):
    """The folder holds a run made with another effective cfg."""


def _is_rank0() -> bool:
    return os.environ.get("RANK", "0") == "0"


def _read_pid(fd: int) -> str:
    for _ in range(20):  # the holder writes its PID right after taking the lock
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
        if text:
            return text
        time.sleep(0.05)
    return "unknown"


@contextlib.contextmanager
def hold_folder(out_folder: str) -> Iterator[None]:
    """Hold ``out_folder``'s run lock for the block (see module docstring)."""
    if not _is_rank0():
        yield
        return
    os.makedirs(out_folder, exist_ok=True)
    key = os.path.realpath(out_folder)
    if key in _held:
        _held[key][1] += 1
        try:
            yield
        finally:
            _held[key][1] -= 1
        return
    path = os.path.join(out_folder, LOCK_NAME)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            os.close(fd)
            raise
        pid = _read_pid(fd)
        os.close(fd)
        raise FolderInUseError(
            f"{out_folder}: another run is using this out_folder (PID {pid}, lock "
            f"{path}); wait for it to finish, or give this run another out_folder "
            "(--exp,out_folder=...)") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    _held[key] = [fd, 1]
    try:
        yield
    finally:
        del _held[key]
        os.ftruncate(fd, 0)
        os.close(fd)  # releases the lock


def remove_stale_parts(out_folder: str) -> list[str]:
    """Delete the atomic-write temp files under ``out_folder``; returns their paths.

    Call it with the lock held: then no run of ours is writing there.
    """
    removed = []
    if not os.path.isdir(out_folder):
        return removed
    for root, _dirs, files in os.walk(out_folder):
        for name in files:
            legacy = name.startswith("final_") and name.endswith(".pkl.part")
            if _PART.match(name) or legacy:
                path = os.path.join(root, name)
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)
                removed.append(path)
    if removed:
        logger.info("%s: removed %d temp file(s) a killed run left", out_folder,
                    len(removed))
    return removed


def clear_outputs(out_folder: str) -> list[str]:
    """``--restart``: delete what runs write in ``out_folder`` (checkpoints, res.res,
    conf.cfg, forward and decoding outputs); other files (a rendered exp.cfg) stay."""
    removed = []
    if not os.path.isdir(out_folder):
        return removed
    for name in sorted(os.listdir(out_folder)):
        if name in _OUTPUTS or any(p.match(name) for p in _OUTPUT_PATTERNS):
            path = os.path.join(out_folder, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
            removed.append(path)
    logger.info("%s: --restart removed %s", out_folder,
                ", ".join(os.path.basename(p) for p in removed) or "nothing")
    return removed


def has_training_state(out_folder: str) -> bool:
    """True once a run wrote a checkpoint or a chunk's ``.info`` there."""
    exp = os.path.join(out_folder, "exp_files")
    if not os.path.isdir(exp):
        return False
    return any(n.endswith((".pkl", ".info")) and not n.startswith(".")
               for n in os.listdir(exp))


def effective_cfg(parser: configparser.ConfigParser,
                  defaults: Mapping[tuple[str, str], str] = ()) -> str:
    """The cfg text: ``parser`` (file + overrides) plus ``defaults`` for the keys it
    lacks, ``(section, key) -> value``."""
    out = configparser.ConfigParser(interpolation=None)
    for section in parser.sections():
        out[section] = {k: v for k, v in parser[section].items()}
    for (section, key), value in dict(defaults).items():
        if out.has_section(section) and key not in out[section]:
            out[section][key] = value
    buf = io.StringIO()
    out.write(buf)
    return buf.getvalue()


def _flat(text: str) -> dict[tuple[str, str], str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return {(s, k): " ".join(v.split()) for s in parser.sections()
            for k, v in parser[s].items() if (s, k) not in NOT_COMPARED}


def changed_keys(old: str, new: str) -> list[tuple[str, str, str | None, str | None]]:
    """``(section, key, old, new)`` for every compared key that differs (None: unset).

    >>> changed_keys("[a]\\nx = 1\\ny = 2\\n", "[a]\\nx = 1\\ny = 3\\n")
    [('a', 'y', '2', '3')]
    """
    a, b = _flat(old), _flat(new)
    return [(s, k, a.get((s, k)), b.get((s, k))) for s, k in sorted(set(a) | set(b))
            if a.get((s, k)) != b.get((s, k))]


def _show(value: str | None) -> str:
    if value is None:
        return "(unset)"
    return repr(value if len(value) <= 60 else value[:57] + "...")


def check_and_record(out_folder: str, text: str, *, write: bool) -> None:
    """Refuse when ``out_folder`` holds a run of another effective cfg; else (when
    ``write``) record ``text`` as its ``conf.cfg``.

    Only a folder with training state is compared: a ``conf.cfg`` alone (a run that
    stopped before its first checkpoint) is replaced.
    """
    path = os.path.join(out_folder, CFG_NAME)
    if has_training_state(out_folder):
        if os.path.exists(path):
            with open(path, encoding="utf-8") as fh:
                old = fh.read()
            changes = changed_keys(old, text)
            if changes:
                listed = "; ".join(f"[{s}] {k}: {_show(a)} -> {_show(b)}"
                                   for s, k, a, b in changes)
                raise ResumeError(
                    f"{out_folder}: this folder holds a run made with another cfg "
                    f"({path}); changed: {listed}; to go on with what trained, run "
                    f"{path}; to keep that run, give this one a new out_folder "
                    "(--exp,out_folder=...); to discard it and train from scratch, add "
                    "--restart")
            return
        logger.warning("%s: training state without %s (an older version wrote it); "
                       "recording this run's cfg, which cannot be compared", out_folder,
                       CFG_NAME)
    if write and _is_rank0():
        atomic_write_text(path, text)
