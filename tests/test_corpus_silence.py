"""Silence in the demo corpus: leading and trailing silence at the noise floor, real
pauses where the grammar breaks a phrase, SIL segments in the true timings."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from pytorch_kaldi_snn.corpus import SIZES, audio
from pytorch_kaldi_snn.corpus.build import _plan
from pytorch_kaldi_snn.corpus.espeak import SIL, Utterance
from pytorch_kaldi_snn.corpus.silence import (
    Silence,
    add_silence,
    phone_times,
    speech_mask,
)
from pytorch_kaldi_snn.kaldi.io import read_matrices

SPLITS = ("train", "dev", "test", "heldout")


def _times(path):
    out = defaultdict(list)
    for line in path.read_text().splitlines():
        utt, start, end, phone = line.split()
        out[utt].append((int(start), int(end), phone))
    return out


def _toy() -> Utterance:
    """100 Hz 'audio': a (0-9), pause (10-19, zeros), b (20-29), then espeak's end."""
    x = np.ones(30, np.float32)
    x[10:20] = 0
    return Utterance(x, 100, [("a", 0), (SIL, 10), ("b", 20)], [("w1", 0), ("w2", 20)])


def test_add_silence_pads_lengthens_pauses_and_moves_events():
    s = Silence(lead_s=(0.05, 0.05), trail_s=(0.07, 0.07), pause_s=(0.04, 0.04))
    u = add_silence(_toy(), np.random.default_rng(0), s)
    # 5 leading zeros, a, pause 10 + 4, b, 7 trailing zeros
    assert len(u.audio) == 5 + 30 + 4 + 7
    assert u.phones == [("a", 5), (SIL, 15), ("b", 29), (SIL, 39)]
    assert u.words == [("w1", 5), ("w2", 29)]
    expected = np.r_[np.zeros(5), np.ones(10), np.zeros(14), np.ones(10), np.zeros(7)]
    np.testing.assert_array_equal(u.audio, expected)
    times = phone_times(u.phones, u.rate, len(u.audio))
    assert times == [(SIL, 0, 5), ("a", 5, 15), (SIL, 15, 29), ("b", 29, 39),
                     (SIL, 39, 46)]
    mask = speech_mask(u.phones, u.rate, len(u.audio), u.rate)
    np.testing.assert_array_equal(mask, expected > 0)


def test_degradation_measures_the_snr_on_speech_only():
    t = np.arange(32000) / 16000
    x = (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    x[:16000] = 0  # one second of silence before one second of speech
    d = audio.Degradation(snr_db=(10.0, 10.0), rt60_s=(0.1, 0.1), wet=(0.0, 0.0),
                          gain_db=(0.0, 0.0))
    y = audio.degrade(x, np.random.default_rng(5), d, active=x != 0)
    noise = y - x
    snr = 10 * np.log10(np.mean(x[16000:].astype(np.float64) ** 2)
                        / np.mean(noise**2))
    assert abs(snr - 10) < 0.2


@pytest.mark.parametrize("split", SPLITS)
def test_utterances_start_and_end_in_silence_at_the_noise_floor(tiny_corpus, split):
    d = tiny_corpus / "data" / split
    feats = read_matrices(f"scp:{d / 'feats.scp'}")
    lead_min = round(Silence().lead_s[0] * 100)
    trail_min = round(Silence().trail_s[0] * 100)
    for utt, t in _times(d / "phone_times.txt").items():
        (s0, e0, p0), (s1, e1, p1) = t[0], t[-1]
        assert p0 == SIL and s0 == 0 and e0 - s0 >= lead_min, (utt, t[0])
        # the last frames lose up to 1.5 frames to the 25 ms window
        assert p1 == SIL and e1 - s1 >= trail_min - 2, (utt, t[-1])
        energy = feats[utt][:, 0]  # c0: log energy
        speech = np.concatenate([energy[s:e] for s, e, p in t if p != SIL])
        lead, tail = np.median(energy[s0:e0]), np.median(energy[-10:])
        # the same noise before and after the speech (the floor), below the speech
        assert abs(lead - tail) < 0.5, utt
        assert np.median(speech) > lead + 0.1, utt
        assert np.std(energy[s0:e0]) < 0.5 * np.std(energy), utt


def test_pauses_where_the_grammar_breaks_a_phrase(tiny_corpus):
    plan = _plan(SIZES["tiny"], 0)
    n_breaks = 0
    for split in SPLITS:
        d = tiny_corpus / "data" / split
        feats = read_matrices(f"scp:{d / 'feats.scp'}")
        times = _times(d / "phone_times.txt")
        phones = {
            line.split()[0]: line.split()[1:]
            for line in (d / "text_phones").read_text().splitlines()
        }
        for job in plan[split]:
            t = times[job["id"]]
            inner = [(s, e) for s, e, p in t[1:-1] if p == SIL]
            assert len(inner) >= len(job["breaks"]), job["id"]
            # the transcript says SIL exactly where the timings have a pause
            assert phones[job["id"]][1:-1].count(SIL) == len(inner)
            energy = feats[job["id"]][:, 0]
            speech = np.median(np.concatenate([energy[s:e] for s, e, p in t
                                               if p != SIL]))
            for s, e in inner:
                assert e - s >= round(Silence().pause_s[0] * 100), job["id"]
                assert np.median(energy[s:e]) < speech, job["id"]
            n_breaks += len(job["breaks"])
    assert n_breaks >= 10  # the tiny corpus has pauses to measure


def test_a_fifth_of_the_frames_or_more_are_silence(tiny_corpus):
    d = tiny_corpus / "data" / "train"
    times = _times(d / "phone_times.txt")
    total = sum(t[-1][1] for t in times.values())
    sil = sum(e - s for t in times.values() for s, e, p in t if p == SIL)
    assert 0.12 < sil / total < 0.4, sil / total
