"""Who speaks in the demo corpus: voice variants, pitches and rates per set.

A speaker is an espeak-ng voice ``accent+variant`` with a pitch (espeak's 0-100 scale)
and a rate (words per minute). The train, dev and test sets share the accent ``en-us``
and draw their variants from one pool, split by the corpus seed so that no variant
speaks in two sets and another seed puts other voices in test. The ``heldout`` set
uses variants that are in no other set, three speakers in four with another English
accent, to measure generalisation to voices never heard in training.
"""

from __future__ import annotations

import math
import random
import zlib
from typing import NamedTuple

from pytorch_kaldi_snn.errors import ConfigError

VOICE = "en-us"  # the accent of train, dev and test: one phone inventory
# The pool split by the seed: (dev, test) get one male and one female variant each.
MALE = ("m1", "m2", "m3", "m4", "m5", "m6", "m7")
FEMALE = ("f1", "f2", "f3", "f4", "f5")
# Heldout voices: espeak-ng variants outside the pool, and accents whose phones the
# en-us inventory covers (checked on 150 sentences: scotland and en-029 add phones).
HELDOUT_VARIANTS = ("m8", "paul", "robert", "belinda", "linda", "steph")
HELDOUT_ACCENTS = ("en-us", "en-gb-x-rp", "en-us-nyc", "en-gb-x-gbcwmd")
ACCENT_TAGS = {"en-us": "", "en-gb-x-rp": "rp-", "en-us-nyc": "nyc-",
               "en-gb-x-gbcwmd": "wmd-"}
PITCHES = (30, 45, 60, 75)
RATES = (130, 150, 170, 190)
SPLITS = ("train", "dev", "test", "heldout")


class Speaker(NamedTuple):
    """``id`` prefixes the speaker's utterance ids (Kaldi's sort order)."""

    id: str
    voice: str
    pitch: int
    wpm: int


def _rng(seed: int, what: str) -> random.Random:
    return random.Random(zlib.crc32(f"{what}:{seed}".encode()))


def split_variants(seed: int) -> dict[str, list[str]]:
    """The pool's variants per set for this seed; every set gets at least one male
    and one female variant (train five and three, dev and test one and one)."""
    rng = _rng(seed, "variants")
    male, female = list(MALE), list(FEMALE)
    rng.shuffle(male)
    rng.shuffle(female)
    return {
        "dev": [male[0], female[0]],
        "test": [male[1], female[1]],
        "train": male[2:] + female[2:],
        "heldout": list(HELDOUT_VARIANTS),
    }


def speakers_for(split: str, n: int, seed: int) -> list[Speaker]:
    """``n`` speakers of one set, sorted by id; disjoint voices across sets.

    train/dev/test: every (variant, pitch, rate) of the set's variants, shuffled by
    the seed, the first ``n`` taken. heldout: speaker ``k`` gets the ``k``-th variant
    and accent of the seed's shuffles of ``HELDOUT_VARIANTS`` and ``HELDOUT_ACCENTS``
    (so a small set still hears several of each) and a drawn pitch and rate.
    """
    variants = split_variants(seed)[split]
    rng = _rng(seed, split)
    if split == "heldout":
        accents = list(HELDOUT_ACCENTS)
        rng.shuffle(variants)
        rng.shuffle(accents)
        voices = math.lcm(len(accents), len(variants))  # distinct (accent, variant)
        grid = [(p, r) for p in PITCHES for r in RATES]
        unused = {k: rng.sample(grid, len(grid)) for k in range(voices)}
        limit = voices * len(grid)
        combos = [
            (accents[k % len(accents)], variants[k % len(variants)],
             *unused[k % voices].pop())
            for k in range(min(n, limit))
        ]
    else:
        combos = [(VOICE, v, p, r) for v in variants for p in PITCHES for r in RATES]
        rng.shuffle(combos)
        limit = len(combos)
    if n > limit:
        raise ConfigError(
            f"at most {limit} {split} speakers available", key="size", value=str(n)
        )
    out = [
        Speaker(f"{ACCENT_TAGS[a]}{v}p{p}r{r}", f"{a}+{v}", p, r)
        for a, v, p, r in combos[:n]
    ]
    return sorted(out)
