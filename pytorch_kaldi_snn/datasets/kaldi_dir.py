"""Writing Kaldi data dirs and dict folders (atomically, sorted as Kaldi's
``utils/validate_data_dir.sh`` requires)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pytorch_kaldi_snn.fileio import atomic_write_text as atomic_write


@dataclass(frozen=True)
class Utterance:
    """One utterance of a corpus: ``utt`` must start with ``spk`` (Kaldi's sort order).

    ``words`` is the word transcript (``text``); ``phones``, when known, the phone
    transcript (``text_phones``) and ``times`` its ``(phone, start, end)`` in 10 ms
    frames (``phone_times.txt``, used to measure alignment boundary errors); ``orth``
    an orthographic transcript kept beside a phone-level ``text`` (``text_words``)."""

    utt: str
    spk: str
    audio: str
    words: tuple[str, ...]
    phones: tuple[str, ...] = ()
    times: tuple[tuple[str, int, int], ...] = field(default=())
    orth: str = ""




def _table(rows: Iterable[tuple[str, str]]) -> str:
    return "".join(f"{k} {v}\n" for k, v in sorted(rows))


def write_data_dir(data_dir, utts: Sequence[Utterance]) -> Path:
    """wav.scp, text, utt2spk, spk2utt and, when known, text_phones, text_words and
    phone_times.txt.

    ``wav.scp`` lists the audio paths as they are; :mod:`.features` reads them with
    :func:`.audio.read_audio` (SPHERE, WAV, FLAC), so no ``sph2pipe`` pipe is needed."""
    d = Path(data_dir)
    d.mkdir(parents=True, exist_ok=True)
    atomic_write(d / "wav.scp", _table((u.utt, u.audio) for u in utts))
    atomic_write(d / "text", _table((u.utt, " ".join(u.words)) for u in utts))
    atomic_write(d / "utt2spk", _table((u.utt, u.spk) for u in utts))
    spk2utt: dict[str, list[str]] = defaultdict(list)
    for u in sorted(utts, key=lambda u: u.utt):
        spk2utt[u.spk].append(u.utt)
    atomic_write(d / "spk2utt", _table((s, " ".join(v)) for s, v in spk2utt.items()))
    if all(u.phones for u in utts):
        atomic_write(d / "text_phones",
                     _table((u.utt, " ".join(u.phones)) for u in utts))
    if all(u.orth for u in utts):
        atomic_write(d / "text_words", _table((u.utt, u.orth) for u in utts))
    if all(u.times for u in utts):
        atomic_write(d / "phone_times.txt", "".join(
            f"{u.utt} {s} {e} {p}\n" for u in sorted(utts, key=lambda u: u.utt)
            for p, s, e in u.times))
    return d


def write_dict(dict_dir, lexicon: Mapping[str, Sequence[str]], silence: Sequence[str],
               optional_silence: str) -> Path:
    """A Kaldi dict folder: lexicon.txt (one pronunciation per word),
    silence_phones.txt, optional_silence.txt, nonsilence_phones.txt and an empty
    extra_questions.txt."""
    d = Path(dict_dir)
    sil = set(silence)
    nonsil = sorted({p for pron in lexicon.values() for p in pron} - sil)
    atomic_write(d / "lexicon.txt",
                 "".join(f"{w} {' '.join(p)}\n" for w, p in sorted(lexicon.items())))
    atomic_write(d / "silence_phones.txt", "".join(f"{p}\n" for p in silence))
    atomic_write(d / "optional_silence.txt", optional_silence + "\n")
    atomic_write(d / "nonsilence_phones.txt", "".join(f"{p}\n" for p in nonsil))
    atomic_write(d / "extra_questions.txt", "")
    return d
