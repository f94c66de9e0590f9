"""Scoring: edit distance with kaldialign, Kaldi-style result files and best lines.

``score_dir`` writes ``wer_<lmwt>_<wip>`` per decoding setting, holding Kaldi's line
``%WER 12.34 [ e / n, i ins, d del, s sub ]``, and ``best_wer``. For phone recognition
the "words" are phones and silence is removed from reference and hypothesis.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Mapping, Tuple

from pytorch_kaldi_snn.errors import DataError
from pytorch_kaldi_snn.kaldi.io import read_table
from pytorch_kaldi_snn.kaldi.io import write_text as atomic_write_text

SILENCE = {"SIL", "sil", "<sil>", "!SIL"}

# TIMIT's 61 phones folded to the 39 used for scoring (Lee & Hon, 1989).
TIMIT_61_TO_39 = {
    "aa": "aa", "ao": "aa", "ae": "ae", "ah": "ah", "ax": "ah", "ax-h": "ah",
    "aw": "aw", "ay": "ay", "b": "b", "ch": "ch", "d": "d", "dh": "dh", "dx": "dx",
    "eh": "eh", "er": "er", "axr": "er", "ey": "ey", "f": "f", "g": "g", "hh": "hh",
    "hv": "hh", "ih": "ih", "ix": "ih", "iy": "iy", "jh": "jh", "k": "k", "l": "l",
    "el": "l", "m": "m", "em": "m", "n": "n", "en": "n", "nx": "n", "ng": "ng",
    "eng": "ng", "ow": "ow", "oy": "oy", "p": "p", "r": "r", "s": "s", "sh": "sh",
    "zh": "sh", "t": "t", "th": "th", "uh": "uh", "uw": "uw", "ux": "uw", "v": "v",
    "w": "w", "y": "y", "z": "z", "bcl": "sil", "dcl": "sil", "gcl": "sil",
    "kcl": "sil", "pcl": "sil", "tcl": "sil", "h#": "sil", "pau": "sil", "epi": "sil",
    "q": None,
}


def fold_timit(phones: List[str]) -> List[str]:
    """Map TIMIT 61-phone labels to the 39-phone set (glottal stop q removed)."""
    out = []
    for p in phones:
        if p not in TIMIT_61_TO_39:
            raise DataError(f"unknown TIMIT phone {p!r}")
        q = TIMIT_61_TO_39[p]
        if q is not None:
            out.append(q)
    return out


def error_counts(ref: List[str], hyp: List[str]) -> Tuple[int, int, int]:
    """(insertions, deletions, substitutions) of the best alignment (kaldialign)."""
    import kaldialign

    r = kaldialign.edit_distance(ref, hyp)
    return int(r["ins"]), int(r["del"]), int(r["sub"])


def wer_line(refs: Mapping[str, List[str]], hyps: Mapping[str, List[str]],
             name: str = "") -> Tuple[str, float, dict]:
    ins = dels = subs = n = 0
    for utt, ref in refs.items():
        hyp = hyps.get(utt, [])
        i, d, s = error_counts(ref, hyp)
        ins, dels, subs, n = ins + i, dels + d, subs + s, n + len(ref)
    errors = ins + dels + subs
    rate = 100.0 * errors / max(n, 1)
    line = (f"%WER {rate:.2f} [ {errors} / {n}, {ins} ins, {dels} del, {subs} sub ] "
            f"{name}")
    return line.strip(), rate, {"errors": errors, "words": n, "ins": ins, "del": dels,
                                "sub": subs}


def _strip(tokens: List[str]) -> List[str]:
    return [t for t in tokens if t not in SILENCE]


def references(decode_dir, data_dir) -> Dict[str, List[str]]:
    """The reference of a decode folder: ``data_dir/text_phones`` for phone graphs,
    ``text`` for word graphs, silence removed."""
    decode_dir, data_dir = Path(decode_dir), Path(data_dir)
    kind = (decode_dir / "graph_kind").read_text().strip() \
        if (decode_dir / "graph_kind").is_file() else "word"
    ref_file = data_dir / ("text_phones" if kind == "phone" else "text")
    return {u: _strip(v.split()) for u, v in read_table(ref_file, "reference").items()}


def score_file(hyp_file, refs: Mapping[str, List[str]]) -> Tuple[str, float]:
    """Score one ``hyp_<LMWT>_<WIP>.txt`` and write ``wer_<LMWT>_<WIP>`` beside it."""
    hyp_file = Path(hyp_file)
    hyps = {u: _strip(v.split()) for u, v in read_table(hyp_file, "hypothesis").items()}
    missing = sorted(set(refs) - set(hyps))
    if missing:
        raise DataError(f"{hyp_file}: no hypothesis for utterance {missing[0]}")
    out = hyp_file.parent / f"wer_{hyp_file.stem[len('hyp_'):]}"
    line, rate, _ = wer_line(refs, hyps, str(out))
    atomic_write_text(out, line + "\n")
    return line, rate


def score_dir(decode_dir, data_dir) -> Tuple[str, float]:
    """Score every ``hyp_*.txt`` of a decode folder (see :func:`references`); writes
    ``wer_*`` and ``best_wer`` (the best setting on this set, as Kaldi's
    ``best_wer.sh``). Returns that best line and rate."""
    decode_dir = Path(decode_dir)
    refs = references(decode_dir, data_dir)
    hyp_files = sorted(decode_dir.glob("hyp_*.txt"))
    if not hyp_files:
        raise DataError(f"{decode_dir}: no hyp_*.txt to score")
    best = None
    for hf in hyp_files:
        line, rate = score_file(hf, refs)
        if best is None or rate < best[1]:
            best = (line, rate)
    atomic_write_text(decode_dir / "best_wer", best[0] + "\n")
    return best


_RATE = re.compile(r"%WER\s+([0-9.]+)")


def best_wer(decode_dir) -> str:
    """The best ``%WER`` line of a scored decode folder."""
    path = Path(decode_dir) / "best_wer"
    if not path.is_file():
        raise DataError(f"{path}: not scored yet")
    return path.read_text().strip()


def read_rate(line: str) -> float:
    m = _RATE.search(line)
    if not m:
        raise DataError(f"not a %WER line: {line!r}")
    return float(m.group(1))


def texts(path) -> Dict[str, List[str]]:
    return {u: v.split() for u, v in read_table(path).items()}
