"""Build the demo corpus: synthesise, degrade, extract features, write a Kaldi layout.

Layout under ``out_dir``::

    wav/<utt>.wav                       16 kHz 16-bit audio
    data/{train,dev,test,heldout}/      wav.scp text utt2spk spk2utt feats.scp cmvn.scp
                                        text_phones phone_times.txt spk2voice (MFCC 13)
    data/{train,dev,test,heldout}_fbank/ the same with 40-dim fbank features
    data/local/dict/                    lexicon.txt silence_phones.txt ...
    data/lang/                          from pytorch_kaldi_snn.kaldi.lang, when present
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import random
import shutil
import wave
import zlib
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pytorch_kaldi_snn.corpus import audio, vocab
from pytorch_kaldi_snn.corpus.espeak import SIL, Espeak
from pytorch_kaldi_snn.corpus.silence import (
    Silence,
    add_silence,
    phone_times,
    speech_mask,
)
from pytorch_kaldi_snn.corpus.speakers import SPLITS, VOICE, speakers_for
from pytorch_kaldi_snn.errors import ConfigError

logger = logging.getLogger(__name__)
VERSION = 6  # of the bytes: bump when anything that shapes them changes


@dataclass(frozen=True)
class Size:
    speakers: dict[str, int]
    utts_per_speaker: dict[str, int]


SIZES = {
    "tiny": Size(
        {"train": 6, "dev": 2, "test": 2, "heldout": 2},
        {"train": 8, "dev": 5, "test": 5, "heldout": 5},
    ),
    "small": Size(
        {"train": 32, "dev": 4, "test": 6, "heldout": 4},
        {"train": 30, "dev": 20, "test": 20, "heldout": 20},
    ),
    "large": Size(
        {"train": 96, "dev": 8, "test": 12, "heldout": 8},
        {"train": 200, "dev": 60, "test": 60, "heldout": 60},
    ),
}
FRAME_RATE = 100
MARKER = ".corpus_done.json"
BLOCK = 10  # utterances per synthesis process (part of the bytes: bump version)


def _job_seed(seed: int, utt: str) -> int:
    return zlib.crc32(f"{seed}:{utt}".encode())


def synthesize_job(job: dict) -> dict:
    """Worker: one utterance from text and speaker to audio, features and timings.

    Synthesis, silence (``silence.add_silence``, its own generator), resampling,
    degradation (its SNR measured on the speech frames only), features; the true
    timings follow the silences, so ``times`` has SIL at both ends and at pauses.
    """
    text = vocab.spoken_text(job["words"], job["breaks"])
    utt = Espeak.get().synthesize(
        text, job["voice"], job["wpm"], job["pitch"], seed=job["seed"]
    )
    utt = add_silence(utt, np.random.default_rng([job["seed"], 1]), Silence())
    clean = audio.to_16k(utt.audio, utt.rate)
    speech = speech_mask(utt.phones, utt.rate, len(clean), audio.SAMPLE_RATE)
    rng = np.random.default_rng(job["seed"])
    degraded = audio.degrade(clean, rng, audio.Degradation(), active=speech)
    samples = audio.to_int16(degraded)
    mfcc = audio.mfcc(samples)
    fbank = audio.fbank(samples)
    times = phone_times(utt.phones, utt.rate, len(mfcc), FRAME_RATE)
    word_starts = [s for _, s in utt.words]
    pron = []
    for wi, (w, s) in enumerate(utt.words):
        e = word_starts[wi + 1] if wi + 1 < len(word_starts) else 1 << 60
        pron.append([p for p, ps in utt.phones if s <= ps < e and p != SIL])
    if [w for w, _ in utt.words] != list(job["words"]):
        # word events do not match the text one to one: take no pronunciations from
        # this utterance (the lexicon falls back to isolated-word synthesis)
        pron = [[] for _ in job["words"]]
    return {
        "id": job["id"],
        "samples": samples,
        "mfcc": mfcc,
        "fbank": fbank,
        "times": times,
        "pron": pron,
        "words": job["words"],
    }


def synthesize_block(jobs: list[dict]) -> list[dict]:
    """Worker: a block of utterances, synthesised in order (see make_corpus)."""
    return [synthesize_job(j) for j in jobs]


def _blocks(jobs: list[dict], size: int = BLOCK) -> list[list[dict]]:
    """Consecutive runs of at most ``size`` utterances of one speaker (plan order)."""
    out: list[list[dict]] = []
    for j in jobs:
        if out and out[-1][0]["spk"] == j["spk"] and len(out[-1]) < size:
            out[-1].append(j)
        else:
            out.append([j])
    return out


def _plan(size: Size, seed: int) -> dict[str, list[dict]]:
    plan = {}
    for split in SPLITS:
        jobs = []
        for spk, voice, pitch, wpm in speakers_for(split, size.speakers[split], seed):
            for i in range(size.utts_per_speaker[split]):
                utt_id = f"{spk}_{split}{i:04d}"
                words, breaks = vocab.sample_phrased(
                    random.Random(_job_seed(seed, utt_id))
                )
                jobs.append(
                    {
                        "id": utt_id,
                        "spk": spk,
                        "voice": voice,
                        "pitch": pitch,
                        "wpm": wpm,
                        "words": words,
                        "breaks": breaks,
                        "seed": _job_seed(seed, utt_id),
                    }
                )
        plan[split] = sorted(jobs, key=lambda j: j["id"])
    return plan


def _write_wav(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(audio.SAMPLE_RATE)
        w.writeframes(samples.tobytes())


def _write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines))


def _write_split(root: Path, split: str, jobs: list[dict], results: dict[str, dict]):
    import kaldiio

    for suffix, key in (("", "mfcc"), ("_fbank", "fbank")):
        d = root / "data" / f"{split}{suffix}"
        d.mkdir(parents=True, exist_ok=True)
        wav_dir = root / "wav"
        _write_lines(
            d / "wav.scp", [f"{j['id']} {wav_dir / (j['id'] + '.wav')}" for j in jobs]
        )
        _write_lines(d / "text", [f"{j['id']} {' '.join(j['words'])}" for j in jobs])
        _write_lines(d / "utt2spk", [f"{j['id']} {j['spk']}" for j in jobs])
        voices = {j["spk"]: f"{j['voice']} {j['pitch']} {j['wpm']}" for j in jobs}
        _write_lines(d / "spk2voice", [f"{s} {v}" for s, v in sorted(voices.items())])
        spk2utt = defaultdict(list)
        for j in jobs:
            spk2utt[j["spk"]].append(j["id"])
        _write_lines(
            d / "spk2utt", [f"{s} {' '.join(u)}" for s, u in sorted(spk2utt.items())]
        )
        _write_lines(
            d / "text_phones",
            [
                f"{j['id']} " + " ".join(p for p, _, _ in results[j["id"]]["times"])
                for j in jobs
            ],
        )
        _write_lines(
            d / "phone_times.txt",
            [
                f"{j['id']} {s} {e} {p}"
                for j in jobs
                for p, s, e in results[j["id"]]["times"]
            ],
        )
        with kaldiio.WriteHelper(f"ark,scp:{d / 'feats.ark'},{d / 'feats.scp'}") as w:
            for j in jobs:
                w(j["id"], results[j["id"]][key])
        with kaldiio.WriteHelper(f"ark,scp:{d / 'cmvn.ark'},{d / 'cmvn.scp'}") as w:
            for s, utts in sorted(spk2utt.items()):
                w(s, audio.cmvn_stats([results[u][key] for u in utts]))


def _write_dict(
    root: Path, results: dict[str, dict], train_ids: list[str], nj: int = 1
) -> None:
    """Lexicon from the synthesiser itself: the most frequent connected-speech
    pronunciation of each word in the training set, isolated-word synthesis
    otherwise."""
    seen = defaultdict(Counter)
    for u in train_ids:
        r = results[u]
        for w, pron in zip(r["words"], r["pron"]):
            if pron:
                seen[w][" ".join(pron)] += 1
    lexicon = {w: seen[w].most_common(1)[0][0] for w in vocab.all_words() if seen[w]}
    unseen = [w for w in vocab.all_words() if not seen[w]]
    # In a child process: the parent must never load libespeak-ng (see make_corpus).
    # Phones, unlike samples, do not depend on what a process spoke before, so any
    # number of workers gives the same lexicon (tested: nj 1 and 2, same bytes).
    with _pool_context().Pool(max(1, nj)) as pool:
        prons = pool.map(_isolated_pron, unseen, chunksize=64)
    lexicon.update(check_prons(unseen, prons))
    phones = sorted(
        {p for pr in lexicon.values() for p in pr.split()}
        | {p for r in results.values() for p, _, _ in r["times"]} - {SIL}
    )
    d = root / "data" / "local" / "dict"
    d.mkdir(parents=True, exist_ok=True)
    # Kaldi's special entries: silence, and <UNK> (oov.txt) mapped to silence so that
    # no phone without training data enters the phone set.
    _write_lines(
        d / "lexicon.txt",
        ["!SIL SIL", "<UNK> SIL"] + [f"{w} {p}" for w, p in sorted(lexicon.items())],
    )
    _write_lines(d / "silence_phones.txt", [SIL])
    _write_lines(d / "optional_silence.txt", [SIL])
    _write_lines(d / "nonsilence_phones.txt", phones)
    _write_lines(d / "extra_questions.txt", [])


def check_prons(words: list[str], prons: list[str]) -> dict[str, str]:
    """``{word: pron}``, refusing a word that the synthesiser gave no phones for."""
    for w, pron in zip(words, prons):
        if not pron.split():
            raise ConfigError(
                "libespeak-ng gives no phones for this vocabulary word; remove or "
                "respell it",
                file=vocab.__file__,
                key="vocabulary",
                value=w,
            )
    return dict(zip(words, prons))


def _isolated_pron(word: str) -> str:
    u = Espeak.get().synthesize(word, f"{VOICE}+m1", 160, 50)
    return " ".join(p for p, _ in u.phones if p != SIL)


def _pool_context():
    """fork when this process has not loaded libespeak-ng (fast), else spawn: forked
    children would inherit the library's waveform state and break reproducibility."""
    return mp.get_context("spawn" if Espeak._instance is not None else "fork")


def make_corpus(out_dir, size: str = "small", seed: int = 0, nj: int = 2) -> Path:
    """Build (or reuse) the demo corpus in ``out_dir``; returns its path.

    A finished corpus has a marker file with its parameters; a rerun with the same
    parameters returns at once. The corpus is built in a temporary folder and renamed
    when complete, so an interrupted build leaves nothing half-written.
    """
    if size not in SIZES:
        raise ConfigError(
            "unknown corpus size", key="size", value=size, allowed=", ".join(SIZES)
        )
    out = Path(out_dir).resolve()
    params = {
        "size": size,
        "seed": int(seed),
        "version": VERSION,
        "degradation": asdict(audio.Degradation()),
        "silence": asdict(Silence()),
    }
    params = json.loads(json.dumps(params))  # tuples -> lists, as read back
    marker = out / MARKER
    if marker.is_file() and json.loads(marker.read_text()).get("params") == params:
        logger.info("corpus already built in %s", out)
        return out
    if out.exists() and any(out.iterdir()):
        raise ConfigError(
            "output folder exists and is not a finished corpus with these "
            "parameters; remove it or choose another",
            value=str(out),
        )
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "wav").mkdir(parents=True)
    try:
        n_utts, hours = _build(tmp, out, size, seed, nj, params)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        out.rmdir()
    os.replace(tmp, out)
    logger.info(
        "demo corpus (%s, %d utterances, %.2f h) written to %s",
        size,
        n_utts,
        hours,
        out,
    )
    return out


def _build(tmp: Path, out: Path, size: str, seed: int, nj: int, params: dict):
    """Everything written into ``tmp``; returns (utterances, hours of speech)."""
    plan = _plan(SIZES[size], seed)
    jobs = [j for split in plan.values() for j in split]
    results = {}
    from tqdm import tqdm

    ctx = _pool_context()
    # libespeak-ng carries waveform state from one utterance to the next (neither
    # re-initialising nor a warm-up phrase resets it), so each fixed block of one
    # speaker's utterances is synthesised in order by a fresh worker process: the
    # bytes depend on the seed only, not on nj or on scheduling.
    blocks = _blocks(jobs)
    bar = tqdm(total=len(jobs), desc=f"synthesising {size} corpus", disable=None)
    with bar, ctx.Pool(max(1, nj), maxtasksperchild=1) as pool:
        for block in pool.imap(synthesize_block, blocks, chunksize=1):
            for r in block:
                _write_wav(tmp / "wav" / f"{r['id']}.wav", r.pop("samples"))
                results[r["id"]] = r
            bar.update(len(block))
    wav_final = out / "wav"
    for split, split_jobs in plan.items():
        _write_split(tmp, split, split_jobs, results)
    _write_dict(tmp, results, [j["id"] for j in plan["train"]], nj)
    # wav.scp must point at the final location.
    for scp in (tmp / "data").glob("*/wav.scp"):
        scp.write_text(
            scp.read_text().replace(str(tmp / "wav"), str(wav_final.resolve()))
        )
    for scp in (tmp / "data").glob("*/*.scp"):
        scp.write_text(scp.read_text().replace(str(tmp), str(out.resolve())))
    try:
        from pytorch_kaldi_snn.kaldi.lang import prepare_lang
    except ImportError:
        logger.info("pytorch_kaldi_snn.kaldi.lang not available: data/lang not built")
    else:
        prepare_lang(tmp / "data" / "local" / "dict", tmp / "data" / "lang")
    hours = sum(len(r["mfcc"]) for r in results.values()) / FRAME_RATE / 3600
    info = {"params": params, "utterances": len(results), "hours": hours}
    (tmp / MARKER).write_text(json.dumps(info))
    return len(results), hours
