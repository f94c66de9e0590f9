"""LibriSpeech data dirs from the OpenSLR folder tree (Kaldi's ``local/data_prep.sh``
and ``local/prepare_dict.sh`` without G2P, pip-only).

Input: ``LIBRI_ROOT/<part>/<reader>/<chapter>/<reader>-<chapter>-<nnnn>.flac`` with one
``<reader>-<chapter>.trans.txt`` per chapter (``.wav`` files are accepted too, e.g.
after ``sox`` conversion; FLAC needs the ``soundfile`` package), and the lexicon
``librispeech-lexicon.txt`` (OpenSLR resource 11: ``WORD PH1 PH2 ...``, ARPAbet with
stress; the first pronunciation of a word is used).

Outputs under ``out_dir/data``: one data dir per part (``train-clean-100`` becomes
``train_clean_100``; speakers are ``<reader>-<chapter>`` as in Kaldi) with wav.scp,
text, utt2spk, spk2utt, ``text_phones`` (``SIL`` + pronunciations + ``SIL``; words
missing from the lexicon become ``SPN``) and ``text_lm`` (the text with those words
replaced by ``<UNK>``, for language models); and ``local/dict`` (the whole lexicon,
since test words need pronunciations too, plus ``!SIL SIL`` and ``<UNK> SPN``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from pytorch_kaldi_snn.datasets.kaldi_dir import (
    Utterance,
    atomic_write,
    write_data_dir,
    write_dict,
)
from pytorch_kaldi_snn.errors import DataError

logger = logging.getLogger(__name__)
DEFAULT_PARTS = ("train-clean-100", "dev-clean", "test-clean")
SIL, SPN, UNK = "SIL", "SPN", "<UNK>"


def read_lexicon(path) -> dict[str, tuple[str, ...]]:
    """``{WORD: phones}`` (first pronunciation of each word)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: LibriSpeech lexicon not found (download "
                        "librispeech-lexicon.txt from https://www.openslr.org/11/)")
    from pytorch_kaldi_snn.kaldi.lang import read_lexicon

    lex: dict[str, tuple[str, ...]] = {}
    for word, pron in read_lexicon(path):
        lex.setdefault(word, tuple(pron))  # the first pronunciation of a word wins
    if not lex:
        raise DataError(f"{path}: empty lexicon")
    return lex


def _audio(chapter: Path, utt: str) -> Path:
    for ext in (".flac", ".wav"):
        p = chapter / f"{utt}{ext}"
        if p.is_file():
            return p
    raise DataError(f"{chapter / utt}.flac: missing (nor .wav)")


def scan_part(part_dir) -> list[Utterance]:
    """Every transcribed utterance of one LibriSpeech part."""
    part_dir = Path(part_dir)
    if not part_dir.is_dir():
        raise DataError(f"{part_dir}: LibriSpeech part not found")
    utts = []
    for trans in sorted(part_dir.glob("*/*/*.trans.txt")):
        chapter = trans.parent
        spk = f"{chapter.parent.name}-{chapter.name}"
        for n, line in enumerate(trans.read_text().splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) < 2:
                raise DataError(f"{trans}:{n}: utterance {parts[0]} has no words")
            utt = parts[0]
            if not utt.startswith(spk + "-"):
                raise DataError(f"{trans}:{n}: utterance {utt} is not from {spk}")
            utts.append(Utterance(utt=utt, spk=spk,
                                  audio=str(_audio(chapter, utt).resolve()),
                                  words=tuple(w.upper() for w in parts[1:])))
    if not utts:
        raise DataError(f"{part_dir}: no <reader>/<chapter>/*.trans.txt found")
    return utts


def with_phones(utts: list[Utterance], lexicon: dict[str, tuple[str, ...]]
                ) -> tuple[list[Utterance], int]:
    """The utterances with phone transcripts, and the number of OOV word tokens."""
    out, oov = [], 0
    for u in utts:
        phones = [SIL]
        for w in u.words:
            pron = lexicon.get(w)
            if pron is None:
                oov += 1
                phones.append(SPN)
            else:
                phones.extend(pron)
        phones.append(SIL)
        out.append(Utterance(u.utt, u.spk, u.audio, u.words, tuple(phones)))
    return out, oov


def prepare_librispeech(libri_root, out_dir, parts=DEFAULT_PARTS,
                        lexicon=None) -> Path:
    """Write ``out_dir/data/<part>`` for each part and ``out_dir/data/local/dict``.

    ``lexicon`` defaults to ``libri_root/librispeech-lexicon.txt``."""
    root = Path(libri_root)
    lex = read_lexicon(lexicon if lexicon else root / "librispeech-lexicon.txt")
    data = Path(out_dir) / "data"
    for part in parts:
        utts, oov = with_phones(scan_part(root / part), lex)
        d = write_data_dir(data / part.replace("-", "_"), utts)
        atomic_write(d / "text_lm", "".join(
            f"{u.utt} {' '.join(w if w in lex else UNK for w in u.words)}\n"
            for u in sorted(utts, key=lambda u: u.utt)))
        n_words = sum(len(u.words) for u in utts)
        logger.info("LibriSpeech %s: %d utterances, %d speakers, %d of %d words OOV",
                    part, len(utts), len({u.spk for u in utts}), oov, n_words)
    entries = dict(lex)
    entries["!SIL"] = (SIL,)
    entries[UNK] = (SPN,)
    write_dict(data / "local" / "dict", entries, [SIL, SPN], SIL)
    return data


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("libri_root", help="folder holding the LibriSpeech parts")
    p.add_argument("out_dir", help="writes OUT_DIR/data/<part> and data/local/dict")
    p.add_argument("--parts", nargs="+", default=list(DEFAULT_PARTS),
                   help="parts to prepare (folder names under LIBRI_ROOT)")
    p.add_argument("--lexicon", default=None,
                   help="librispeech-lexicon.txt (default: LIBRI_ROOT/...)")


def run(args: argparse.Namespace) -> int:
    """``pytorch-kaldi-snn prepare-librispeech``; the console script sets up logging
    and turns errors into one line."""
    data = prepare_librispeech(args.libri_root, args.out_dir, args.parts, args.lexicon)
    print(f"LibriSpeech data dirs written to {data}")
    return 0


if __name__ == "__main__":  # python -m: the same as the subcommand
    from pytorch_kaldi_snn.cli import main

    sys.exit(main(["prepare-librispeech", *sys.argv[1:]]))
