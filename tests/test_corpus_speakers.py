"""Who speaks: the seed chooses the voices, sets never share one, heldout voices are
heard nowhere else."""

from __future__ import annotations

import pytest

from pytorch_kaldi_snn.corpus import SIZES
from pytorch_kaldi_snn.corpus.speakers import (
    FEMALE,
    HELDOUT_ACCENTS,
    HELDOUT_VARIANTS,
    MALE,
    VOICE,
    speakers_for,
    split_variants,
)
from pytorch_kaldi_snn.errors import ConfigError
from pytorch_kaldi_snn.kaldi.io import read_table

SPLITS = ("train", "dev", "test", "heldout")


def _variant(voice: str) -> str:
    return voice.split("+")[1]


@pytest.mark.parametrize("size", sorted(SIZES))
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_voices_are_disjoint_across_sets(size, seed):
    spk = {s: speakers_for(s, SIZES[size].speakers[s], seed) for s in SPLITS}
    variants = {s: {_variant(x.voice) for x in spk[s]} for s in SPLITS}
    for i, a in enumerate(SPLITS):
        for b in SPLITS[i + 1:]:
            assert not variants[a] & variants[b], (a, b)
            assert not {x.id for x in spk[a]} & {x.id for x in spk[b]}
    for s in SPLITS:
        assert len({x.id for x in spk[s]}) == len(spk[s]) == SIZES[size].speakers[s]
        assert [x.id for x in spk[s]] == sorted(x.id for x in spk[s])
    for s in ("train", "dev", "test"):
        assert {x.voice.split("+")[0] for x in spk[s]} == {VOICE}
    assert variants["heldout"] <= set(HELDOUT_VARIANTS)
    assert not set(HELDOUT_VARIANTS) & set(MALE + FEMALE)


def test_the_seed_changes_the_voices():
    splits = [split_variants(seed) for seed in range(6)]
    for v in splits:
        assert sorted(v["train"] + v["dev"] + v["test"]) == sorted(MALE + FEMALE)
        for s in ("dev", "test"):  # one male and one female variant each
            assert {x[0] for x in v[s]} == {"m", "f"}
    assert len({tuple(v["test"]) for v in splits}) >= 4
    tests = [speakers_for("test", 2, seed) for seed in range(6)]
    assert len({tuple(t) for t in tests}) == 6
    assert speakers_for("test", 2, 3) == speakers_for("test", 2, 3)
    held = [speakers_for("heldout", 4, seed) for seed in range(6)]
    assert len({tuple(h) for h in held}) == 6


def test_heldout_hears_several_voices_and_accents():
    for seed in range(5):
        held = speakers_for("heldout", SIZES["small"].speakers["heldout"], seed)
        assert len({_variant(x.voice) for x in held}) == len(held)
        assert len({x.voice.split("+")[0] for x in held}) == len(held)
        assert set(x.voice.split("+")[0] for x in held) <= set(HELDOUT_ACCENTS)


def test_too_many_speakers_is_refused():
    with pytest.raises(ConfigError, match="at most 32 dev speakers"):
        speakers_for("dev", 33, 0)


def test_the_corpus_records_each_speakers_voice(tiny_corpus):
    voices = {}
    for split in SPLITS:
        d = tiny_corpus / "data" / split
        table = read_table(d / "spk2voice")
        assert set(table) == set(read_table(d / "spk2utt"))
        voices[split] = {v.split()[0] for v in table.values()}
        expected = {
            x.id: f"{x.voice} {x.pitch} {x.wpm}"
            for x in speakers_for(split, SIZES["tiny"].speakers[split], 0)
        }
        assert table == expected
    others = voices["train"] | voices["dev"] | voices["test"]
    assert voices["heldout"] and not voices["heldout"] & others
    assert not {_variant(v) for v in voices["heldout"]} & {_variant(v) for v in others}
