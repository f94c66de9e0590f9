"""``prepare_lang``: a Kaldi lang folder from a dict folder (Kaldi's dict format).

Writes phones.txt (``<eps>`` 0, silence, phones, disambiguation symbols ``#0..#k``),
words.txt (``<eps>``, words, ``#0``, ``<s>``, ``</s>``), lexicon.txt, phones/ lists,
oov.txt and topo (3-state left-to-right HMMs, Kaldi's text format).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Dict, List, Tuple

from pytorch_kaldi_snn.errors import DataError
from pytorch_kaldi_snn.kaldi.io import atomic_write_text

NUM_STATES = 3


def read_lexicon(path) -> List[Tuple[str, List[str]]]:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: lexicon not found")
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 2:
            raise DataError(f"{path}:{n}: word {parts[0]!r} has no pronunciation")
        out.append((parts[0], parts[1:]))
    return out


def _lines(path: Path) -> List[str]:
    if not path.is_file():
        raise DataError(f"{path}: missing (Kaldi dict folder)")
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]


def prepare_lang(dict_dir, lang_dir) -> Path:
    dict_dir, lang_dir = Path(dict_dir), Path(lang_dir)
    lexicon = read_lexicon(dict_dir / "lexicon.txt")
    silence = _lines(dict_dir / "silence_phones.txt")
    nonsil = _lines(dict_dir / "nonsilence_phones.txt")
    known = set(silence) | set(nonsil)
    for word, pron in lexicon:
        bad = [p for p in pron if p not in known]
        if bad:
            raise DataError(f"{dict_dir / 'lexicon.txt'}: word {word!r} uses unknown "
                            f"phones {bad}")
    # Disambiguation: homophones and prefixes need #1, #2, ...
    # (Kaldi's add_lex_disambig).
    counts = Counter(" ".join(p) for _, p in lexicon)
    n_disambig = max(counts.values()) if counts else 1
    phones = ["<eps>"] + silence + nonsil + [f"#{i}" for i in range(n_disambig + 1)]
    words = ["<eps>"] + sorted({w for w, _ in lexicon}) + ["#0", "<s>", "</s>"]
    lang_dir.mkdir(parents=True, exist_ok=True)
    (lang_dir / "phones").mkdir(exist_ok=True)
    atomic_write_text(lang_dir / "phones.txt",
                      "".join(f"{p} {i}\n" for i, p in enumerate(phones)))
    atomic_write_text(lang_dir / "words.txt",
                      "".join(f"{w} {i}\n" for i, w in enumerate(words)))
    atomic_write_text(lang_dir / "lexicon.txt",
                      "".join(f"{w} {' '.join(p)}\n" for w, p in lexicon))
    atomic_write_text(lang_dir / "phones" / "silence.txt", "\n".join(silence) + "\n")
    atomic_write_text(lang_dir / "phones" / "nonsilence.txt", "\n".join(nonsil) + "\n")
    opt = (_lines(dict_dir / "optional_silence.txt")
           if (dict_dir / "optional_silence.txt").is_file() else silence[:1])
    atomic_write_text(lang_dir / "phones" / "optional_silence.txt", opt[0] + "\n")
    atomic_write_text(lang_dir / "oov.txt",
                      (silence[0] if not any(w == "<UNK>" for w, _ in lexicon)
                       else "<UNK>") + "\n")
    atomic_write_text(lang_dir / "topo",
                      _topo(range(1, 1 + len(silence) + len(nonsil))))
    return lang_dir


def _topo(phone_ids) -> str:
    ids = " ".join(str(i) for i in phone_ids)
    states = "".join(
        f"<State> {s} <PdfClass> {s} <Transition> {s} 0.75 "
        f"<Transition> {s + 1} 0.25 </State>\n"
        for s in range(NUM_STATES))
    return ("<Topology>\n<TopologyEntry>\n<ForPhones>\n" + ids + "\n</ForPhones>\n"
            + states + f"<State> {NUM_STATES} </State>\n"
            "</TopologyEntry>\n</Topology>\n")


def read_symbols(path) -> Dict[str, int]:
    table = {}
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            table[parts[0]] = int(parts[1])
    return table
