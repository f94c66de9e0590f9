"""Where a finished Kaldi ``egs/timit/s5`` or ``egs/librispeech/s5`` keeps what our cfg
templates need: feature, alignment, data and graph folders and the scoring script.

The layouts are those the paper's cfgs (and upstream PyTorch-Kaldi's TIMIT and
LibriSpeech tutorials) assume. Each token has candidate paths, tried in order; the first
that holds every required file fills the token. For a token none fills, the problem
names what is missing and the Kaldi command that makes it:

- TIMIT (``run.sh`` + ``local/nnet/run_dnn.sh``): fMLLR features ``fmllr/<set>``
  (the authors') or ``data-fmllr-tri3/<set>`` (Kaldi's ``run_dnn.sh``), alignments
  ``exp/tri3_ali`` (or ``exp/tri3``), ``exp/tri3_ali_dev``, ``exp/tri3_ali_test``, data
  ``data/<set>``, graph ``exp/tri3/graph``, scoring ``local/score.sh``; sets train, dev,
  test.
- LibriSpeech-100h (``run.sh`` to stage 13 + PyTorch-Kaldi's fMLLR and alignment steps):
  ``fmllr/<set>`` (or ``data-fmllr-tri4b/<set>``), ``exp/tri4b_ali_clean_100`` (or
  ``exp/tri4b``), ``exp/tri4b_ali_{dev,test}_clean_100`` (or ``..._clean``), data
  ``data/<set>``, graph ``exp/tri4b/graph_tgsmall``; sets train_clean_100, dev_clean,
  test_clean.

``mfcc`` features take Kaldi's own ``data/<set>`` (feats.scp and cmvn.scp made by
``run.sh``); ``fbank`` takes ``data-fbank/<set>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pytorch_kaldi_snn.errors import ConfigError

CORPORA = ("timit", "librispeech")
FEATURE_KINDS = ("fmllr", "mfcc", "fbank")
SPLITS = ("TRAIN", "DEV", "TEST")
FEATURE_FILES = ("feats.scp", "utt2spk", "cmvn.scp")


@dataclass(frozen=True)
class Layout:
    """One corpus's egs folder: its sets and where each token's folder may be."""

    corpus: str
    sets: dict[str, str]  # split -> Kaldi set name
    fmllr: tuple[str, ...]  # feature roots holding <set>/ for fMLLR
    ali: dict[str, tuple[str, ...]]  # split -> alignment folders
    graph: str
    fmllr_hint: str
    ali_hint: str
    graph_hint: str


TIMIT = Layout(
    corpus="timit",
    sets={"TRAIN": "train", "DEV": "dev", "TEST": "test"},
    fmllr=("fmllr", "data-fmllr-tri3"),
    ali={"TRAIN": ("exp/tri3_ali", "exp/tri3"), "DEV": ("exp/tri3_ali_dev",),
         "TEST": ("exp/tri3_ali_test",)},
    graph="exp/tri3/graph",
    fmllr_hint="Kaldi's local/nnet/run_dnn.sh writes data-fmllr-tri3/{set}",
    ali_hint="steps/align_fmllr.sh --nj 4 data/{set} data/lang exp/tri3 {dir}",
    graph_hint="Kaldi's run.sh: utils/mkgraph.sh data/lang_test_bg exp/tri3 "
    "exp/tri3/graph",
)
LIBRISPEECH = Layout(
    corpus="librispeech",
    sets={"TRAIN": "train_clean_100", "DEV": "dev_clean", "TEST": "test_clean"},
    fmllr=("fmllr", "data-fmllr-tri4b"),
    ali={"TRAIN": ("exp/tri4b_ali_clean_100", "exp/tri4b"),
         "DEV": ("exp/tri4b_ali_dev_clean_100", "exp/tri4b_ali_dev_clean"),
         "TEST": ("exp/tri4b_ali_test_clean_100", "exp/tri4b_ali_test_clean")},
    graph="exp/tri4b/graph_tgsmall",
    fmllr_hint="steps/nnet/make_fmllr_feats.sh --transform-dir "
    "exp/tri4b/decode_tgsmall_{set} fmllr/{set} data/{set} exp/tri4b "
    "fmllr/{set}/log fmllr/{set}/data",
    ali_hint="steps/align_fmllr.sh --nj 10 data/{set} data/lang exp/tri4b {dir}",
    graph_hint="Kaldi's run.sh up to stage 13",
)
LAYOUTS = {"timit": TIMIT, "librispeech": LIBRISPEECH}


@dataclass(frozen=True)
class Resolved:
    """Token values found in one egs folder and, per token not found, why."""

    corpus: str
    egs: Path
    values: dict[str, str]
    missing: dict[str, str]


def detect(egs: Path) -> str:
    """``"timit"`` or ``"librispeech"`` from what ``egs`` holds; ConfigError if
    neither."""
    if not egs.is_dir():
        raise ConfigError("Kaldi egs folder does not exist", key="--kaldi-egs",
                          value=str(egs), allowed="a finished egs/timit/s5 or "
                          "egs/librispeech/s5")
    data = egs / "data"
    if any((data / s).is_dir() for s in LIBRISPEECH.sets.values()):
        return "librispeech"
    if any((data / s).is_dir() for s in ("dev", "test")) or (
            egs / "conf" / "dev_spk.list").is_file():
        return "timit"
    raise ConfigError("cannot tell the corpus of this Kaldi egs folder (no "
                      "data/train_clean_100, data/dev_clean, data/dev or "
                      "conf/dev_spk.list)", key="--kaldi-egs", value=str(egs),
                      allowed="timit=DIR or librispeech=DIR to say which")


def parse_egs_option(text: str) -> tuple[str, Path]:
    """``"DIR"``, ``"timit=DIR"`` or ``"librispeech=DIR"`` -> ``(corpus, DIR)``."""
    name, sep, rest = text.partition("=")
    if sep and name in CORPORA:
        egs = Path(rest).expanduser()
        if not egs.is_dir():
            detect(egs)  # raises the does-not-exist error
        return name, egs
    egs = Path(text).expanduser()
    return detect(egs), egs


def _first(egs: Path, candidates: tuple[str, ...],
           files: tuple[str, ...]) -> tuple[str | None, str]:
    """The first candidate folder holding all ``files``; else None and what the
    closest one lacks."""
    best: tuple[int, str] | None = None
    for rel in candidates:
        folder = egs / rel
        lacks = [f for f in files if not _has(folder, f)]
        if not lacks:
            return str(folder.resolve()), ""
        if folder.is_dir() and (best is None or len(lacks) < best[0]):
            best = (len(lacks), f"{rel} has no {', '.join(lacks)}")
    if best is not None:
        return None, best[1]
    return None, f"no {' or '.join(candidates)}"


def _has(folder: Path, name: str) -> bool:
    if "*" in name:
        return any(folder.glob(name))
    return (folder / name).is_file()


def resolve(egs: Path, corpus: str, feats: str = "fmllr") -> Resolved:
    """Token values (absolute paths) for the cfgs of ``corpus`` from ``egs``."""
    if feats not in FEATURE_KINDS:
        raise ConfigError("unknown feature kind", key="--kaldi-feats", value=feats,
                          allowed=", ".join(FEATURE_KINDS))
    lay = LAYOUTS[corpus]
    values: dict[str, str] = {}
    missing: dict[str, str] = {}

    def take(token: str, found: str | None, why: str, hint: str) -> None:
        if found is None:
            missing[token] = f"{why} ({hint})" if hint else why
        else:
            values[token] = found

    for split, name in lay.sets.items():
        roots = {"fmllr": lay.fmllr, "mfcc": ("data",), "fbank": ("data-fbank",)}[feats]
        found, why = _first(egs, tuple(f"{r}/{name}" for r in roots), FEATURE_FILES)
        if "cmvn.scp" in why and "feats.scp" not in why:
            hint = f"steps/compute_cmvn_stats.sh {why.split()[0]}"
        elif feats == "fmllr":
            hint = lay.fmllr_hint.format(set=name)
        elif feats == "fbank":
            hint = (f"utils/copy_data_dir.sh data/{name} data-fbank/{name}, then "
                    "steps/make_fbank.sh and steps/compute_cmvn_stats.sh on it")
        else:
            hint = "Kaldi's run.sh"
        take(f"FEATS_{split}", found, why, hint)
        dirs = lay.ali[split]
        found, why = _first(egs, dirs, ("final.mdl", "ali.*.gz"))
        take(f"ALI_{split}", found, why, lay.ali_hint.format(set=name, dir=dirs[0]))
        found, why = _first(egs, (f"data/{name}",), ("text",))
        take(f"DATA_{split}", found, why, "Kaldi's run.sh")
    found, why = _first(egs, (lay.graph,), ("HCLG.fst", "words.txt"))
    take("GRAPH_DIR", found, why, lay.graph_hint)
    score = egs / "local" / "score.sh"
    if score.is_file():
        values["SCORING_SCRIPT"] = str(score.resolve())
    else:
        missing["SCORING_SCRIPT"] = "no local/score.sh"
    return Resolved(corpus, egs, values, missing)


def corpus_of_cfg(name: str) -> str | None:
    """The corpus a cfg template is for, from its file name (``TIMIT_*``,
    ``Librispeech_*``)."""
    lower = name.lower()
    for corpus in CORPORA:
        if lower.startswith(corpus):
            return corpus
    return None


def main(argv: list[str] | None = None) -> int:
    """``python -m pytorch_kaldi_snn.pytorch_kaldi.kaldi_egs DIR``: one ``NAME=VALUE``
    line per token found (what the recipes' Kaldi route renders the cfg with); exit 1
    naming every token not found."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m pytorch_kaldi_snn.pytorch_kaldi.kaldi_egs",
        description="Token values of our cfg templates from a finished Kaldi egs "
        "folder (egs/timit/s5 or egs/librispeech/s5).")
    parser.add_argument("egs", help="the egs folder, or timit=DIR / librispeech=DIR")
    parser.add_argument("--corpus", choices=CORPORA, default=None,
                        help="the corpus the folder must be (default: detected)")
    parser.add_argument("--feats", choices=FEATURE_KINDS, default="fmllr",
                        help="feature kind (default fmllr)")
    args = parser.parse_args(argv)
    try:
        text = args.egs
        if args.corpus and text.partition("=")[0] not in CORPORA:
            text = f"{args.corpus}={text}"
        corpus, egs = parse_egs_option(text)
        found = resolve(egs, corpus, args.feats)
    except ConfigError as exc:
        print(f"kaldi_egs: error: {exc}", file=sys.stderr)
        return 1
    for token, why in sorted(found.missing.items()):
        print(f"kaldi_egs: {egs}: not found for @{token}@: {why}", file=sys.stderr)
    if found.missing:
        return 1
    for token, value in sorted(found.values.items()):
        print(f"{token}={value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
