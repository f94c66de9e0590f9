"""Atomic writes (pytorch_kaldi_snn.fileio): all or nothing, ordinary permissions."""

from __future__ import annotations

import os

import pytest

from pytorch_kaldi_snn.fileio import atomic_path, atomic_write_bytes, atomic_write_text


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_written_files_get_the_permissions_of_a_plain_open(tmp_path):
    target = tmp_path / "sub" / "res.txt"
    atomic_write_text(target, "PER 12.3\n")
    assert target.read_text() == "PER 12.3\n"
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert (target.stat().st_mode & 0o777) == (plain.stat().st_mode & 0o777)
    assert (target.stat().st_mode & 0o777) == 0o666 & ~_umask()


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "model.pt"
    target.write_bytes(b"old")

    def broken(fh):
        fh.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write_bytes(target, broken)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]
    with pytest.raises(KeyError), atomic_path(tmp_path / "new.bin") as tmp:
        with open(tmp, "wb") as fh:
            fh.write(b"x")
        raise KeyError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]
