"""``pytorch-kaldi-snn install-into PKDIR``: put our protos and cfgs into a
PyTorch-Kaldi checkout, with the cfg tokens filled.

Copies every ``proto/*.proto`` of ours except the names upstream ships (so its
``global.proto``, ``sgd/adam/rmsprop.proto`` and arch protos are never touched) to
``PKDIR/proto/``, the TIMIT/LibriSpeech cfg templates to ``PKDIR/cfg/`` and the sweeps
to ``PKDIR/cfg/sweeps/``. While copying it fills the cfgs' ``@TOKENS@``:

- ``@OUT_FOLDER@``: ``exp/<cfg name>`` per cfg (``--set OUT_FOLDER=DIR/{cfg}`` moves
  them; ``{cfg}`` is the cfg's name, so no two cfgs share a folder);
- ``@DECODING_SCRIPT_FOLDER@``: ``PKDIR/kaldi_decoding_scripts`` when it is there;
- features, alignments, data dirs, graph and scoring script from ``--kaldi-egs DIR``
  (a finished Kaldi ``egs/timit/s5`` or ``egs/librispeech/s5``, see
  :mod:`.kaldi_egs`); TIMIT cfgs take the TIMIT folder, LibriSpeech cfgs the
  LibriSpeech one;
- anything else, or any of the above, with ``--set NAME=VALUE`` (``--set NAME=``
  forgets a value given before).

What it wrote is recorded in ``PKDIR/.pytorch-kaldi-snn-install.json`` (the SHA-256
of every file written, and the values used), so a rerun starts from the earlier values
and rewrites the files it wrote (``updated``) but stops, before writing anything, at a
file it did not write or one edited since (``--force`` replaces those).

``--authors-baselines`` also puts the authors' ``proto/GRU.proto`` and
``proto/LSTM.proto`` (no layer-norm keys, as their uni-GRU / uni-LSTM cfgs need) over
upstream's, keeping upstream's as ``proto/*.proto.orig``; a rerun keeps them, and
``--no-authors-baselines`` puts upstream's back (see :mod:`.install_authors`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from pytorch_kaldi_snn.errors import ConfigError
from pytorch_kaldi_snn.pytorch_kaldi import install_authors, kaldi_egs
from pytorch_kaldi_snn.runner.render import (
    atomic_write,
    parse_assignments,
    render_text,
    tokens,
)

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DATA = Path(__file__).resolve().parents[1] / "data"
MANIFEST = ".pytorch-kaldi-snn-install.json"
# proto names upstream PyTorch-Kaldi ships: never installed over
UPSTREAM_PROTOS = frozenset({
    "global", "global_chunk", "global_refac01", "global_chunk_refac01", "model",
    "decoding", "sgd", "adam", "rmsprop", "MLP", "LSTM", "LSTM_cudnn", "GRU",
    "GRU_cudnn", "RNN", "RNN_cudnn", "liGRU", "minimalGRU", "QLSTM", "SRU", "CNN",
    "SincNet", "PASE", "logMelFb", "channelAvg",
})
CFG_PATTERNS = ("TIMIT_*.cfg", "Librispeech_*.cfg")
DEFAULT_OUT = "exp/{cfg}"


@dataclass(frozen=True)
class Planned:
    """One file to install: where from, where to, its (rendered) text, the action."""

    source: Path
    target: Path
    text: str
    action: str  # added, unchanged, updated, replaced, conflict
    why: str = ""  # for a conflict: not ours, or edited since


@dataclass
class Settings:
    """What fills the tokens: ``--set`` values, egs folders per corpus, feature
    kind."""

    values: dict[str, str] = field(default_factory=dict)
    egs: dict[str, str] = field(default_factory=dict)
    feats: str = "fmllr"
    authors_baselines: bool = False  # the authors' GRU/LSTM protos over upstream's


@dataclass(frozen=True)
class Report:
    """The outcome of one install."""

    files: list[Planned]
    resolved: list[kaldi_egs.Resolved]
    open_tokens: dict[str, list[str]]  # token -> cfg names still holding it
    settings: Settings
    swaps: list[install_authors.Swap] = field(default_factory=list)


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


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_manifest(pkdir: Path) -> dict:
    """The manifest of earlier installs (empty when there is none)."""
    path = pkdir / MANIFEST
    if not path.is_file():
        return {"files": {}, "settings": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data.get("files"), dict):
            raise ValueError("no files")
    except (ValueError, AttributeError):
        raise ConfigError("install manifest is corrupt; remove it to start over (files "
                          "it listed then count as not ours)", file=str(path)) from None
    data.setdefault("settings", {})
    return data


def merge_settings(old: dict, values: dict[str, str], egs: list[str],
                   feats: str | None, authors_baselines: bool | None = None
                   ) -> Settings:
    """The earlier install's settings updated by this call's options."""
    out = Settings(dict(old.get("values", {})), dict(old.get("egs", {})),
                   old.get("feats", "fmllr"), bool(old.get("authors_baselines")))
    if authors_baselines is not None:
        out.authors_baselines = authors_baselines
    for name, value in values.items():
        if value == "":
            out.values.pop(name, None)
        else:
            out.values[name] = value
    for text in egs:
        corpus, folder = kaldi_egs.parse_egs_option(text)
        out.egs[corpus] = str(folder.resolve())
    if feats is not None:
        out.feats = feats
    return out


def _check_values(settings: Settings, known: set[str]) -> None:
    unknown = sorted(set(settings.values) - known)
    if unknown:
        raise ConfigError("--set names a token no cfg uses", key="--set",
                          value=", ".join(unknown), allowed=", ".join(sorted(known)))
    out = settings.values.get("OUT_FOLDER")
    if out is not None and "{cfg}" not in out:
        raise ConfigError("OUT_FOLDER would be one folder for every installed cfg",
                          key="--set", value=f"OUT_FOLDER={out}",
                          allowed="a value with {cfg} in it, replaced by each cfg's "
                          "name, e.g. OUT_FOLDER=/data/exp/{cfg} (default exp/{cfg})")


def cfg_values(name: str, pkdir: Path, settings: Settings,
               resolved: dict[str, kaldi_egs.Resolved]) -> dict[str, str]:
    """Token values for the cfg ``name``: defaults < egs folder < ``--set``."""
    values = {"OUT_FOLDER": DEFAULT_OUT}
    scripts = pkdir / "kaldi_decoding_scripts"
    if (scripts / "decode_dnn.sh").is_file():
        values["DECODING_SCRIPT_FOLDER"] = str(scripts.resolve())
    corpus = kaldi_egs.corpus_of_cfg(name)
    if corpus in resolved:
        values.update(resolved[corpus].values)
    values.update(settings.values)
    stem = Path(name).stem
    return {k: v.replace("{cfg}", stem) for k, v in values.items()}


def plan(pkdir: Path, root: Path, settings: Settings,
         manifest: dict) -> tuple[list[Planned], list[kaldi_egs.Resolved]]:
    """What installing would do, without writing anything."""
    files = sources(root)
    known = {t for src, _ in files if src.suffix == ".cfg"
             for t in tokens(src.read_text(encoding="utf-8"))}
    _check_values(settings, known)
    resolved = {c: kaldi_egs.resolve(Path(d), c, settings.feats)
                for c, d in sorted(settings.egs.items())}
    ours = manifest["files"]
    out = []
    for src, rel in files:
        text = src.read_text(encoding="utf-8")
        if src.suffix == ".cfg":
            values = cfg_values(src.name, pkdir, settings, resolved)
            text = render_text(text, values, strict=False, file=str(src))
        target = pkdir / rel
        action, why = "added", ""
        if target.exists():
            current = sha256(target.read_text(encoding="utf-8", errors="replace"))
            if current == sha256(text):
                action = "unchanged"
            elif current in ours.get(rel.as_posix(), []):
                action = "updated"
            else:
                action = "conflict"
                why = ("edited since install-into wrote it" if rel.as_posix() in ours
                       else "not written by install-into")
        out.append(Planned(src, target, text, action, why))
    return out, list(resolved.values())


def _conflict_error(conflicts: list[str]) -> ConfigError:
    names = ", ".join(conflicts[:3])
    if len(conflicts) > 3:
        names += f" and {len(conflicts) - 3} more"
    return ConfigError(f"{len(conflicts)} file(s) exist with content install-into did "
                       "not write; nothing was written", key="PKDIR", value=names,
                       allowed="--force to replace them")


def install(pkdir: Path, *, force: bool = False, values: dict[str, str] | None = None,
            egs: list[str] | None = None, feats: str | None = None,
            dry_run: bool = False, root: Path | None = None,
            authors_baselines: bool | None = None) -> Report:
    """Install into ``pkdir``; nothing is written when a conflict stops it.

    The manifest is written before the files, holding the hashes of the old and the
    new contents, so an install killed half-way leaves files a rerun still knows.
    ``authors_baselines``: True/False swaps the authors' GRU/LSTM protos in/out,
    None keeps what the earlier install did.
    """
    check_checkout(pkdir)
    manifest = read_manifest(pkdir)
    settings = merge_settings(manifest["settings"], values or {}, egs or [], feats,
                              authors_baselines)
    root = root or source_root()
    planned, resolved = plan(pkdir, root, settings, manifest)
    swaps = install_authors.plan_swaps(pkdir, root, settings.authors_baselines,
                                       manifest, force=force)
    conflicts = [f"{p.target.relative_to(pkdir)} ({p.why})" for p in planned
                 if p.action == "conflict"]
    stuck = [f"{s.rel} ({s.why})" for s in swaps if s.action == "conflict"]
    if stuck or (conflicts and not force):
        raise _conflict_error(stuck + conflicts)
    done = [Planned(p.source, p.target, p.text,
                    "replaced" if p.action == "conflict" else p.action)
            for p in planned]
    if not dry_run:
        files = manifest["files"]
        for p in done:
            rel = p.target.relative_to(pkdir).as_posix()
            hashes = files.setdefault(rel, [])
            if sha256(p.text) not in hashes:
                hashes.append(sha256(p.text))
        manifest["settings"] = {"values": settings.values, "egs": settings.egs,
                                "feats": settings.feats,
                                "authors_baselines": settings.authors_baselines}
        install_authors.record_before(swaps, manifest)
        _write_manifest(pkdir, manifest)
        for p in done:
            if p.action != "unchanged":
                p.target.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(str(p.target), p.text)
        install_authors.apply(pkdir, swaps)
        if any(s.action in ("restored", "removed", "forgotten") for s in swaps):
            install_authors.record_after(swaps, manifest)
            _write_manifest(pkdir, manifest)
    open_tokens: dict[str, list[str]] = {}
    for p in done:
        if p.target.suffix == ".cfg":
            for t in tokens(p.text):
                open_tokens.setdefault(t, []).append(p.target.stem)
    return Report(done, resolved, open_tokens, settings, swaps)


def _write_manifest(pkdir: Path, manifest: dict) -> None:
    atomic_write(str(pkdir / MANIFEST),
                 json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pkdir", metavar="PKDIR",
                        help="root of a PyTorch-Kaldi checkout (holds run_exp.py, "
                        "proto/)")
    parser.add_argument("--kaldi-egs", dest="egs", action="append", default=[],
                        metavar="DIR",
                        help="a finished Kaldi egs/timit/s5 or egs/librispeech/s5 "
                        "(repeatable, one per corpus; timit=DIR or librispeech=DIR "
                        "when the folder does not tell): fills the features, "
                        "alignments, data dirs, graph and scoring script of that "
                        "corpus's cfgs")
    parser.add_argument("--kaldi-feats", dest="feats", default=None,
                        choices=kaldi_egs.FEATURE_KINDS,
                        help="features taken from --kaldi-egs: fmllr (default, as in "
                        "the paper: fmllr/<set> or data-fmllr-*/<set>), mfcc "
                        "(data/<set>) or fbank (data-fbank/<set>)")
    parser.add_argument("--set", dest="values", action="append", default=[],
                        metavar="NAME=VALUE",
                        help="fill the @NAME@ token of the cfgs (repeatable; wins over "
                        "--kaldi-egs; NAME= forgets an earlier value); {cfg} in VALUE "
                        "is the cfg's name, e.g. --set USE_CUDA=True --set "
                        "OUT_FOLDER=/data/exp/{cfg}")
    parser.add_argument("--authors-baselines", action=argparse.BooleanOptionalAction,
                        default=None,
                        help="also put the authors' proto/GRU.proto and "
                        "proto/LSTM.proto (no layer-norm keys: their uni-GRU/uni-LSTM "
                        "cfgs need them) over upstream's, which are kept as "
                        "proto/*.proto.orig; upstream's own GRU/LSTM cfgs still pass "
                        "(reruns keep the choice; --no-authors-baselines puts "
                        "upstream's back)")
    parser.add_argument("--force", action="store_true",
                        help="replace files install-into did not write (or that were "
                        "edited since)")
    parser.add_argument("--dry-run", action="store_true",
                        help="only say what would be done")


def _print_report(report: Report, pkdir: Path, dry_run: bool) -> None:
    for p in report.files:
        print(f"{p.action:9s} {p.target}")
    counts = {a: sum(p.action == a for p in report.files)
              for a in ("added", "updated", "replaced", "unchanged")}
    verb = "would be " if dry_run else ""
    print(f"{len(report.files)} files {verb}installed into {pkdir}: "
          + ", ".join(f"{n} {a}" for a, n in counts.items()))
    _print_swaps(report.swaps, pkdir, verb)
    for r in report.resolved:
        print(f"from {r.egs} ({r.corpus}): "
              + (" ".join(sorted(r.values)) or "nothing"))
        for token, why in sorted(r.missing.items()):
            print(f"  not found for @{token}@: {why}")
    if not report.open_tokens:
        print(f"every cfg token is filled: cd {pkdir} && python run_exp.py "
              "cfg/TIMIT_SNN_v2.cfg")
    else:
        print("tokens still open (fill them with --kaldi-egs DIR or --set NAME=VALUE):")
        groups: dict[str, tuple[set[str], set[str]]] = {}
        for token, cfgs in report.open_tokens.items():
            for cfg in cfgs:
                names, toks = groups.setdefault(cfg.split("_")[0], (set(), set()))
                names.add(cfg)
                toks.add(token)
        for group, (names, toks) in sorted(groups.items()):
            print(f"  {group} cfgs ({len(names)}): "
                  + " ".join(f"@{t}@" for t in sorted(toks)))
    print("run_exp.py imports the SNN classes from this package "
          "(arch_library=pytorch_kaldi_snn.pytorch_kaldi): install it in the Python "
          "that runs PyTorch-Kaldi")


def _print_swaps(swaps: list[install_authors.Swap], pkdir: Path, verb: str) -> None:
    notes = {"replaced": "upstream's {b} kept", "restored": "put back from {b}",
             "forgotten": "left as it is: {b} is gone"}
    for s in swaps:
        note = notes.get(s.action, "").format(b=s.backup)
        print(f"{s.action:9s} {pkdir / s.rel}" + (f" ({note})" if note else ""))
    if any(s.action in ("added", "replaced", "updated", "unchanged") for s in swaps):
        print(f"the authors' GRU/LSTM protos {verb}in proto/ (their uni-GRU/uni-LSTM "
              "cfgs pass upstream's check_cfg); --no-authors-baselines puts "
              "upstream's back")
    elif swaps:
        print(f"upstream's GRU/LSTM protos {verb}back in proto/")


def run(args: argparse.Namespace) -> int:
    pkdir = Path(args.pkdir)
    report = install(pkdir, force=args.force, values=parse_assignments(args.values),
                     egs=args.egs, feats=args.feats, dry_run=args.dry_run,
                     authors_baselines=args.authors_baselines)
    _print_report(report, pkdir, args.dry_run)
    return 0
