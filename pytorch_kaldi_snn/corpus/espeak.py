"""libespeak-ng through ctypes (the espeakng-loader wheel): audio, exact phone times.

The library is initialised once per process in synchronous mode with phoneme events;
each ``espeakEVENT_PHONEME`` carries the phone mnemonic and the sample where it starts,
each ``espeakEVENT_WORD`` the text position of a word and its first sample. The library
is not re-entrant: use one process per worker (see :mod:`.build`).
"""

from __future__ import annotations

import ctypes
import re
import threading
from dataclasses import dataclass

import numpy as np

from pytorch_kaldi_snn.errors import DataError

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 1
_EVENT_END = 0
_EVENT_WORD = 1
_EVENT_PHONEME = 7
_PARAM_RATE = 1
_PARAM_PITCH = 3
SIL = "SIL"


class _EventId(ctypes.Union):
    _fields_ = [
        ("number", ctypes.c_int),
        ("name", ctypes.c_char_p),
        ("string", ctypes.c_char * 8),
    ]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


def normalise_phone(name: str) -> str | None:
    """One place for espeak's phone names: drop stress and connected-speech marks.

    Pauses become ``SIL``; empty names (pure stress marks) are dropped (None).

    >>> normalise_phone("'aU"), normalise_phone(",i@3"), normalise_phone("_:")
    ('aU', 'i@3', 'SIL')
    """
    if name.startswith("_"):
        return SIL
    name = re.sub(r"[',;%=]", "", name).rstrip("-#")
    return name or None


@dataclass
class Utterance:
    """Audio at ``rate`` Hz; phones and words with their start samples."""

    audio: np.ndarray
    rate: int
    phones: list[tuple[str, int]]
    words: list[tuple[str, int]]


class Espeak:
    """A handle on the process-wide libespeak-ng instance."""

    _lock = threading.Lock()
    _instance: Espeak | None = None

    def __init__(self) -> None:
        import espeakng_loader

        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.lib.espeak_Initialize.restype = ctypes.c_int
        data = espeakng_loader.get_data_path().encode()
        self.rate = self.lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, data, _INITIALIZE_PHONEME_EVENTS
        )
        if self.rate <= 0:
            raise DataError("libespeak-ng failed to initialise (espeakng-loader data)")
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, int, str]] = []
        self._cb = _CALLBACK(self._on_audio)
        self.lib.espeak_SetSynthCallback(self._cb)

    @classmethod
    def get(cls) -> Espeak:
        with cls._lock:
            if cls._instance is None:
                cls._instance = Espeak()
            return cls._instance

    def _on_audio(self, wav, n, events) -> int:
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, (n,)).copy())
        i = 0
        while events[i].type != _EVENT_END:
            e = events[i]
            if e.type == _EVENT_PHONEME:
                name = e.id.string.decode("ascii", errors="replace")
                self._events.append((e.type, e.sample, 0, name))
            elif e.type == _EVENT_WORD:
                self._events.append((e.type, e.sample, e.text_position, ""))
            i += 1
        return 0

    def synthesize(
        self, text: str, voice: str, wpm: int, pitch: int, seed: int = 0
    ) -> Utterance:
        """Speak ``text`` (words separated by spaces, a comma after a word for a
        pause) with one voice setting.

        ``seed`` seeds the library's noise generator (breathy voices use it).
        """
        with self._lock:
            if hasattr(self.lib, "espeak_ng_SetRandSeed"):
                self.lib.espeak_ng_SetRandSeed(ctypes.c_long(int(seed) & 0x7FFFFFFF))
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise DataError(f"espeak voice {voice!r} is not available")
            self.lib.espeak_SetParameter(_PARAM_RATE, int(wpm), 0)
            self.lib.espeak_SetParameter(_PARAM_PITCH, int(pitch), 0)
            self._chunks, self._events = [], []
            raw = text.encode()
            self.lib.espeak_Synth(raw, len(raw) + 1, 0, 0, 0, 0, None, None)
            self.lib.espeak_Synchronize()
            chunks, events = self._chunks, self._events
        audio = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
        phones, words = [], []
        starts = _word_starts(text)
        for kind, sample, pos, name in events:
            if kind == _EVENT_PHONEME:
                phone = normalise_phone(name)
                if phone is not None:
                    phones.append((phone, sample))
            else:
                words.append((starts.get(pos, "?"), sample))
        return Utterance(audio.astype(np.float32) / 32768.0, self.rate, phones, words)


def _word_starts(text: str) -> dict:
    """1-based character position of each word -> the word (espeak's text_position);
    a comma after a word (a pause) is not part of it.

    >>> _word_starts("on time, the cat")
    {1: 'on', 4: 'time', 10: 'the', 14: 'cat'}
    """
    out, pos = {}, 0
    for word in text.split(" "):
        out[pos + 1] = word.rstrip(",")
        pos += len(word) + 1
    return out
