"""Silence as in recorded speech: leading and trailing silence and real pauses.

espeak-ng starts speaking within a frame and stops within a few, and its pauses
(commas, clause boundaries) last 0.1-0.2 s, while a read-speech recording has a few
hundred milliseconds of room noise before and after the speaker and longer pauses.
``add_silence`` pads the synthesised audio with digital zeros (the degradation later
fills them with the same noise as the speech, so they sit at the noise floor) and
lengthens each pause inside the SIL segment espeak made for it (espeak's pauses are
digital zeros too, so nothing audible is cut). Phone and word start samples move with
the audio, so the true timings keep every silence as a ``SIL`` segment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pytorch_kaldi_snn.corpus.espeak import SIL, Utterance


@dataclass(frozen=True)
class Silence:
    """Ranges (seconds) of the uniform draws, one draw per utterance and per pause."""

    lead_s: tuple = (0.15, 0.45)
    trail_s: tuple = (0.15, 0.45)
    pause_s: tuple = (0.05, 0.3)


def _pauses(phones: list[tuple[str, int]]) -> list[tuple[int, int, int]]:
    """``(start, end, j)`` of every run of SIL events between two phones; ``j`` is the
    index of the phone after the run."""
    out, i = [], 0
    while i < len(phones):
        if phones[i][0] != SIL:
            i += 1
            continue
        j = i
        while j < len(phones) and phones[j][0] == SIL:
            j += 1
        if i > 0 and j < len(phones):
            out.append((phones[i][1], phones[j][1], j))
        i = j
    return out


def add_silence(utt: Utterance, rng: np.random.Generator, s: Silence) -> Utterance:
    """Lead + speech (pauses lengthened) + trail, events shifted to match.

    Leading ``L ~ U(lead_s)``, trailing ``T ~ U(trail_s)`` seconds of zeros; each pause
    (SIL run from sample ``a`` to ``b`` between two phones) gets ``P ~ U(pause_s)``
    seconds of zeros inserted at ``(a + b) // 2``. A phone after an insertion, and a
    word starting at or after it, move by the inserted length; everything moves by
    ``L``. A SIL event marks the end of speech, so the trailing zeros are silence in
    the timings even when espeak's last event is a phone.
    """
    rate = utt.rate
    lead = round(rng.uniform(*s.lead_s) * rate)
    trail = round(rng.uniform(*s.trail_s) * rate)
    pauses = _pauses(utt.phones)
    extra = [round(rng.uniform(*s.pause_s) * rate) for _ in pauses]
    pieces, shift_phone, cuts = [np.zeros(lead, np.float32)], {}, []
    last = 0
    for (a, b, j), n in zip(pauses, extra):
        cut = (a + b) // 2
        pieces += [utt.audio[last:cut], np.zeros(n, np.float32)]
        shift_phone[j] = n
        cuts.append((cut, n))
        last = cut
    pieces += [utt.audio[last:], np.zeros(trail, np.float32)]
    phones, moved = [], lead
    for k, (p, start) in enumerate(utt.phones):
        moved += shift_phone.get(k, 0)
        phones.append((p, start + moved))
    phones.append((SIL, lead + len(utt.audio) + sum(extra)))
    words = [
        (w, start + lead + sum(n for c, n in cuts if start >= c))
        for w, start in utt.words
    ]
    return Utterance(np.concatenate(pieces), rate, phones, words)


def phone_times(
    phones: list[tuple[str, int]], rate: int, n_frames: int, frame_rate: int = 100
) -> list[tuple[str, int, int]]:
    """Contiguous ``(phone, start_frame, end_frame)`` from 0 to ``n_frames``.

    A phone starts at ``round(sample * frame_rate / rate)`` and ends where the next
    starts (the last at ``n_frames``); SIL covers frame 0 up to the first phone,
    empty segments are dropped and neighbouring SIL segments merged.
    """
    scale = frame_rate / rate
    starts = [(p, round(s * scale)) for p, s in phones]
    if not starts or starts[0][1] > 0:
        starts.insert(0, (SIL, 0))
    times: list[tuple[str, int, int]] = []
    for i, (p, start) in enumerate(starts):
        end = starts[i + 1][1] if i + 1 < len(starts) else n_frames
        start, end = min(start, n_frames), min(end, n_frames)
        if end <= start:
            continue
        if times and times[-1][0] == p == SIL:
            times[-1] = (SIL, times[-1][1], end)
        else:
            times.append((p, start, end))
    return times


def speech_mask(
    phones: list[tuple[str, int]], rate: int, n: int, out_rate: int
) -> np.ndarray:
    """``n`` booleans at ``out_rate``: True inside a phone other than SIL (a phone
    lasts until the next event; the level of the speech is measured there)."""
    mask = np.zeros(n, bool)
    scale = out_rate / rate
    for k, (p, start) in enumerate(phones):
        end = phones[k + 1][1] if k + 1 < len(phones) else start
        if p != SIL:
            mask[round(start * scale) : round(end * scale)] = True
    return mask
