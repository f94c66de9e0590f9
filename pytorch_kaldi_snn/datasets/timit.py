"""TIMIT data dirs from the LDC folder tree (Kaldi's ``timit_data_prep.sh`` +
``timit_format_data.sh``, pip-only).

Input: ``TIMIT_ROOT/{TRAIN,TEST}/DR*/<SPK>/<UTT>.{WAV,PHN,WRD,TXT}`` (any letter case;
``.WAV`` is NIST SPHERE). As in Kaldi's recipe, the SA sentences are dropped, ``train``
is the 462-speaker training set, ``test`` the 24-speaker core test set and ``dev`` 50
other speakers of the complete test set (pass Kaldi's ``conf/dev_spk.list`` as
``dev_speakers`` for its exact list; by default every third remaining speaker, sorted).

Phone recognition: the "words" are phones. ``phone_set`` picks the labels:
``39`` (Lee & Hon's folding, the set PER is reported on; closures become ``sil``, ``q``
is dropped), ``48`` (Kaldi's training set) or ``61`` (the transcriptions as they are).
Outputs under ``out_dir``: ``data/{train,dev,test}`` (wav.scp, text = text_phones,
text_words from .WRD, utt2spk, spk2utt, phone_times.txt in 10 ms frames) and
``data/local/dict`` (each phone its own word, ``sil`` the silence).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from pytorch_kaldi_snn.datasets.kaldi_dir import Utterance, write_data_dir, write_dict
from pytorch_kaldi_snn.errors import ConfigError, DataError

logger = logging.getLogger(__name__)
# The 24 speakers of TIMIT's core test set (TIMIT documentation, testset.txt).
CORE_TEST = frozenset([
    "MDAB0", "MWBT0", "FELC0", "MTAS1", "MWEW0", "FPAS0", "MJMP0", "MLNT0", "FPKT0",
    "MLLL0", "MTLS0", "FJLM0", "MBPM0", "MKLT0", "FNLP0", "MCMJ0", "MJDH0", "FMGD0",
    "MGRT0", "MNJM0", "FDHC0", "MJLN0", "MPAM0", "FMLD0"])
# 61 -> 48 (Lee & Hon, 1989): closures merge into cl/vcl, allophones into their phone.
_TO_48 = {"ax-h": "ax", "axr": "er", "bcl": "vcl", "dcl": "vcl", "gcl": "vcl",
          "pcl": "cl", "tcl": "cl", "kcl": "cl", "em": "m", "eng": "ng", "nx": "n",
          "hv": "hh", "ux": "uw", "h#": "sil", "pau": "sil", "q": None}
PHONE_SETS = ("39", "48", "61")
FRAME_SHIFT = 160  # samples per 10 ms frame at 16 kHz


def map_phone(p: str, phone_set: str) -> str | None:
    """One TIMIT 61-set label in ``phone_set``; None when the phone is dropped (q)."""
    if phone_set == "61":
        return "sil" if p == "h#" else p
    if phone_set == "48":
        return _TO_48.get(p, p)
    from pytorch_kaldi_snn.kaldi.score import TIMIT_61_TO_39

    if p not in TIMIT_61_TO_39:
        raise DataError(f"unknown TIMIT phone {p!r}")
    return TIMIT_61_TO_39[p]


def read_phn(path: Path, phone_set: str) -> list[tuple[str, int, int]]:
    """``(phone, start_frame, end_frame)`` of a ``.PHN`` file (sample indices / 160)."""
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            raise DataError(f"{path}:{n}: expected 'start end phone', got {line!r}")
        q = map_phone(parts[2].lower(), phone_set)
        if q is not None:
            out.append((q, int(parts[0]) // FRAME_SHIFT, int(parts[1]) // FRAME_SHIFT))
    if not out:
        raise DataError(f"{path}: no phones")
    return out


def _find(folder: Path, stem: str, ext: str) -> Path:
    for cand in (ext.upper(), ext.lower()):
        p = folder / f"{stem}.{cand}"
        if p.is_file():
            return p
    raise DataError(f"{folder / stem}.{ext.upper()}: missing")


def _child(folder: Path, name: str) -> Path | None:
    for p in folder.iterdir() if folder.is_dir() else ():
        if p.name.lower() == name.lower():
            return p
    return None


def scan(timit_root, phone_set: str = "39") -> dict[str, list[Utterance]]:
    """Utterances (SI and SX only) per speaker split: ``{"train": [...], "test_all":
    [...]}`` with speaker ids as ``<SPK>`` (upper case) and utterance ids
    ``<SPK>_<UTT>``."""
    if phone_set not in PHONE_SETS:
        raise ConfigError("unknown TIMIT phone set", key="phone_set", value=phone_set,
                          allowed=PHONE_SETS)
    root = Path(timit_root)
    out: dict[str, list[Utterance]] = {}
    for split, key in (("TRAIN", "train"), ("TEST", "test_all")):
        top = _child(root, split)
        if top is None:
            raise DataError(f"{root}: no {split}/ folder (expected the LDC TIMIT tree "
                            f"{split}/DR1/<speaker>/<utt>.WAV)")
        utts = []
        for wav in sorted(top.glob("*/*/*")):
            if wav.suffix.lower() != ".wav" or wav.stem.lower().startswith("sa"):
                continue
            spk = wav.parent.name.upper()
            stem = wav.stem
            times = read_phn(_find(wav.parent, stem, "phn"), phone_set)
            words = _find(wav.parent, stem, "wrd").read_text().split()[2::3]
            phones = tuple(p for p, _, _ in times)
            utts.append(Utterance(utt=f"{spk}_{stem.upper()}", spk=spk,
                                  audio=str(wav.resolve()), words=phones,
                                  phones=phones, times=tuple(times),
                                  orth=" ".join(w.lower() for w in words)))
        if not utts:
            raise DataError(f"{top}: no SI/SX .WAV files found")
        out[key] = utts
    return out


def split_test(test_all: list[Utterance], dev_speakers=None
               ) -> tuple[list[Utterance], list[Utterance]]:
    """(dev, core test) from the complete test set."""
    test = [u for u in test_all if u.spk in CORE_TEST]
    rest = sorted({u.spk for u in test_all} - CORE_TEST)
    if dev_speakers is not None:
        wanted = {s.upper() for s in Path(dev_speakers).read_text().split()}
    else:
        wanted = set(rest[::3][:50])
    dev = [u for u in test_all if u.spk in wanted and u.spk not in CORE_TEST]
    if not test:
        raise DataError("no core-test speakers in TEST/ (is this the full TIMIT?)")
    if not dev:
        raise DataError("no dev speakers in TEST/")
    return dev, test


def prepare_timit(timit_root, out_dir, phone_set: str = "39",
                  dev_speakers=None) -> Path:
    """Write ``out_dir/data/{train,dev,test}`` and ``out_dir/data/local/dict``."""
    found = scan(timit_root, phone_set)
    dev, test = split_test(found["test_all"], dev_speakers)
    data = Path(out_dir) / "data"
    for name, utts in (("train", found["train"]), ("dev", dev), ("test", test)):
        write_data_dir(data / name, utts)
        logger.info("TIMIT %s: %d utterances, %d speakers", name, len(utts),
                    len({u.spk for u in utts}))
    phones = sorted({p for u in found["train"] + dev + test for p in u.phones})
    write_dict(data / "local" / "dict", {p: [p] for p in phones}, ["sil"], "sil")
    return data


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("timit_root", help="TIMIT folder holding TRAIN/ and TEST/")
    p.add_argument("out_dir", help="writes OUT_DIR/data/{train,dev,test,local/dict}")
    p.add_argument("--phone-set", choices=PHONE_SETS, default="39",
                   help="phone labels: 39 (scoring set), 48 (Kaldi's) or 61")
    p.add_argument("--dev-speakers", default=None,
                   help="file of dev speaker ids (Kaldi's conf/dev_spk.list)")


def run(args: argparse.Namespace) -> int:
    """``pytorch-kaldi-snn prepare-timit``; the console script sets up logging and turns
    errors into one line."""
    data = prepare_timit(args.timit_root, args.out_dir, args.phone_set,
                         args.dev_speakers)
    print(f"TIMIT data dirs written to {data}")
    return 0


if __name__ == "__main__":  # python -m: the same as the subcommand
    from pytorch_kaldi_snn.cli import main

    sys.exit(main(["prepare-timit", *sys.argv[1:]]))
