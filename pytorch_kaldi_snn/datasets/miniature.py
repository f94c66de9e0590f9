"""Miniature TIMIT and LibriSpeech folder trees made from a demo-corpus data dir, to
smoke-test the corpus preparations and recipes where the real corpora are absent.

``make_fake_timit(data_root, out)`` writes
``out/TRAIN/DR1/<SPK>/SI<n>.{WAV,PHN,WRD,TXT}``
(NIST SPHERE audio; the demo's true phone timings as .PHN sample ranges, its phones
renamed to TIMIT labels) from ``data_root/train``, and ``out/TEST/DR1/...`` from
``dev`` and ``test``: test speakers take core-test names, dev speakers others.
``make_fake_librispeech(data_root, out)`` writes
``out/<part>/<reader>/<chapter>/<reader>-<chapter>-<nnnn>.wav`` + ``.trans.txt`` and
``out/librispeech-lexicon.txt`` (the demo lexicon, upper case).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pytorch_kaldi_snn.datasets.audio import read_audio
from pytorch_kaldi_snn.datasets.timit import CORE_TEST, FRAME_SHIFT
from pytorch_kaldi_snn.kaldi.score import TIMIT_61_TO_39

# TIMIT labels the demo phones are renamed to: the demo's SIL becomes h#, its speech
# phones take labels that are speech in TIMIT. Not q (dropped) nor the labels folded
# into sil (h#, pau, epi and the closures): a voiced phone renamed pau made sil a model
# of speech, and with the corpus's real silence at both ends the monophone flat start
# then put the first phones into the leading silence (15-frame boundary error).
_TIMIT = tuple(sorted(p for p, q in TIMIT_61_TO_39.items() if q not in ("sil", None)))


def write_sphere(path, samples: np.ndarray, rate: int = 16000,
                 big_endian: bool = False) -> None:
    """A 1024-byte NIST SPHERE header and 16-bit PCM samples."""
    x = np.asarray(samples, dtype=">i2" if big_endian else "<i2")
    fields = (f"database_id -s5 TIMIT\nsample_count -i {len(x)}\n"
              f"sample_rate -i {rate}\nchannel_count -i 1\nsample_n_bytes -i 2\n"
              f"sample_byte_format -s2 {'10' if big_endian else '01'}\n"
              "sample_coding -s3 pcm\nend_head\n")
    head = ("NIST_1A\n   1024\n" + fields).encode("ascii")
    Path(path).write_bytes(head.ljust(1024, b" ") + x.tobytes())


def _table(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        k, _, v = line.partition(" ")
        out[k] = v.strip()
    return out


def _times(path: Path) -> dict[str, list[tuple[int, int, str]]]:
    out: dict[str, list[tuple[int, int, str]]] = {}
    for line in path.read_text().splitlines():
        utt, s, e, p = line.split()
        out.setdefault(utt, []).append((int(s), int(e), p))
    return out


def _split(data_root: Path, split: str):
    d = data_root / split
    return (_table(d / "wav.scp"), _table(d / "utt2spk"), _table(d / "text"),
            _times(d / "phone_times.txt"))


def make_fake_timit(data_root, out) -> dict[str, str]:
    """Write the tree; returns ``{demo phone: TIMIT label}``."""
    data_root, out = Path(data_root), Path(out)
    phones = sorted({p for s in ("train", "dev", "test")
                     for ts in _times(data_root / s / "phone_times.txt").values()
                     for _, _, p in ts})
    names = {p: ("h#" if p.upper() == "SIL" else _TIMIT[i % len(_TIMIT)])
             for i, p in enumerate(p for p in phones)}
    core = sorted(CORE_TEST)
    for split, top in (("train", "TRAIN"), ("dev", "TEST"), ("test", "TEST")):
        wavs, utt2spk, text, times = _split(data_root, split)
        speakers = sorted(set(utt2spk.values()))
        for k, spk in enumerate(speakers):
            if split == "test":
                tspk = core[k % len(core)]
            else:
                tspk = (f"{'F' if spk.startswith('f') else 'M'}"
                        f"{split[:2].upper()}{k:02d}0")
            folder = out / top / "DR1" / tspk
            folder.mkdir(parents=True, exist_ok=True)
            utts = sorted(u for u, s in utt2spk.items() if s == spk)
            for n, utt in enumerate(utts):
                samples, rate = read_audio(wavs[utt])
                stem = f"SI{1000 + n}" if n % 2 == 0 else f"SX{100 + n}"
                write_sphere(folder / f"{stem}.WAV", samples, rate)
                (folder / f"{stem}.PHN").write_text("".join(
                    f"{s * FRAME_SHIFT} {e * FRAME_SHIFT} {names[p]}\n"
                    for s, e, p in times[utt]))
                words = text[utt].split()
                (folder / f"{stem}.WRD").write_text("".join(
                    f"{i * 1000} {(i + 1) * 1000} {w}\n" for i, w in enumerate(words)))
                (folder / f"{stem}.TXT").write_text(f"0 {len(samples)} {text[utt]}\n")
            # An SA sentence, which the preparation must skip.
            first = utts[0]
            write_sphere(folder / "SA1.WAV", read_audio(wavs[first])[0])
            for ext in ("PHN", "WRD", "TXT"):
                src = next(folder.glob(f"SI*.{ext}"))
                (folder / f"SA1.{ext}").write_text(src.read_text())
    return names


def make_fake_librispeech(data_root, out, drop_word: str | None = None) -> Path:
    """Write the tree (train-clean-100 from train, dev-clean, test-clean) and the
    lexicon, leaving ``drop_word`` out of it (an out-of-vocabulary word)."""
    import wave

    data_root, out = Path(data_root), Path(out)
    for split, part in (("train", "train-clean-100"), ("dev", "dev-clean"),
                        ("test", "test-clean")):
        wavs, utt2spk, text, _ = _split(data_root, split)
        for k, spk in enumerate(sorted(set(utt2spk.values()))):
            reader, chapter = f"{100 + k}{split[:1] == 't' and 1 or 2}", "77"
            folder = out / part / reader / chapter
            folder.mkdir(parents=True, exist_ok=True)
            lines = []
            for n, utt in enumerate(sorted(u for u, s in utt2spk.items() if s == spk)):
                uid = f"{reader}-{chapter}-{n:04d}"
                samples, rate = read_audio(wavs[utt])
                with wave.open(str(folder / f"{uid}.wav"), "wb") as w:
                    w.setnchannels(1)
                    w.setsampwidth(2)
                    w.setframerate(rate)
                    w.writeframes(samples.astype("<i2").tobytes())
                lines.append(f"{uid} {text[utt].upper()}\n")
            (folder / f"{reader}-{chapter}.trans.txt").write_text("".join(lines))
    lex = data_root / "local" / "dict" / "lexicon.txt"
    entries = [ln.split(None, 1) for ln in lex.read_text().splitlines() if ln.strip()]
    (out / "librispeech-lexicon.txt").write_text("".join(
        f"{w.upper()}\t{p.strip()}\n" for w, p in entries
        if w != "!SIL" and w.upper() != (drop_word or "").upper()))
    return out
