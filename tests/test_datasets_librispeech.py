"""LibriSpeech preparation on a miniature OpenSLR-style tree (WAV variant) made from the
tiny demo corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytorch_kaldi_snn.datasets.librispeech import prepare_librispeech, read_lexicon
from pytorch_kaldi_snn.datasets.miniature import make_fake_librispeech
from pytorch_kaldi_snn.errors import DataError


def _table(path: Path) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in path.read_text().splitlines())


@pytest.fixture(scope="module")
def fake_libri(tiny_corpus, tmp_path_factory) -> tuple[Path, str]:
    # The first word of the first training sentence becomes out of vocabulary.
    first = (tiny_corpus / "data" / "train" / "text").read_text().splitlines()[0]
    oov = first.split()[1]
    root = tmp_path_factory.mktemp("fake_libri") / "LibriSpeech"
    make_fake_librispeech(tiny_corpus / "data", root, drop_word=oov)
    return root, oov.upper()


def test_prepare_librispeech(fake_libri, tmp_path):
    root, oov = fake_libri
    data = prepare_librispeech(root, tmp_path)
    lex = read_lexicon(root / "librispeech-lexicon.txt")
    assert oov not in lex
    for part in ("train_clean_100", "dev_clean", "test_clean"):
        d = data / part
        text = _table(d / "text")
        utt2spk = _table(d / "utt2spk")
        for utt, spk in utt2spk.items():
            reader, chapter, _ = utt.split("-")
            assert spk == f"{reader}-{chapter}"
        phones = _table(d / "text_phones")
        lm = _table(d / "text_lm")
        for utt, words in text.items():
            want = ["SIL"]
            for w in words.split():
                want += list(lex[w]) if w in lex else ["SPN"]
            assert phones[utt].split() == want + ["SIL"]
            assert lm[utt].split() == [w if w in lex else "<UNK>"
                                       for w in words.split()]
        wavs = _table(d / "wav.scp")
        assert all(Path(p).suffix == ".wav" and Path(p).is_file()
                   for p in wavs.values())
    assert any(oov in t for t in _table(data / "train_clean_100" / "text").values())
    d = data / "local" / "dict"
    entries = dict(ln.split(" ", 1)
                   for ln in (d / "lexicon.txt").read_text().splitlines())
    assert entries["<UNK>"] == "SPN" and entries["!SIL"] == "SIL"
    assert (d / "silence_phones.txt").read_text().split() == ["SIL", "SPN"]
    assert "SIL" not in (d / "nonsilence_phones.txt").read_text().split()


def test_missing_pieces_raise_clear_errors(fake_libri, tmp_path):
    root, _ = fake_libri
    with pytest.raises(DataError, match="openslr"):
        prepare_librispeech(root, tmp_path, lexicon=tmp_path / "none.txt")
    with pytest.raises(DataError, match="part not found"):
        prepare_librispeech(root, tmp_path, parts=["train-other-500"])
    bad = tmp_path / "bad"
    (bad / "dev-clean" / "1" / "2").mkdir(parents=True)
    (bad / "dev-clean" / "1" / "2" / "1-2.trans.txt").write_text("1-2-0000 HELLO\n")
    with pytest.raises(DataError, match="1-2-0000.flac: missing"):
        prepare_librispeech(bad, tmp_path, parts=["dev-clean"],
                            lexicon=root / "librispeech-lexicon.txt")
