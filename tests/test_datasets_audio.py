"""Audio readers: NIST SPHERE (both byte orders), WAV, FLAC without soundfile."""

from __future__ import annotations

import importlib.util
import wave

import numpy as np
import pytest

from pytorch_kaldi_snn.datasets.audio import read_audio, read_sphere
from pytorch_kaldi_snn.datasets.miniature import write_sphere
from pytorch_kaldi_snn.errors import DataError

SAMPLES = (np.arange(-500, 500, 3) * 37 % 30000).astype(np.int16)


@pytest.mark.parametrize("big_endian", [False, True])
def test_sphere_round_trip(tmp_path, big_endian):
    path = tmp_path / "x.WAV"
    write_sphere(path, SAMPLES, 16000, big_endian=big_endian)
    x, rate = read_audio(path)
    assert rate == 16000 and x.dtype == np.int16
    np.testing.assert_array_equal(x, SAMPLES)


def test_sphere_rejects_compressed_and_foreign_files(tmp_path):
    path = tmp_path / "x.WAV"
    write_sphere(path, SAMPLES)
    data = path.read_bytes().replace(b"sample_coding -s3 pcm",
                                     b"sample_coding -s3 ulaw")
    path.write_bytes(data)
    with pytest.raises(DataError, match="sample_coding 'ulaw'"):
        read_sphere(path)
    other = tmp_path / "y.bin"
    other.write_bytes(b"JUNKJUNK")
    with pytest.raises(DataError, match="unknown audio format"):
        read_audio(other)
    with pytest.raises(DataError, match="not found"):
        read_audio(tmp_path / "missing.wav")


def test_wav(tmp_path):
    path = tmp_path / "x.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.stack([SAMPLES, -SAMPLES], 1).astype("<i2").tobytes())
    x, rate = read_audio(path)
    assert rate == 8000
    np.testing.assert_array_equal(x, SAMPLES)  # first channel


@pytest.mark.skipif(importlib.util.find_spec("soundfile") is not None,
                    reason="soundfile installed: FLAC is readable")
def test_flac_without_soundfile_says_what_to_do(tmp_path):
    path = tmp_path / "x.flac"
    path.write_bytes(b"fLaC" + bytes(60))
    with pytest.raises(DataError, match="soundfile"):
        read_audio(path)


@pytest.mark.skipif(importlib.util.find_spec("soundfile") is None,
                    reason="soundfile not installed")
def test_flac_round_trip(tmp_path):
    import soundfile

    path = tmp_path / "x.flac"
    soundfile.write(str(path), SAMPLES, 16000, subtype="PCM_16")
    x, rate = read_audio(path)
    assert rate == 16000
    np.testing.assert_array_equal(x, SAMPLES)
