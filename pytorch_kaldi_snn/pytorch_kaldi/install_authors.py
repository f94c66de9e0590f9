"""``install-into --authors-baselines``: the authors' ``proto/GRU.proto`` and
``proto/LSTM.proto`` over upstream's, upstream's kept as ``*.orig``.

The authors' uni-GRU / uni-LSTM cfgs say ``arch_proto=proto/GRU.proto`` (and
``LSTM.proto``) but carry no layer-norm keys, which upstream's files of those names make
mandatory, so upstream's ``check_cfg`` refuses them. Their key set
(:data:`.authors_rnn.PROTOS`, shipped as ``proto/authors/{GRU,LSTM}.proto``) is
upstream's minus ``*_use_laynorm_inp`` and ``*_use_laynorm``, with the same types.
Upstream's check (``utils.check_cfg_fields``) only requires every proto key in the cfg
section and never refuses a key the proto does not list, and its ``GRU``/``LSTM``
classes read their options from the cfg section, not from the proto: so upstream's own
GRU/LSTM cfgs still validate and build with the authors' files in place (their
layer-norm values are then no longer type-checked by the proto, only parsed by the
class).

What this module records in the install manifest, under ``"originals"``:
``{"proto/GRU.proto": {"backup": "proto/GRU.proto.orig"}}`` (``backup`` is null when
there was no file before). ``--no-authors-baselines`` puts each original back and
removes the backup, or removes the file when there was none.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from pytorch_kaldi_snn.errors import ConfigError
from pytorch_kaldi_snn.fileio import atomic_write_bytes, atomic_write_text

NAMES = ("GRU.proto", "LSTM.proto")
BACKUP_SUFFIX = ".orig"


@dataclass(frozen=True)
class Swap:
    """One authors' proto to put in place (or one original to put back)."""

    rel: str  # path relative to PKDIR, e.g. proto/GRU.proto
    text: str  # what the target will hold ("" for removed)
    # added, unchanged, updated, replaced, restored, removed, forgotten, conflict
    action: str
    backup: str | None = None  # the original is kept there (replaced) / taken from
    why: str = ""  # for a conflict


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def authors_sources(root: Path) -> dict[str, Path]:
    """``proto/<name>`` -> our ``proto/authors/<name>`` under ``root``."""
    out = {f"proto/{n}": root / "proto" / "authors" / n for n in NAMES}
    missing = [str(p) for p in out.values() if not p.is_file()]
    if missing:
        raise ConfigError("the authors' protos are not shipped with this install",
                          key="--authors-baselines", value=", ".join(missing),
                          allowed="reinstall pytorch-kaldi-snn (the wheel carries "
                          "data/proto/authors/*.proto)")
    return out


def _plan_install(pkdir: Path, rel: str, text: str, ours: dict, originals: dict,
                  force: bool) -> Swap:
    target = pkdir / rel
    backup = rel + BACKUP_SUFFIX
    if not target.exists():
        return Swap(rel, text, "added")
    current = _read(target)
    if _sha(current) == _sha(text):
        return Swap(rel, text, "unchanged")
    kept = (pkdir / backup).is_file() and _read(pkdir / backup) == current
    if rel in originals:  # we put it there before
        if _sha(current) in ours.get(rel, []):
            return Swap(rel, text, "updated")
        if kept:  # an install killed between keeping the original and writing
            return Swap(rel, text, "replaced", backup=backup)
        if force:  # the original is kept already
            return Swap(rel, text, "replaced")
        return Swap(rel, text, "conflict", why="edited since install-into wrote it")
    if (pkdir / backup).exists() and not kept and not force:
        return Swap(rel, text, "conflict", backup=backup,
                    why=f"{backup} exists and is not this {rel}")
    return Swap(rel, text, "replaced", backup=backup)


def _plan_restore(pkdir: Path, rel: str, record: dict, ours: dict,
                  force: bool) -> Swap:
    target = pkdir / rel
    backup = record.get("backup")
    kept = backup is not None and (pkdir / backup).is_file()
    if kept and target.exists() and _read(target) == _read(pkdir / backup):
        # put back by hand already (git checkout): only the copy goes
        return Swap(rel, _read(pkdir / backup), "restored", backup=backup)
    if target.exists() and _sha(_read(target)) not in ours.get(rel, []) and not force:
        return Swap(rel, "", "conflict", backup=backup,
                    why="edited since install-into wrote it")
    if backup is None:
        return Swap(rel, "", "removed")
    if not kept:
        if force:  # nothing to put back: leave the file, forget the record
            return Swap(rel, "", "forgotten", backup=backup)
        return Swap(rel, "", "conflict", backup=backup,
                    why=f"its original {backup} is gone")
    return Swap(rel, _read(pkdir / backup), "restored", backup=backup)


def plan_swaps(pkdir: Path, root: Path, enabled: bool, manifest: dict, *,
               force: bool = False) -> list[Swap]:
    """What ``--authors-baselines`` (``enabled``) or ``--no-authors-baselines`` would
    do to ``pkdir``; nothing to do when disabled and nothing was swapped. With
    ``force`` a conflict is resolved: the edited file is replaced (or put back), and an
    original that is gone is forgotten."""
    ours = manifest["files"]
    originals = manifest.get("originals", {})
    if enabled:
        return [_plan_install(pkdir, rel, src.read_text(encoding="utf-8"), ours,
                              originals, force)
                for rel, src in authors_sources(root).items()]
    return [_plan_restore(pkdir, rel, record, ours, force)
            for rel, record in sorted(originals.items())]


def record_before(swaps: list[Swap], manifest: dict) -> None:
    """Record the files about to be written, so a killed install still knows them."""
    if not swaps:
        return
    files = manifest["files"]
    originals = manifest.setdefault("originals", {})
    for s in swaps:
        if s.action in ("added", "unchanged", "updated", "replaced"):
            hashes = files.setdefault(s.rel, [])
            if _sha(s.text) not in hashes:
                hashes.append(_sha(s.text))
        if s.action == "added":
            originals.setdefault(s.rel, {"backup": None})
        elif s.action == "replaced" and s.rel not in originals:
            originals[s.rel] = {"backup": s.backup}


def apply(pkdir: Path, swaps: list[Swap]) -> None:
    """Write the swaps (the manifest already records them)."""
    for s in swaps:
        target = pkdir / s.rel
        if s.action in ("added", "updated", "replaced"):
            if s.action == "replaced" and s.backup and target.exists():
                data = target.read_bytes()  # byte for byte
                atomic_write_bytes(str(pkdir / s.backup), lambda fh: fh.write(data))
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(str(target), s.text)
        elif s.action == "restored":
            os.replace(pkdir / s.backup, target)
        elif s.action == "removed" and target.exists():
            os.remove(target)


def record_after(swaps: list[Swap], manifest: dict) -> None:
    """Forget the files put back or removed (after they were)."""
    originals = manifest.get("originals", {})
    for s in swaps:
        if s.action in ("restored", "removed", "forgotten"):
            originals.pop(s.rel, None)
            manifest["files"].pop(s.rel, None)
            if s.backup:
                manifest["files"].pop(s.backup, None)
    if not originals:
        manifest.pop("originals", None)
