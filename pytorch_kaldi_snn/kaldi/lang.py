"""``prepare_lang``: a Kaldi ``data/lang`` folder from a ``data/local/dict`` folder.

Input (Kaldi's dict format): ``lexicon.txt`` (``WORD p1 p2 ...``) or ``lexiconp.txt``
(``WORD prob p1 ...``), ``silence_phones.txt``, ``nonsilence_phones.txt``,
``optional_silence.txt``. Output, as ``utils/prepare_lang.sh`` writes it (position
independent phones): ``phones.txt``, ``words.txt``, ``topo``, ``L.fst``,
``L_disambig.fst``, ``oov.txt``/``oov.int``, ``phones/{silence,nonsilence,
optional_silence,disambig,context_indep}.{txt,int,csl}`` and ``phones/lexicon.txt``.

Lexicon FST with optional silence (probability ``p = sil_prob``), as Kaldi's
``make_lexicon_fst.py``: start ``s``, loop ``l`` (final) and silence ``t``::

    s --eps:eps / -log(1-p)--> l        s --eps:eps / -log p--> t
    t --SIL:eps--> l                    (L_disambig: t --SIL--> d --#K+1--> l)
    l --p1:WORD ... pn:eps / -log(1-p)--> l     (last arc may go to t / -log p)

so silence may open the utterance and follow every word, the last one included. (An
earlier version put the SIL arc on ``s -> t``: silence after a word then emitted
nothing, and SIL could only open an utterance.)

``L_disambig.fst`` adds the lexicon's disambiguation symbols ``#1..#K`` (a pronunciation
that is a prefix of another, or a homophone, gets its own ``#k``) and a ``#0:#0`` self
loop on ``l`` for G's back-off arcs.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pytorch_kaldi_snn.errors import DataError
from pytorch_kaldi_snn.kaldi.io import PathLike, read_rows, read_symbols, write_text

logger = logging.getLogger(__name__)

NONSIL_TOPO = """<TopologyEntry>
<ForPhones>
{phones}
</ForPhones>
<State> 0 <PdfClass> 0 <Transition> 0 0.75 <Transition> 1 0.25 </State>
<State> 1 <PdfClass> 1 <Transition> 1 0.75 <Transition> 2 0.25 </State>
<State> 2 <PdfClass> 2 <Transition> 2 0.75 <Transition> 3 0.25 </State>
<State> 3 </State>
</TopologyEntry>
"""

SIL_TOPO = """<TopologyEntry>
<ForPhones>
{phones}
</ForPhones>
<State> 0 <PdfClass> 0 <Transition> 0 0.25 <Transition> 1 0.25 <Transition> 2 0.25 \
<Transition> 3 0.25 </State>
<State> 1 <PdfClass> 1 <Transition> 1 0.25 <Transition> 2 0.25 <Transition> 3 0.25 \
<Transition> 4 0.25 </State>
<State> 2 <PdfClass> 2 <Transition> 1 0.25 <Transition> 2 0.25 <Transition> 3 0.25 \
<Transition> 4 0.25 </State>
<State> 3 <PdfClass> 3 <Transition> 1 0.25 <Transition> 2 0.25 <Transition> 3 0.25 \
<Transition> 4 0.25 </State>
<State> 4 <PdfClass> 4 <Transition> 4 0.75 <Transition> 5 0.25 </State>
<State> 5 </State>
</TopologyEntry>
"""


@dataclass
class Lang:
    """What the other modules need from a lang folder (all ids are Kaldi ints)."""

    lang_dir: Path
    phones: dict[str, int]
    words: dict[str, int]
    silence: list[int]
    optional_silence: int
    disambig: list[int]
    oov: str

    def real_phones(self) -> list[int]:
        """Phone ids without ``<eps>`` and disambiguation symbols, ascending."""
        skip = set(self.disambig) | {0}
        return sorted(i for i in self.phones.values() if i not in skip)

    def topo_text(self) -> str:
        """The ``topo`` file's text."""
        return (self.lang_dir / "topo").read_text()


def _read_phone_list(path: Path, required: bool = True) -> list[str]:
    if not path.is_file():
        if required:
            raise DataError(f"{path}: phone list not found (Kaldi dict format)")
        return []
    return [p for line in path.read_text().splitlines() for p in line.split()]


def read_lexicon(path: PathLike) -> list[tuple[str, list[str]]]:
    """A lexicon file (``WORD p1 p2 ...`` per line): [(word, phones)] in file order.

    Raises DataError when the file is missing or a word has no pronunciation.
    """
    out = []
    for word, phones in read_rows(path, "lexicon"):
        if not phones:
            raise DataError(f"{path}: word {word!r} has no pronunciation")
        out.append((word, phones))
    return out


def read_dict_lexicon(dict_dir: PathLike) -> list[tuple[str, float, list[str]]]:
    """A dict folder's ``lexiconp.txt`` or else ``lexicon.txt``: [(word, prob,
    phones)] in file order."""
    dict_dir = Path(dict_dir)
    lexp = dict_dir / "lexiconp.txt"
    entries = []
    if lexp.is_file():
        for word, rest in read_rows(lexp, "lexicon"):
            try:
                prob = float(rest[0])
            except (IndexError, ValueError):
                raise DataError(f"{lexp}: word {word!r} has no probability") from None
            entries.append((word, prob, rest[1:]))
    else:
        for word, rest in read_rows(dict_dir / "lexicon.txt", "lexicon"):
            entries.append((word, 1.0, rest))
    return entries


def _add_disambig(
    prons: Sequence[tuple[str, ...]],
) -> tuple[list[tuple[str, ...]], int]:
    """Append ``#k`` to homophones and to prefixes of other pronunciations.

    Same rule as Kaldi's ``add_lex_disambig.pl``: a pronunciation needs a symbol if it
    occurs more than once or is a proper prefix of another one (empty ones always);
    symbols are numbered per pronunciation string from 1. Returns (new prons, K).
    """
    counts = Counter(prons)
    prefixes = set()
    for p in counts:
        for n in range(1, len(p)):
            prefixes.add(p[:n])
    next_k: dict[tuple[str, ...], int] = {}
    out, max_k = [], 0
    for p in prons:
        if counts[p] > 1 or p in prefixes or not p:
            k = next_k.get(p, 1)
            next_k[p] = k + 1
            max_k = max(max_k, k)
            out.append(p + (f"#{k}",))
        else:
            out.append(p)
    return out, max_k


def _lexicon_fst_text(entries, phone_id, word_id, sil: str, sil_prob: float,
                      sil_disambig: str = "") -> str:
    """OpenFst text of L (see the module docstring); costs are -log probabilities."""
    lines = []
    start, loop, sil_state, dis_state = 0, 1, 2, 3
    if sil_prob > 0:
        no_sil, yes_sil = -math.log(1 - sil_prob), -math.log(sil_prob)
        lines.append(f"{start} {loop} 0 0 {no_sil}")
        lines.append(f"{start} {sil_state} 0 0 {yes_sil}")
        if sil_disambig:
            lines.append(f"{sil_state} {dis_state} {phone_id[sil]} 0 0")
            lines.append(f"{dis_state} {loop} {phone_id[sil_disambig]} 0 0")
        else:
            lines.append(f"{sil_state} {loop} {phone_id[sil]} 0 0")
    else:
        loop = start
    next_state = 4
    for word, prob, phones in entries:
        cost = -math.log(prob) if prob > 0 else 0.0
        src, out = loop, word_id[word]
        seq = list(phones) or ["<eps>"]
        for j, ph in enumerate(seq):
            last = j == len(seq) - 1
            ilab = phone_id[ph] if ph != "<eps>" else 0
            w = cost if j == 0 else 0.0
            if not last:
                lines.append(f"{src} {next_state} {ilab} {out} {w}")
                src, out, next_state = next_state, 0, next_state + 1
            elif sil_prob > 0:
                lines.append(f"{src} {loop} {ilab} {out} {w + no_sil}")
                lines.append(f"{src} {sil_state} {ilab} {out} {w + yes_sil}")
            else:
                lines.append(f"{src} {loop} {ilab} {out} {w}")
    lines.append(f"{loop}")
    return "\n".join(lines) + "\n"


def lexicon_fst_without_silence(lang: Lang):
    """L of ``phones/lexicon.txt`` with no optional silence (an in-memory kaldifst
    FST, olabel-sorted): what the flat start compiles its framed graphs with."""
    from pytorch_kaldi_snn.kaldi._backend import kaldifst

    entries = [(w, 1.0, p) for w, p in read_lexicon(lang.lang_dir / "phones" /
                                                    "lexicon.txt")]
    names = {i: p for p, i in lang.phones.items()}
    fst = kaldifst.compile(_lexicon_fst_text(entries, lang.phones, lang.words,
                                             names[lang.optional_silence], 0.0),
                           acceptor=False)
    kaldifst.arcsort(fst, sort_type="olabel")
    return fst


def _compile(text: str, path: Path, sort_type: str = "olabel") -> None:
    from pytorch_kaldi_snn.kaldi._backend import kaldifst
    from pytorch_kaldi_snn.kaldi.io import write_with

    fst = kaldifst.compile(text, acceptor=False)
    kaldifst.arcsort(fst, sort_type=sort_type)
    write_with(path, lambda tmp: fst.write(tmp))


def _write_phone_set(lang: Path, name: str, phones: Sequence[str],
                     table: dict[str, int]) -> None:
    ids = [table[p] for p in phones]
    write_text(lang / "phones" / f"{name}.txt", "".join(p + "\n" for p in phones))
    write_text(lang / "phones" / f"{name}.int", "".join(f"{i}\n" for i in ids))
    write_text(lang / "phones" / f"{name}.csl", ":".join(map(str, ids)) + "\n")


OOV_WORDS = ("<UNK>", "<unk>", "<SPOKEN_NOISE>")


def prepare_lang(dict_dir: PathLike, lang_dir: PathLike, *,
                 oov_word: str | None = None, sil_prob: float = 0.5) -> Path:
    """Write a Kaldi lang folder for ``dict_dir`` into ``lang_dir``; return its path
    (:func:`load_lang` reads it).

    ``oov_word`` (default: the first of ``<UNK>``, ``<unk>``, ``<SPOKEN_NOISE>`` in the
    lexicon) must be a lexicon word if it is to be used; when it is absent the first
    silence word is recorded in ``oov.txt`` (as Kaldi needs one) and texts with unknown
    words are refused by the aligner. ``sil_prob`` is the optional-silence probability
    between words (0 disables it).

    Raises DataError for a missing file, a phone used in the lexicon but not listed in
    the phone lists, or a phone listed twice.
    """
    dict_dir, lang = Path(dict_dir), Path(lang_dir)
    if not 0.0 <= sil_prob < 1.0:
        raise DataError(f"sil_prob must be in [0, 1), got {sil_prob}")
    silence = _read_phone_list(dict_dir / "silence_phones.txt")
    nonsilence = _read_phone_list(dict_dir / "nonsilence_phones.txt")
    opt = _read_phone_list(dict_dir / "optional_silence.txt", required=False)
    if not silence:
        raise DataError(f"{dict_dir / 'silence_phones.txt'}: no silence phone listed")
    optional = opt[0] if opt else silence[0]
    dup = [p for p, c in Counter(silence + nonsilence).items() if c > 1]
    if dup:
        raise DataError(f"{dict_dir}: phones listed twice in silence/nonsilence lists: "
                        f"{dup[:5]}")
    if optional not in silence:
        raise DataError(f"{dict_dir / 'optional_silence.txt'}: {optional!r} is not a "
                        "silence phone")
    entries = read_dict_lexicon(dict_dir)
    if not entries:
        raise DataError(f"{dict_dir}: empty lexicon")
    known = set(silence) | set(nonsilence)
    for word, _, phones in entries:
        bad = [p for p in phones if p not in known]
        if bad:
            raise DataError(f"{dict_dir}: lexicon word {word!r} uses phones not in "
                            f"silence_phones.txt/nonsilence_phones.txt: {bad}")
        if word in ("<eps>", "#0", "<s>", "</s>"):
            raise DataError(f"{dict_dir}: reserved word {word!r} in the lexicon")
    prons, max_k = _add_disambig([tuple(p) for _, _, p in entries])
    n_disambig = max_k + 1 if sil_prob > 0 else max_k
    disambig = [f"#{k}" for k in range(n_disambig + 1)]
    phone_syms = ["<eps>"] + silence + nonsilence + disambig
    words = sorted({w for w, _, _ in entries})
    word_syms = ["<eps>"] + words + ["#0", "<s>", "</s>"]

    lang.mkdir(parents=True, exist_ok=True)
    from pytorch_kaldi_snn.kaldi.io import write_symbols

    phone_id = write_symbols(lang / "phones.txt", phone_syms)
    word_id = write_symbols(lang / "words.txt", word_syms)
    wanted = [oov_word] if oov_word else [w for w in OOV_WORDS if w in word_id]
    oov = wanted[0] if wanted and wanted[0] in word_id else next(
        (w for w, _, p in entries if p and all(x in silence for x in p)), words[0])
    write_text(lang / "oov.txt", oov + "\n")
    write_text(lang / "oov.int", f"{word_id[oov]}\n")
    _write_phone_set(lang, "silence", silence, phone_id)
    _write_phone_set(lang, "nonsilence", nonsilence, phone_id)
    _write_phone_set(lang, "optional_silence", [optional], phone_id)
    _write_phone_set(lang, "context_indep", silence, phone_id)
    _write_phone_set(lang, "disambig", disambig, phone_id)
    write_text(lang / "phones" / "lexicon.txt",
               "".join(f"{w} {' '.join(p)}\n" for w, _, p in entries))
    topo = ("<Topology>\n"
            + NONSIL_TOPO.format(phones=" ".join(str(phone_id[p]) for p in nonsilence))
            + SIL_TOPO.format(phones=" ".join(str(phone_id[p]) for p in silence))
            + "</Topology>\n")
    write_text(lang / "topo", topo)

    plain = _lexicon_fst_text(entries, phone_id, word_id, optional, sil_prob)
    _compile(plain, lang / "L.fst")
    dis_entries = [(w, pr, list(p)) for (w, pr, _), p in zip(entries, prons)]
    sil_dis = f"#{n_disambig}" if sil_prob > 0 else ""
    text = _lexicon_fst_text(dis_entries, phone_id, word_id, optional, sil_prob,
                             sil_dis)
    loop = 1 if sil_prob > 0 else 0
    text = text.replace(f"\n{loop}\n", f"\n{loop} {loop} {phone_id['#0']} "
                                        f"{word_id['#0']} 0\n{loop}\n")
    _compile(text, lang / "L_disambig.fst")
    logger.info("lang %s: %d phones, %d words, %d disambiguation symbols", lang,
                len(silence) + len(nonsilence), len(words), len(disambig))
    return lang


def load_lang(lang_dir: PathLike) -> Lang:
    """Read what :func:`prepare_lang` (or Kaldi's prepare_lang.sh) wrote."""
    lang = Path(lang_dir)
    phones = read_symbols(lang / "phones.txt")
    words = read_symbols(lang / "words.txt")
    ints = {}
    for name in ("silence", "optional_silence", "disambig"):
        path = lang / "phones" / f"{name}.int"
        if path.is_file():
            ints[name] = [int(x) for x in path.read_text().split()]
        else:
            txt = _read_phone_list(lang / "phones" / f"{name}.txt")
            ints[name] = [phones[p] for p in txt]
    oov_path = lang / "oov.txt"
    oov = oov_path.read_text().split()[0] if oov_path.is_file() else ""
    if not ints["optional_silence"]:
        raise DataError(f"{lang}/phones/optional_silence: empty")
    return Lang(lang, phones, words, ints["silence"], ints["optional_silence"][0],
                ints["disambig"], oov)


def check_lang(lang_dir: PathLike) -> list[str]:
    """A few of ``utils/validate_lang.pl``'s checks; returns the problems found."""
    lang = load_lang(lang_dir)
    problems = []
    if lang.phones.get("<eps>") != 0 or lang.words.get("<eps>") != 0:
        problems.append("<eps> must have id 0 in phones.txt and words.txt")
    for table, name in ((lang.phones, "phones.txt"), (lang.words, "words.txt")):
        if sorted(table.values()) != list(range(len(table))):
            problems.append(f"{name}: ids are not 0..N-1")
    if "#0" not in lang.phones or "#0" not in lang.words:
        problems.append("#0 missing from phones.txt or words.txt")
    for f in ("L.fst", "L_disambig.fst", "topo", "oov.txt"):
        if not (lang.lang_dir / f).is_file():
            problems.append(f"{f} missing")
    from pytorch_kaldi_snn.kaldi._backend import khg

    topo = khg.HmmTopology()
    topo.read(lang.topo_text())
    if sorted(topo.phones) != lang.real_phones():
        problems.append("topo does not cover exactly the real phones")
    return problems
