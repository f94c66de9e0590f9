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


def test_a_full_disk_names_the_file_and_leaves_the_old_one(tmp_path):
    import errno

    from pytorch_kaldi_snn.fileio import DiskFullError

    target = tmp_path / "res.res"
    target.write_text("ep=0\n")

    def full(fh):
        fh.write(b"ep=0\nep=1")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(DiskFullError, match=f"no space left on device while writing "
                       f"{target}"):
        atomic_write_bytes(target, full)
    assert target.read_text() == "ep=0\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res.res"]

    def wrapped(fh):  # what torch.save raises when its write fails
        try:
            raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))
        except OSError as exc:
            raise RuntimeError("file write failed") from exc

    with pytest.raises(DiskFullError):
        atomic_write_bytes(tmp_path / "model.pkl", wrapped)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res.res"]
