"""Reading the audio files of speech corpora: NIST SPHERE (TIMIT's ``.WAV``), RIFF WAV
and FLAC (LibriSpeech; needs the optional ``soundfile`` package).

All readers return ``(samples, rate)`` with ``samples`` a 1-D int16 array (the first
channel), the scale Kaldi's feature extractors expect.
"""

from __future__ import annotations

import logging
import wave
from pathlib import Path

import numpy as np

from pytorch_kaldi_snn.errors import DataError

logger = logging.getLogger(__name__)


def read_sphere(path) -> tuple[np.ndarray, int]:
    """A NIST SPHERE file with uncompressed 16-bit PCM (TIMIT as the LDC ships it).

    The header is ``NIST_1A``, its size in bytes, then ``key -type value`` lines up to
    ``end_head``; samples follow, little endian when ``sample_byte_format`` is ``01``.
    """
    path = Path(path)
    with path.open("rb") as f:
        head = f.read(1024)
        if not head.startswith(b"NIST_1A"):
            raise DataError(f"{path}: not a NIST SPHERE file (no NIST_1A header)")
        lines = head.split(b"\n")
        try:
            size = int(lines[1].strip())
        except (IndexError, ValueError):
            raise DataError(f"{path}: SPHERE header size unreadable") from None
        if size > len(head):
            head += f.read(size - len(head))
        fields = {}
        for line in head[:size].split(b"\n")[2:]:
            parts = line.decode("ascii", "replace").split(None, 2)
            if parts and parts[0] == "end_head":
                break
            if len(parts) == 3:
                fields[parts[0]] = parts[2].strip()
        f.seek(size)
        raw = f.read()
    coding = fields.get("sample_coding", "pcm")
    if coding != "pcm":
        raise DataError(f"{path}: SPHERE sample_coding {coding!r} is not supported "
                        "(convert with sph2pipe or sox to plain PCM)")
    if fields.get("sample_n_bytes", "2") != "2":
        raise DataError(f"{path}: only 16-bit SPHERE samples are supported")
    dtype = ">i2" if fields.get("sample_byte_format", "01") == "10" else "<i2"
    channels = int(fields.get("channel_count", "1"))
    x = np.frombuffer(raw[: len(raw) // 2 * 2], dtype=dtype)
    x = x.reshape(-1, channels)[:, 0] if channels > 1 else x
    return x.astype(np.int16), int(fields.get("sample_rate", "16000"))


def read_wav(path) -> tuple[np.ndarray, int]:
    """A RIFF WAV with 16-bit PCM samples."""
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as w:
            if w.getsampwidth() != 2:
                raise DataError(f"{path}: only 16-bit WAV is supported")
            rate, ch = w.getframerate(), w.getnchannels()
            x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    except wave.Error as e:
        raise DataError(f"{path}: not a readable WAV file ({e})") from None
    return (x.reshape(-1, ch)[:, 0] if ch > 1 else x).astype(np.int16), rate


def read_flac(path) -> tuple[np.ndarray, int]:
    """A FLAC file through ``soundfile`` (an optional dependency)."""
    try:
        import soundfile
    except ImportError:
        raise DataError(f"{path}: reading FLAC needs the soundfile package "
                        "(pip install soundfile), or convert the corpus to WAV "
                        "(the LibriSpeech preparation also accepts .wav "
                        "files)") from None
    x, rate = soundfile.read(str(path), dtype="int16", always_2d=True)
    return np.ascontiguousarray(x[:, 0]), int(rate)


def read_audio(path) -> tuple[np.ndarray, int]:
    """Dispatch on the file's first bytes: SPHERE, RIFF WAV or FLAC."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: audio file not found")
    with path.open("rb") as f:
        magic = f.read(4)
    if magic == b"NIST":
        return read_sphere(path)
    if magic == b"RIFF":
        return read_wav(path)
    if magic == b"fLaC":
        return read_flac(path)
    raise DataError(f"{path}: unknown audio format (expected NIST SPHERE, RIFF WAV or "
                    "FLAC)")
