"""``pytorch-kaldi-snn install-into PKDIR``: put our protos and cfgs into a
PyTorch-Kaldi checkout.

Copies the proto files of our classes (``proto/*.proto`` except the names upstream
ships, so its ``global.proto``, ``sgd/adam/rmsprop.proto`` and arch protos are never
touched) to ``PKDIR/proto/``, and the TIMIT/LibriSpeech cfg templates to
``PKDIR/cfg/`` (sweeps to ``PKDIR/cfg/sweeps/``). Each file is reported as ``added``,
``unchanged`` or ``replaced``; a file that exists with different content stops the
whole install before anything is written unless ``--force`` is given, so a rerun is a
no-op.
``--set NAME=VALUE`` fills ``@NAME@`` tokens in the cfgs while copying.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

from pytorch_kaldi_snn.errors import ConfigError
from pytorch_kaldi_snn.runner.render import (
    atomic_write,
    parse_assignments,
    render_text,
    tokens,
)

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DATA = Path(__file__).resolve().parents[1] / "data"
# proto names upstream PyTorch-Kaldi ships: never installed over
UPSTREAM_PROTOS = frozenset({
    "global", "global_chunk", "global_refac01", "global_chunk_refac01", "model",
    "decoding", "sgd", "adam", "rmsprop", "MLP", "LSTM", "LSTM_cudnn", "GRU",
    "GRU_cudnn", "RNN", "RNN_cudnn", "liGRU", "minimalGRU", "QLSTM", "SRU", "CNN",
    "SincNet", "PASE", "logMelFb", "channelAvg",
})
CFG_PATTERNS = ("TIMIT_*.cfg", "Librispeech_*.cfg")


@dataclass(frozen=True)
class Planned:
    """One file to install: where from, where to, its (rendered) text, the action."""

    source: Path
    target: Path
    text: str
    action: str  # added, unchanged, replaced, conflict


def source_root() -> Path:
    """Our repository when it has cfg/ and proto/ (editable install), else package
    data."""
    if (REPO_ROOT / "cfg").is_dir() and (REPO_ROOT / "proto").is_dir():
        return REPO_ROOT
    return PACKAGE_DATA


def check_checkout(pkdir: Path) -> None:
    """Raise ConfigError unless ``pkdir`` looks like a PyTorch-Kaldi checkout."""
    if not pkdir.is_dir():
        raise ConfigError("PKDIR is not a folder", key="PKDIR", value=str(pkdir),
                          allowed="the root of a PyTorch-Kaldi checkout")
    missing = [n for n in ("run_exp.py", "proto") if not (pkdir / n).exists()]
    if missing:
        raise ConfigError(f"not a PyTorch-Kaldi checkout (no {' or '.join(missing)})",
                          key="PKDIR", value=str(pkdir),
                          allowed="a folder holding run_exp.py and proto/ (git clone "
                          "https://github.com/mravanelli/pytorch-kaldi)")


def sources(root: Path) -> list[tuple[Path, Path]]:
    """``(source, path relative to PKDIR)`` for every file we install."""
    out = [(p, Path("proto") / p.name) for p in sorted((root / "proto").glob("*.proto"))
           if p.stem not in UPSTREAM_PROTOS]
    for pattern in CFG_PATTERNS:
        out += [(p, Path("cfg") / p.name) for p in sorted((root / "cfg").glob(pattern))]
    out += [(p, Path("cfg") / "sweeps" / p.name)
            for p in sorted((root / "cfg" / "sweeps").glob("*.cfg"))]
    return out


def plan(pkdir: Path, root: Path, values: dict[str, str]) -> list[Planned]:
    """What installing would do, without writing anything."""
    files = sources(root)
    if values:
        known = {t for src, _ in files if src.suffix == ".cfg"
                 for t in tokens(src.read_text(encoding="utf-8"))}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError("--set names a token no cfg uses", key="--set",
                              value=", ".join(unknown),
                              allowed=", ".join(sorted(known)))
    out = []
    for src, rel in files:
        text = src.read_text(encoding="utf-8")
        if src.suffix == ".cfg" and values:
            text = render_text(text, values, strict=False, file=str(src))
        target = pkdir / rel
        if not target.exists():
            action = "added"
        elif target.read_text(encoding="utf-8", errors="replace") == text:
            action = "unchanged"
        else:
            action = "conflict"
        out.append(Planned(src, target, text, action))
    return out


def install(pkdir: Path, *, force: bool = False, values: dict[str, str] | None = None,
            dry_run: bool = False, root: Path | None = None) -> list[Planned]:
    """Install into ``pkdir``; returns the per-file actions (conflicts become
    ``replaced`` with ``force``). Nothing is written when a conflict stops it."""
    check_checkout(pkdir)
    planned = plan(pkdir, root or source_root(), values or {})
    conflicts = [p for p in planned if p.action == "conflict"]
    if conflicts and not force:
        names = ", ".join(str(p.target.relative_to(pkdir)) for p in conflicts[:5])
        if len(conflicts) > 5:
            names += f" and {len(conflicts) - 5} more"
        raise ConfigError(f"{len(conflicts)} file(s) exist with different content; "
                          "nothing was written", key="PKDIR", value=names,
                          allowed="--force to replace them")
    done = []
    for p in planned:
        action = "replaced" if p.action == "conflict" else p.action
        if action != "unchanged" and not dry_run:
            atomic_write(str(p.target), p.text)
        done.append(Planned(p.source, p.target, p.text, action))
    return done


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pkdir", metavar="PKDIR",
                        help="root of a PyTorch-Kaldi checkout (holds run_exp.py, "
                        "proto/)")
    parser.add_argument("--force", action="store_true",
                        help="replace files that exist with different content")
    parser.add_argument("--set", dest="values", action="append", default=[],
                        metavar="NAME=VALUE",
                        help="fill the @NAME@ token of the cfgs (repeatable), e.g. "
                        "--set OUT_FOLDER=exp/timit_snn_v2")
    parser.add_argument("--dry-run", action="store_true",
                        help="only say what would be done")


def run(args: argparse.Namespace) -> int:
    pkdir = Path(args.pkdir)
    done = install(pkdir, force=args.force, values=parse_assignments(args.values),
                   dry_run=args.dry_run)
    verb = "would be " if args.dry_run else ""
    for p in done:
        print(f"{p.action:9s} {p.target}")
    counts = {a: sum(p.action == a for p in done)
              for a in ("added", "replaced", "unchanged")}
    print(f"{len(done)} files {verb}installed into {pkdir}: "
          + ", ".join(f"{n} {a}" for a, n in counts.items()))
    left = sorted({t for p in done if p.target.suffix == ".cfg"
                   for t in tokens(p.text)})
    if left:
        print("cfg tokens still to fill (--set NAME=VALUE): "
              + " ".join(f"@{t}@" for t in left))
    print("the SNN classes load from the pip package: pip install pytorch-kaldi-snn "
          "(arch_library=pytorch_kaldi_snn.pytorch_kaldi)")
    return 0
