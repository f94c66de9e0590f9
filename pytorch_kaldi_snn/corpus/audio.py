"""Acoustic degradation and features for the demo corpus.

Clean synthetic speech is too easy (about 0% error), so every utterance gets a random
gain, a simple synthetic room (exponentially decaying noise impulse response) and
additive coloured noise at a random SNR. All randomness comes from the caller's seeded
generator, so the same seed gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class Degradation:
    """Knobs of the acoustic conditions (frozen defaults are the demo's difficulty)."""

    snr_db: tuple = (0.0, 20.0)
    rt60_s: tuple = (0.05, 0.5)
    wet: tuple = (0.2, 0.6)
    gain_db: tuple = (-8.0, 4.0)
    colour: tuple = (0.0, 0.95)


def to_16k(audio: np.ndarray, rate: int) -> np.ndarray:
    """Resample espeak's output (22050 Hz) to 16 kHz by truncating the spectrum.

    With ``up / down = 16000 / rate`` in lowest terms, the input is zero-padded to
    ``n_pad = down * b >= n`` samples, ``b`` a 2-3-5-smooth number (a length the FFT
    factors quickly), and ``y = irfft(X[:m // 2 + 1], m) * m / n_pad`` with
    ``m = up * b``: an ideal
    low-pass at 8 kHz; the first ``round(n * up / down)`` samples are kept.
    """
    x = np.asarray(audio, dtype=np.float64)
    if rate == SAMPLE_RATE or len(x) == 0:
        return x.astype(np.float32)
    g = int(np.gcd(int(rate), SAMPLE_RATE))
    up, down = SAMPLE_RATE // g, int(rate) // g
    blocks = _fft_size(-(-len(x) // down))
    n_pad, m = down * blocks, up * blocks
    spec = np.fft.rfft(x, n_pad)
    keep = min(len(spec), m // 2 + 1)
    y = np.fft.irfft(spec[:keep], m) * (m / n_pad)
    return y[: round(len(x) * up / down)].astype(np.float32)


def _fft_size(n: int) -> int:
    """The smallest ``2^a 3^b 5^c >= n``: pocketfft is fast on these, and they pad
    less than powers of two (about 6% of the build time of the corpus).

    >>> [_fft_size(n) for n in (1, 7, 11, 17, 1000)]
    [1, 8, 12, 18, 1000]
    """
    best = 1 << max(int(n - 1).bit_length(), 0)
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def convolve(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Linear convolution ``(h * x)[t] = sum_k h[k] x[t - k]``, first ``len(x)``
    samples, through the FFT."""
    n = _fft_size(len(x) + len(h) - 1)
    return np.fft.irfft(np.fft.rfft(x, n) * np.fft.rfft(h, n), n)[: len(x)]


def coloured_noise(n: int, pole: float, rng: np.random.Generator) -> np.ndarray:
    """White noise shaped by a one-pole low-pass ``H(w) = 1 / (1 - a e^{-jw})``
    (applied in the frequency domain; ``a = 0`` is white)."""
    m = _fft_size(max(n, 1))
    w = np.fft.rfft(rng.standard_normal(m))
    omega = np.pi * np.arange(len(w)) / (len(w) - 1 if len(w) > 1 else 1)
    return np.fft.irfft(w / (1.0 - pole * np.exp(-1j * omega)), m)[:n]


def degrade(
    x: np.ndarray,
    rng: np.random.Generator,
    d: Degradation,
    active: np.ndarray | None = None,
) -> np.ndarray:
    """Reverberate, add noise at a random SNR, change gain; float32 in [-1, 1].

    ``y = g * ((1 - w) x + w (h * x) + sigma n)`` with ``h`` a noise impulse response
    decaying by 60 dB in RT60 and ``sigma`` set so that ``10 log10(P_y / P_n) = SNR``,
    ``P_y`` the mean power of the reverberant speech over the ``active`` samples (all
    when None: leading, trailing and pause silence must not lower the noise).
    """
    rt60 = rng.uniform(*d.rt60_s)
    n_ir = max(int(rt60 * SAMPLE_RATE), 1)
    t = np.arange(n_ir) / SAMPLE_RATE
    ir = rng.standard_normal(n_ir) * np.exp(-6.9 * t / rt60)
    ir[0] = 0.0
    ir /= np.sqrt(np.sum(ir**2)) + 1e-9
    wet = rng.uniform(*d.wet)
    y = (1 - wet) * x + wet * convolve(x, ir)
    # Coloured noise: white noise through a one-pole low-pass of random strength.
    pole = rng.uniform(*d.colour)
    noise = coloured_noise(len(y), pole, rng)
    speech = y if active is None or not np.any(active) else y[active]
    p_sig = np.mean(speech**2) + 1e-12
    p_noise = np.mean(noise**2) + 1e-12
    snr = rng.uniform(*d.snr_db)
    y = y + noise * np.sqrt(p_sig / (p_noise * 10 ** (snr / 10)))
    y = y * 10 ** (rng.uniform(*d.gain_db) / 20)
    peak = np.max(np.abs(y)) + 1e-9
    if peak > 0.99:
        y = y * (0.99 / peak)
    return y.astype(np.float32)


def to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)


def mfcc(samples_int16: np.ndarray) -> np.ndarray:
    """13-dim MFCC (Kaldi defaults, no dither so features are reproducible)."""
    import kaldi_native_fbank as knf

    opts = knf.MfccOptions()
    opts.frame_opts.dither = 0.0
    opts.frame_opts.samp_freq = SAMPLE_RATE
    return _run(knf.OnlineMfcc(opts), samples_int16)


def fbank(samples_int16: np.ndarray) -> np.ndarray:
    """40-dim log mel filterbank (no dither)."""
    import kaldi_native_fbank as knf

    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.frame_opts.samp_freq = SAMPLE_RATE
    opts.mel_opts.num_bins = 40
    return _run(knf.OnlineFbank(opts), samples_int16)


def _run(extractor, samples_int16: np.ndarray) -> np.ndarray:
    # Kaldi's features take samples on the int16 scale.
    extractor.accept_waveform(SAMPLE_RATE, samples_int16.astype(np.float32).tolist())
    extractor.input_finished()
    n = extractor.num_frames_ready
    return np.stack([np.asarray(extractor.get_frame(i)) for i in range(n)]).astype(
        np.float32
    )


def cmvn_stats(feats: list) -> np.ndarray:
    """Kaldi's per-speaker CMVN statistics: [[sum..., count], [sumsq..., 0]]."""
    x = np.concatenate(feats, axis=0).astype(np.float64)
    d = x.shape[1]
    stats = np.zeros((2, d + 1))
    stats[0, :d] = x.sum(0)
    stats[0, d] = len(x)
    stats[1, :d] = (x**2).sum(0)
    return stats
