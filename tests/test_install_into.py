"""``pytorch-kaldi-snn install-into PKDIR`` on a fake PyTorch-Kaldi checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytorch_kaldi_snn import cli
from pytorch_kaldi_snn.pytorch_kaldi import install as inst

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def pkdir(tmp_path: Path) -> Path:
    root = tmp_path / "pytorch-kaldi"
    (root / "proto").mkdir(parents=True)
    (root / "cfg" / "TIMIT_baselines").mkdir(parents=True)
    (root / "run_exp.py").write_text("# upstream entry point\n")
    (root / "proto" / "global.proto").write_text("[cfg_proto]\ncfg_proto=path\n")
    (root / "proto" / "adam.proto").write_text("[proto]\nopt_eps=float\n")
    return root


def _expected_relpaths() -> set[str]:
    protos = {f"proto/{p.name}" for p in (REPO / "proto").glob("*.proto")
              if p.stem not in inst.UPSTREAM_PROTOS}
    cfgs = {f"cfg/{p.name}" for pat in ("TIMIT_*.cfg", "Librispeech_*.cfg")
            for p in (REPO / "cfg").glob(pat)}
    sweeps = {f"cfg/sweeps/{p.name}" for p in (REPO / "cfg" / "sweeps").glob("*.cfg")}
    return protos | cfgs | sweeps


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in root.rglob("*")
            if p.is_file()}


def test_installs_protos_and_cfgs_then_is_idempotent(pkdir, capsys):
    before = _files(pkdir)
    assert cli.main(["install-into", str(pkdir)]) == 0
    out = capsys.readouterr().out
    after = _files(pkdir)
    added = set(after) - set(before)
    assert added == _expected_relpaths()
    assert "cfg/TIMIT_SNN_v2.cfg" in added and "cfg/DEMO_LSTM.cfg" not in added
    for rel in added:
        assert after[rel] == (REPO / rel).read_text()
    # upstream's own protos are untouched
    assert after["proto/global.proto"] == before["proto/global.proto"]
    assert after["proto/adam.proto"] == before["proto/adam.proto"]
    assert f"added     {pkdir / 'cfg' / 'TIMIT_SNN_v2.cfg'}" in out
    assert f"{len(added)} added, 0 replaced, 0 unchanged" in out
    assert "@OUT_FOLDER@" in out  # says which tokens are left

    assert cli.main(["install-into", str(pkdir)]) == 0
    out = capsys.readouterr().out
    assert f"0 added, 0 replaced, {len(added)} unchanged" in out
    assert _files(pkdir) == after


def test_refuses_to_overwrite_a_different_file_without_force(pkdir, capsys):
    target = pkdir / "cfg" / "TIMIT_SNN_v1.cfg"
    target.write_text("# my own edits\n")
    before = _files(pkdir)
    assert cli.main(["install-into", str(pkdir)]) == 1
    err = capsys.readouterr().err
    assert "cfg/TIMIT_SNN_v1.cfg" in err and "--force" in err
    assert _files(pkdir) == before  # nothing written at all
    assert cli.main(["install-into", str(pkdir), "--force"]) == 0
    assert "replaced" in capsys.readouterr().out
    assert target.read_text() == (REPO / "cfg" / "TIMIT_SNN_v1.cfg").read_text()


def test_not_a_checkout_fails_clearly(tmp_path, capsys):
    (tmp_path / "proto").mkdir()
    assert cli.main(["install-into", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "not a PyTorch-Kaldi checkout (no run_exp.py)" in err
    assert cli.main(["install-into", str(tmp_path / "missing")]) == 1
    assert "not a folder" in capsys.readouterr().err
    assert list(tmp_path.rglob("*.cfg")) == []


def test_set_renders_tokens(pkdir, capsys):
    assert cli.main(["install-into", str(pkdir), "--set", "OUT_FOLDER=exp/snn",
                     "--set", "USE_CUDA=True"]) == 0
    text = (pkdir / "cfg" / "TIMIT_SNN_v2.cfg").read_text()
    assert "out_folder = exp/snn" in text and "use_cuda = True" in text
    assert "@FEATS_TRAIN@" in text  # tokens not given stay
    capsys.readouterr()
    assert cli.main(["install-into", str(pkdir), "--set", "OUT_FOLDR=x"]) == 1
    assert "token no cfg uses" in capsys.readouterr().err
    assert cli.main(["install-into", str(pkdir), "--set", "bad"]) == 1


def test_dry_run_writes_nothing(pkdir, capsys):
    before = _files(pkdir)
    assert cli.main(["install-into", str(pkdir), "--dry-run"]) == 0
    assert "would be installed" in capsys.readouterr().out
    assert _files(pkdir) == before


def test_conflict_message_stays_short(pkdir, capsys):
    assert cli.main(["install-into", str(pkdir), "--set", "USE_CUDA=True"]) == 0
    capsys.readouterr()
    assert cli.main(["install-into", str(pkdir)]) == 1  # rendered files now differ
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "more" in err and len(err) < 600
    # the same --set again is a no-op
    assert cli.main(["install-into", str(pkdir), "--set", "USE_CUDA=True"]) == 0
    assert " 0 added, 0 replaced" in capsys.readouterr().out
