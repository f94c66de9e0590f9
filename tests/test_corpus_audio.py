"""The demo corpus's signal helpers: resampling, convolution, noise, degradation."""

from __future__ import annotations

import numpy as np

from pytorch_kaldi_snn.corpus import audio


def test_convolve_equals_direct_convolution():
    rng = np.random.default_rng(0)
    x, h = rng.standard_normal(5000), rng.standard_normal(700)
    np.testing.assert_allclose(audio.convolve(x, h), np.convolve(x, h)[:5000],
                               atol=1e-9)


def test_resampling_keeps_frequency_and_length():
    rate = 22050
    t = np.arange(rate) / rate
    x = np.sin(2 * np.pi * 1000 * t) * np.hanning(rate)
    y = audio.to_16k(x, rate)
    assert y.dtype == np.float32 and len(y) == 16000
    peak_hz = np.argmax(np.abs(np.fft.rfft(y))) * 16000 / len(y)
    assert abs(peak_hz - 1000) <= 1
    # energy per second is kept (amplitude, not sample count)
    assert abs(np.mean(y**2) / np.mean(x**2) - 1) < 0.01


def test_coloured_noise_follows_the_one_pole_response():
    n = audio.coloured_noise(1 << 15, 0.9, np.random.default_rng(1))
    power = np.abs(np.fft.rfft(n)) ** 2
    ratio = power[:200].mean() / power[-200:].mean()
    expected = (1 + 0.9) ** 2 / (1 - 0.9) ** 2  # |H(0)|^2 / |H(pi)|^2
    assert 0.7 * expected < ratio < 1.4 * expected
    white = audio.coloured_noise(1 << 15, 0.0, np.random.default_rng(1))
    p = np.abs(np.fft.rfft(white)) ** 2
    assert 0.7 < p[:2000].mean() / p[-2000:].mean() < 1.4


def test_degradation_is_seeded_and_reaches_the_snr():
    rng = np.random.default_rng(2)
    t = np.arange(16000) / 16000
    x = (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    d = audio.Degradation(snr_db=(10.0, 10.0), rt60_s=(0.1, 0.1), wet=(0.0, 0.0),
                          gain_db=(0.0, 0.0))
    a = audio.degrade(x, np.random.default_rng(5), d)
    b = audio.degrade(x, np.random.default_rng(5), d)
    assert a.tobytes() == b.tobytes()
    noise = a - x
    snr = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean(noise**2))
    assert abs(snr - 10) < 0.1
    c = audio.degrade(x, rng, audio.Degradation())
    assert np.max(np.abs(c)) <= 0.99 + 1e-6 and not np.allclose(c, x)
