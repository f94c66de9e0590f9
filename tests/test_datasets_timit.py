"""TIMIT preparation on a miniature LDC-style tree made from the tiny demo corpus."""

from __future__ import annotations

from pathlib import Path

import kaldiio
import numpy as np
import pytest

from pytorch_kaldi_snn.datasets.features import compute_features
from pytorch_kaldi_snn.datasets.miniature import make_fake_timit
from pytorch_kaldi_snn.datasets.timit import CORE_TEST, prepare_timit
from pytorch_kaldi_snn.errors import ConfigError, DataError
from pytorch_kaldi_snn.kaldi.score import fold_timit


@pytest.fixture(scope="module")
def fake_timit(tiny_corpus, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fake_timit") / "TIMIT"
    make_fake_timit(tiny_corpus / "data", root)
    return root


def _table(path: Path) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in path.read_text().splitlines())


@pytest.mark.parametrize("phone_set", ["39", "61"])
def test_prepare_timit_splits_and_transcripts(fake_timit, tmp_path, phone_set):
    data = prepare_timit(fake_timit, tmp_path, phone_set=phone_set)
    for split in ("train", "dev", "test"):
        d = data / split
        for name in ("wav.scp", "text", "text_phones", "text_words", "utt2spk",
                     "spk2utt", "phone_times.txt"):
            assert (d / name).is_file(), (split, name)
        keys = [ln.split()[0] for ln in (d / "wav.scp").read_text().splitlines()]
        assert keys == sorted(keys)
        assert not any("_SA" in k for k in keys)  # SA sentences dropped
    test_spk = set(_table(data / "test" / "utt2spk").values())
    dev_spk = set(_table(data / "dev" / "utt2spk").values())
    assert test_spk <= CORE_TEST and not dev_spk & CORE_TEST and dev_spk
    # The phone transcript is the .PHN file's labels in the chosen set.
    utt = min(_table(data / "train" / "text"))
    spk, stem = utt.split("_")
    phn = (fake_timit / "TRAIN" / "DR1" / spk / f"{stem}.PHN").read_text().split()[2::3]
    want = fold_timit(phn) if phone_set == "39" else ["sil" if p == "h#" else p
                                                       for p in phn]
    assert _table(data / "train" / "text_phones")[utt].split() == want
    assert _table(data / "train" / "text")[utt].split() == want
    # Timings: sample ranges / 160 = 10 ms frames.
    first = (fake_timit / "TRAIN" / "DR1" / spk / f"{stem}.PHN").read_text().split()
    row = next(ln
               for ln in (data / "train" / "phone_times.txt").read_text().splitlines()
               if ln.startswith(utt))
    assert row.split()[1:3] == [str(int(first[0]) // 160), str(int(first[1]) // 160)]
    lexicon = (data / "local" / "dict" / "lexicon.txt").read_text().splitlines()
    assert all(a == b for a, b in (ln.split() for ln in lexicon))
    assert (data / "local" / "dict" / "silence_phones.txt").read_text() == "sil\n"


def test_features_equal_the_demo_corpus_features(fake_timit, tiny_corpus, tmp_path):
    """SPHERE audio -> MFCC gives the very matrices the demo computed from its wavs."""
    data = prepare_timit(fake_timit, tmp_path)
    compute_features(data / "test", kind="mfcc", nj=1)
    out = compute_features(data / "test", data / "test_fbank", kind="fbank", nj=2)
    ours = kaldiio.load_scp(str(data / "test" / "feats.scp"))
    demo = kaldiio.load_scp(str(tiny_corpus / "data" / "test" / "feats.scp"))
    assert len(ours) == len(demo)
    # Utterance ids differ: each of our matrices must equal one demo matrix.
    unmatched = list(demo.values())
    for x in ours.values():
        hit = next(i for i, y in enumerate(unmatched)
                   if y.shape == x.shape and np.allclose(x, y, rtol=1e-5, atol=1e-4))
        unmatched.pop(hit)
    fb = kaldiio.load_scp(str(out / "feats.scp"))
    assert {x.shape[1] for x in fb.values()} == {40}
    assert (out / "text_phones").is_file()  # tables copied beside the features
    cmvn = kaldiio.load_scp(str(out / "cmvn.scp"))
    spk2utt = _table(out / "spk2utt")
    assert set(cmvn) == set(spk2utt)
    spk, utts = next(iter(spk2utt.items()))
    frames = sum(len(fb[u]) for u in utts.split())
    assert cmvn[spk][0, -1] == frames
    np.testing.assert_allclose(cmvn[spk][0, :-1],
                               sum(fb[u].sum(0) for u in utts.split()), rtol=1e-4)


def test_bad_inputs_raise_clear_errors(fake_timit, tmp_path):
    with pytest.raises(DataError, match="no TRAIN/ folder"):
        prepare_timit(tmp_path, tmp_path / "out")
    with pytest.raises(ConfigError, match="phone set"):
        prepare_timit(fake_timit, tmp_path / "out", phone_set="50")
    with pytest.raises(DataError, match="wav.scp"):
        compute_features(tmp_path, kind="mfcc")
    with pytest.raises(ConfigError, match="feature kind"):
        compute_features(tmp_path, kind="plp")


def test_dev_speaker_list_picks_the_dev_set(fake_timit, tmp_path):
    non_core = sorted(p.name for p in (fake_timit / "TEST" / "DR1").iterdir()
                      if p.name not in CORE_TEST)
    assert len(non_core) >= 2
    spk_list = tmp_path / "dev_spk.list"
    spk_list.write_text(non_core[-1].lower() + "\n")  # Kaldi's lists are lower case
    data = prepare_timit(fake_timit, tmp_path / "out", dev_speakers=spk_list)
    assert set(_table(data / "dev" / "utt2spk").values()) == {non_core[-1]}


def test_console_subcommands_prepare_timit_and_lang(fake_timit, tmp_path, capsys):
    from pytorch_kaldi_snn.cli import main

    assert main(["prepare-timit", str(fake_timit), str(tmp_path)]) == 0
    data = tmp_path / "data"
    assert (data / "train" / "wav.scp").is_file()
    assert main(["prepare-lang", str(data / "local" / "dict"),
                 str(data / "lang")]) == 0
    assert (data / "lang" / "phones.txt").is_file()
    assert "lang folder written to" in capsys.readouterr().out
    assert main(["prepare-timit", str(tmp_path / "missing"), str(tmp_path)]) == 1
    assert "error:" in capsys.readouterr().err
