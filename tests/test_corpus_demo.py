"""The demo corpus: Kaldi layout checks in the spirit of validate_data_dir.sh."""

from __future__ import annotations

import numpy as np
import pytest

from pytorch_kaldi_snn.corpus import SIZES, make_corpus
from pytorch_kaldi_snn.corpus.build import _plan
from pytorch_kaldi_snn.corpus.espeak import normalise_phone
from pytorch_kaldi_snn.corpus.vocab import all_words
from pytorch_kaldi_snn.errors import ConfigError
from pytorch_kaldi_snn.kaldi.io import read_matrices, read_table


def _keys(path):
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("split", ["train", "dev", "test", "heldout", "train_fbank",
                                   "heldout_fbank"])
def test_data_dir_is_consistent(tiny_corpus, split):
    d = tiny_corpus / "data" / split
    utts = _keys(d / "wav.scp")
    assert utts == sorted(utts) and len(utts) > 0
    for name in ("text", "utt2spk", "feats.scp", "text_phones"):
        assert _keys(d / name) == utts, name
    text = read_table(d / "text")
    assert all(v.split() for v in text.values())
    utt2spk = read_table(d / "utt2spk")
    spk2utt = {s: u.split() for s, u in read_table(d / "spk2utt").items()}
    assert sorted(read_table(d / "spk2voice")) == sorted(spk2utt)
    assert sorted(u for us in spk2utt.values() for u in us) == utts
    assert all(utt2spk[u] == s for s, us in spk2utt.items() for u in us)
    assert all(u.startswith(utt2spk[u]) for u in utts)  # speaker-prefixed ids sort well
    feats = read_matrices(f"scp:{d / 'feats.scp'}")
    dim = 40 if split.endswith("fbank") else 13
    assert {x.shape[1] for x in feats.values()} == {dim}
    cmvn = read_matrices(f"scp:{d / 'cmvn.scp'}")
    assert set(cmvn) == set(spk2utt)
    for spk, stats in cmvn.items():
        assert stats[0, -1] == sum(len(feats[u]) for u in spk2utt[spk])


def test_frames_match_audio_and_timings(tiny_corpus):
    import wave

    d = tiny_corpus / "data" / "train"
    feats = read_matrices(f"scp:{d / 'feats.scp'}")
    for utt, path in list(read_table(d / "wav.scp").items())[:5]:
        with wave.open(path) as w:
            assert w.getframerate() == 16000 and w.getsampwidth() == 2
            n = w.getnframes()
        assert len(feats[utt]) == 1 + (n - 400) // 160
    last_end = {}
    for line in (d / "phone_times.txt").read_text().splitlines():
        utt, start, end, _phone = line.split()
        assert 0 <= int(start) < int(end) <= len(feats[utt])
        assert int(start) == last_end.get(utt, 0)  # contiguous from frame 0
        last_end[utt] = int(end)
    assert all(last_end[u] == len(feats[u]) for u in feats)


def test_speakers_are_disjoint(tiny_corpus):
    splits = ("train", "dev", "test", "heldout")
    spk = {s: set(read_table(tiny_corpus / "data" / s / "spk2utt")) for s in splits}
    for i, a in enumerate(splits):
        for b in splits[i + 1:]:
            assert not spk[a] & spk[b], (a, b)


def test_lexicon_covers_text_and_vocabulary(tiny_corpus):
    lex = read_table(tiny_corpus / "data" / "local" / "dict" / "lexicon.txt")
    assert len(all_words()) >= 1000
    assert set(all_words()) <= set(lex)
    assert lex["!SIL"] == "SIL" and lex["<UNK>"] == "SIL"
    assert (tiny_corpus / "data" / "lang" / "oov.txt").read_text().split() == ["<UNK>"]
    for split in ("train", "dev", "test", "heldout"):
        for words in read_table(tiny_corpus / "data" / split / "text").values():
            assert set(words.split()) <= set(lex)
    assert (tiny_corpus / "data" / "lang" / "phones.txt").is_file()


def test_same_seed_same_bytes(tiny_corpus, tmp_path):
    # one worker instead of two: bytes must not depend on how utterances fall
    again = make_corpus(tmp_path / "again", size="tiny", seed=0, nj=1)
    for split in ("train", "test", "heldout", "heldout_fbank"):
        for name in ("feats.ark", "cmvn.ark", "phone_times.txt", "text_phones",
                     "spk2voice"):
            a = (tiny_corpus / "data" / split / name).read_bytes()
            b = (again / "data" / split / name).read_bytes()
            assert a == b, (split, name)
    for name in ("lexicon.txt", "nonsilence_phones.txt"):
        a = (tiny_corpus / "data" / "local" / "dict" / name).read_bytes()
        assert a == (again / "data" / "local" / "dict" / name).read_bytes(), name
    for wav in sorted((tiny_corpus / "wav").iterdir())[::7]:
        assert wav.read_bytes() == (again / "wav" / wav.name).read_bytes(), wav.name
    # another seed, other sentences and speakers (the plan is all the seed decides)
    plans = [_plan(SIZES["tiny"], seed) for seed in (0, 1)]
    assert [j["words"] for j in plans[0]["train"]] != [
        j["words"] for j in plans[1]["train"]
    ]
    for split in ("train", "test", "heldout"):
        voices = [{j["spk"] for j in plan[split]} for plan in plans]
        assert voices[0] != voices[1], split
    assert plans[0] == _plan(SIZES["tiny"], 0)
    # rerun with the same parameters reuses the finished corpus
    assert make_corpus(tmp_path / "again", size="tiny", seed=0, nj=1) == again


def test_noise_makes_the_audio_imperfect(tiny_corpus):
    feats = read_matrices(f"scp:{tiny_corpus / 'data' / 'train' / 'feats.scp'}")
    energies = np.concatenate([x[:, 0] for x in feats.values()])
    # silence frames are not digital silence: additive noise at a finite SNR
    assert np.percentile(energies, 1) > -30


def test_bad_size_and_non_corpus_folder(tmp_path):
    with pytest.raises(ConfigError, match="size"):
        make_corpus(tmp_path / "x", size="huge")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "something").write_text("x")
    with pytest.raises(ConfigError, match="not a finished corpus"):
        make_corpus(tmp_path / "busy", size="tiny")


def test_phone_names_are_normalised_in_one_place():
    assert normalise_phone("'aU") == "aU"
    assert normalise_phone(",i@3") == "i@3"
    assert normalise_phone("r-") == "r"
    assert normalise_phone("_:") == "SIL"
    assert normalise_phone("'") is None


def test_a_word_without_phones_is_refused():
    from pytorch_kaldi_snn.corpus.build import check_prons

    assert check_prons(["cat"], ["k a t"]) == {"cat": "k a t"}
    with pytest.raises(ConfigError, match="no phones.*'xq'"):
        check_prons(["cat", "xq"], ["k a t", " "])


def test_a_failed_build_leaves_nothing(tmp_path, monkeypatch):
    from pytorch_kaldi_snn.corpus import build

    def broken(tmp, *args):
        (tmp / "wav" / "half.wav").write_bytes(b"RIFF")
        raise KeyboardInterrupt

    monkeypatch.setattr(build, "_build", broken)
    with pytest.raises(KeyboardInterrupt):
        make_corpus(tmp_path / "c", size="tiny")
    assert list(tmp_path.iterdir()) == []
