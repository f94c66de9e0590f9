"""``pytorch-kaldi-snn install-into PKDIR`` on a fake PyTorch-Kaldi checkout and fake
Kaldi egs/timit/s5 and egs/librispeech/s5 folders (real files in tmp_path)."""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
from pathlib import Path

import pytest

from pytorch_kaldi_snn import cli
from pytorch_kaldi_snn.errors import ConfigError
from pytorch_kaldi_snn.proto import check_section, read_proto
from pytorch_kaldi_snn.pytorch_kaldi import authors, kaldi_egs
from pytorch_kaldi_snn.pytorch_kaldi import install as inst
from pytorch_kaldi_snn.runner import cfg_protos

REPO = Path(__file__).resolve().parents[1]
N_TIMIT = len(list((REPO / "cfg").glob("TIMIT_*.cfg"))) + len(
    list((REPO / "cfg" / "sweeps").glob("TIMIT_*.cfg")))
N_LIBRI = len(list((REPO / "cfg").glob("Librispeech_*.cfg")))


def make_checkout(root: Path) -> Path:
    (root / "proto").mkdir(parents=True)
    (root / "cfg" / "TIMIT_baselines").mkdir(parents=True)
    (root / "kaldi_decoding_scripts").mkdir()
    (root / "run_exp.py").write_text("# upstream entry point\n")
    (root / "proto" / "global.proto").write_text("[cfg_proto]\ncfg_proto=path\n")
    (root / "proto" / "adam.proto").write_text("[proto]\nopt_eps=float\n")
    for name, table in (("GRU", cfg_protos.ARCHS["GRU"]),
                        ("LSTM", cfg_protos.ARCHS["LSTM"])):
        (root / "proto" / f"{name}.proto").write_text(upstream_proto(table))
    (root / "kaldi_decoding_scripts" / "decode_dnn.sh").write_text("#!/bin/bash\n")
    return root


def upstream_proto(table: dict[str, str]) -> str:
    """An upstream arch proto (its key set and types, layer-norm keys included)."""
    return "[proto]\n" + "".join(f"{k}={v}\n" for k, v in table.items()) + "\n\n"


def _touch(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text(f"{name}\n")


def make_egs(root: Path, corpus: str, feats_root: str = "fmllr") -> Path:
    """A finished egs folder as the paper's cfgs assume it (only the files we read)."""
    lay = kaldi_egs.LAYOUTS[corpus]
    for split, name in lay.sets.items():
        _touch(root / "data" / name, "text", "feats.scp", "utt2spk", "cmvn.scp")
        _touch(root / feats_root / name, "feats.scp", "utt2spk", "cmvn.scp")
        _touch(root / lay.ali[split][0], "final.mdl", "ali.1.gz", "ali.2.gz")
    _touch(root / lay.graph, "HCLG.fst", "words.txt")
    _touch(root / "local", "score.sh")
    return root


@pytest.fixture
def pkdir(tmp_path: Path) -> Path:
    return make_checkout(tmp_path / "pytorch-kaldi")


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


def _value(text: str, key: str) -> list[str]:
    return re.findall(rf"^\s*{key}\s*=\s*(.*)$", text, flags=re.M)


def test_installs_every_proto_and_cfg_each_with_its_own_out_folder(pkdir, capsys):
    before = _files(pkdir)
    assert cli.main(["install-into", str(pkdir)]) == 0
    out = capsys.readouterr().out
    after = _files(pkdir)
    added = set(after) - set(before) - {inst.MANIFEST}
    assert added == _expected_relpaths()
    # every proto of ours, under the names the cfgs use, byte for byte
    for proto in (REPO / "proto").glob("*.proto"):
        if proto.stem not in inst.UPSTREAM_PROTOS:
            assert after[f"proto/{proto.name}"] == proto.read_text()
    assert "cfg/TIMIT_SNN_v2.cfg" in added and "cfg/DEMO_LSTM.cfg" not in added
    assert after["proto/global.proto"] == before["proto/global.proto"]
    assert after["proto/adam.proto"] == before["proto/adam.proto"]
    folders = {}
    for rel in added:
        if rel.endswith(".cfg"):
            (folder,) = _value(after[rel], "out_folder")
            folders[rel] = folder
            assert folder == f"exp/{Path(rel).stem}"
            (scripts,) = _value(after[rel], "decoding_script_folder")
            assert scripts == str((pkdir / "kaldi_decoding_scripts").resolve())
    assert len(set(folders.values())) == len(folders) == N_TIMIT + N_LIBRI
    assert f"added     {pkdir / 'cfg' / 'TIMIT_SNN_v2.cfg'}" in out
    assert f"{len(added)} added, 0 updated, 0 replaced, 0 unchanged" in out
    assert f"TIMIT cfgs ({N_TIMIT}): @ALI_DEV@" in out and "@USE_CUDA@" in out
    assert "@OUT_FOLDER@" not in out

    assert cli.main(["install-into", str(pkdir)]) == 0
    assert f"0 added, 0 updated, 0 replaced, {len(added)} unchanged" in (
        capsys.readouterr().out)
    assert _files(pkdir) == after


def test_kaldi_egs_fills_every_path_token(tmp_path, pkdir, capsys):
    timit = make_egs(tmp_path / "kaldi" / "egs" / "timit" / "s5", "timit")
    libri = make_egs(tmp_path / "kaldi" / "egs" / "librispeech" / "s5", "librispeech",
                     feats_root="data-fmllr-tri4b")
    assert cli.main(["install-into", str(pkdir), "--kaldi-egs", str(timit),
                     "--kaldi-egs", str(libri), "--set", "USE_CUDA=True"]) == 0
    out = capsys.readouterr().out
    assert "every cfg token is filled" in out and "not found" not in out
    v2 = (pkdir / "cfg" / "TIMIT_SNN_v2.cfg").read_text()
    assert "@" not in "".join(ln for ln in v2.splitlines() if not ln.startswith("#"))
    assert f"fea_lst={timit.resolve()}/fmllr/train/feats.scp" in v2
    assert f"scp:{timit.resolve()}/fmllr/dev/cmvn.scp" in v2
    assert f"lab_folder={timit.resolve()}/exp/tri3_ali_test" in v2
    assert f"lab_data_folder={timit.resolve()}/data/test/" in v2
    assert f"lab_graph={timit.resolve()}/exp/tri3/graph" in v2
    assert _value(v2, "scoring_script") == [f"{timit.resolve()}/local/score.sh"]
    assert _value(v2, "use_cuda") == ["True"]
    sweep = (pkdir / "cfg" / "sweeps" / "TIMIT_SNN_v2_b3_w2x.cfg").read_text()
    assert f"{timit.resolve()}/exp/tri3_ali" in sweep
    assert _value(sweep, "out_folder") == ["exp/TIMIT_SNN_v2_b3_w2x"]
    lib = (pkdir / "cfg" / "Librispeech_SNN_v2.cfg").read_text()
    assert f"{libri.resolve()}/data-fmllr-tri4b/train_clean_100/feats.scp" in lib
    assert f"lab_folder={libri.resolve()}/exp/tri4b_ali_dev_clean_100" in lib
    assert f"lab_graph={libri.resolve()}/exp/tri4b/graph_tgsmall" in lib
    assert str(timit) not in lib


def test_kaldi_egs_names_what_it_could_not_find(tmp_path, pkdir, capsys):
    timit = make_egs(tmp_path / "s5", "timit")
    (timit / "fmllr" / "dev" / "cmvn.scp").unlink()
    for f in (timit / "exp" / "tri3_ali_test").iterdir():
        f.unlink()
    (timit / "exp" / "tri3_ali_test").rmdir()
    assert cli.main(["install-into", str(pkdir), "--kaldi-egs", str(timit)]) == 0
    out = capsys.readouterr().out
    assert ("not found for @FEATS_DEV@: fmllr/dev has no cmvn.scp "
            "(steps/compute_cmvn_stats.sh fmllr/dev)") in out
    assert ("not found for @ALI_TEST@: no exp/tri3_ali_test (steps/align_fmllr.sh "
            "--nj 4 data/test data/lang exp/tri3 exp/tri3_ali_test)") in out
    assert f"TIMIT cfgs ({N_TIMIT}): @ALI_TEST@ @FEATS_DEV@ @USE_CUDA@" in out
    v1 = (pkdir / "cfg" / "TIMIT_SNN_v1.cfg").read_text()
    assert "fea_lst=@FEATS_DEV@/feats.scp" in v1 and "lab_folder=@ALI_TEST@" in v1
    # not a recognisable egs folder, or none at all: one error, nothing written
    (tmp_path / "empty").mkdir()
    for bad in (tmp_path / "empty", tmp_path / "missing"):
        before = _files(pkdir)
        assert cli.main(["install-into", str(pkdir), "--kaldi-egs", str(bad)]) == 1
        assert "--kaldi-egs" in capsys.readouterr().err
        assert _files(pkdir) == before
    # the corpus can be named when the folder does not tell
    assert cli.main(["install-into", str(pkdir), "--kaldi-egs",
                     f"timit={tmp_path / 'empty'}"]) == 0
    assert f"from {(tmp_path / 'empty').resolve()} (timit): nothing" in (
        capsys.readouterr().out)


def test_data_fmllr_tri3_layout_and_mfcc_features(tmp_path, pkdir):
    timit = make_egs(tmp_path / "s5", "timit", feats_root="data-fmllr-tri3")
    assert cli.main(["install-into", str(pkdir), "--kaldi-egs", str(timit)]) == 0
    text = (pkdir / "cfg" / "TIMIT_LSTM.cfg").read_text()
    assert f"{timit.resolve()}/data-fmllr-tri3/train/feats.scp" in text
    assert cli.main(["install-into", str(pkdir), "--kaldi-feats", "mfcc"]) == 0
    text = (pkdir / "cfg" / "TIMIT_LSTM.cfg").read_text()
    assert f"fea_lst={timit.resolve()}/data/train/feats.scp" in text


def test_rerun_with_other_values_updates_what_it_wrote(tmp_path, pkdir, capsys):
    timit = make_egs(tmp_path / "s5", "timit")
    assert cli.main(["install-into", str(pkdir), "--kaldi-egs", str(timit),
                     "--set", "USE_CUDA=True"]) == 0
    capsys.readouterr()
    assert cli.main(["install-into", str(pkdir), "--set", "USE_CUDA=False",
                     "--set", "OUT_FOLDER=/data/runs/{cfg}"]) == 0
    out = capsys.readouterr().out
    assert f"{N_TIMIT + N_LIBRI} updated, 0 replaced" in out
    text = (pkdir / "cfg" / "TIMIT_GRU.cfg").read_text()
    assert _value(text, "use_cuda") == ["False"]
    assert _value(text, "out_folder") == ["/data/runs/TIMIT_GRU"]
    assert f"{timit.resolve()}/exp/tri3_ali" in text  # the earlier egs folder stays
    assert cli.main(["install-into", str(pkdir), "--set", "GRAPH_DIR=/my/graph"]) == 0
    text = (pkdir / "cfg" / "TIMIT_GRU.cfg").read_text()  # --set wins over the egs
    assert "lab_graph=/my/graph" in text and "exp/tri3/graph" not in text
    capsys.readouterr()
    manifest = json.loads((pkdir / inst.MANIFEST).read_text())
    assert manifest["settings"]["values"]["USE_CUDA"] == "False"
    assert inst.sha256(text) in manifest["files"]["cfg/TIMIT_GRU.cfg"]
    # NAME= forgets a value: the token is open again
    assert cli.main(["install-into", str(pkdir), "--set", "USE_CUDA="]) == 0
    assert _value((pkdir / "cfg" / "TIMIT_GRU.cfg").read_text(), "use_cuda") == [
        "@USE_CUDA@"]


def test_never_touches_a_file_it_did_not_write(pkdir, capsys):
    target = pkdir / "cfg" / "TIMIT_SNN_v1.cfg"
    target.write_text("# my own edits\n")
    before = _files(pkdir)
    assert cli.main(["install-into", str(pkdir)]) == 1
    err = capsys.readouterr().err
    assert "cfg/TIMIT_SNN_v1.cfg (not written by install-into)" in err
    assert "--force" in err and len(err.splitlines()) == 1
    assert _files(pkdir) == before  # nothing written at all, no manifest either
    assert cli.main(["install-into", str(pkdir), "--force"]) == 0
    assert "replaced" in capsys.readouterr().out
    assert "out_folder = exp/TIMIT_SNN_v1" in target.read_text()
    # edited after we wrote it: refused again, even with new values
    target.write_text(target.read_text() + "# tuned by hand\n")
    assert cli.main(["install-into", str(pkdir), "--set", "USE_CUDA=True"]) == 1
    assert "(edited since install-into wrote it)" in capsys.readouterr().err
    assert target.read_text().endswith("# tuned by hand\n")


def test_install_identical_file_is_adopted(pkdir, capsys):
    assert cli.main(["install-into", str(pkdir)]) == 0
    (pkdir / inst.MANIFEST).unlink()  # e.g. an install by an older version
    assert cli.main(["install-into", str(pkdir)]) == 0  # identical files: no conflict
    assert cli.main(["install-into", str(pkdir), "--set", "USE_CUDA=True"]) == 0
    assert "0 replaced" in capsys.readouterr().out


def test_bad_values_are_refused(pkdir, capsys):
    for args, text in ((["--set", "OUT_FOLDER=exp/snn"], "{cfg}"),
                       (["--set", "OUT_FOLDR=x"], "token no cfg uses"),
                       (["--set", "bad"], "malformed --set"),
                       (["--set", "USE_CUDA=50%"], "'%'")):
        assert cli.main(["install-into", str(pkdir), *args]) == 1
        assert text in capsys.readouterr().err
    assert not (pkdir / "cfg" / "TIMIT_SNN_v2.cfg").exists()


def test_dry_run_writes_nothing(pkdir, capsys):
    before = _files(pkdir)
    assert cli.main(["install-into", str(pkdir), "--dry-run"]) == 0
    assert "would be installed" in capsys.readouterr().out
    assert _files(pkdir) == before


def test_not_a_checkout_fails_clearly(tmp_path, capsys):
    (tmp_path / "proto").mkdir()
    assert cli.main(["install-into", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "not a PyTorch-Kaldi checkout (no run_exp.py)" in err
    assert cli.main(["install-into", str(tmp_path / "missing")]) == 1
    assert "not a folder" in capsys.readouterr().err
    assert list(tmp_path.rglob("*.cfg")) == []


def _readme_commands(prefix: str) -> list[str]:
    """The README lines (indented code) that start with ``prefix``."""
    lines = (REPO / "README.md").read_text().splitlines()
    return [ln.strip() for ln in lines
            if ln.startswith("    ") and ln.strip().startswith(prefix)]


def test_readme_install_into_commands_run_as_written(tmp_path, monkeypatch, capsys):
    commands = _readme_commands("pytorch-kaldi-snn install-into")
    assert len(commands) >= 2
    make_checkout(tmp_path / "pytorch-kaldi")
    root = tmp_path / "kaldi"
    make_egs(root / "egs" / "timit" / "s5", "timit")
    make_egs(root / "egs" / "librispeech" / "s5", "librispeech")
    monkeypatch.setenv("KALDI_ROOT", str(root))
    monkeypatch.chdir(tmp_path)
    for command in commands:
        argv = [os.path.expandvars(a) for a in shlex.split(command)]
        assert argv[0] == "pytorch-kaldi-snn"
        assert cli.main(argv[1:]) == 0, command + capsys.readouterr().err
    out = capsys.readouterr().out
    assert "every cfg token is filled" in out


def test_readme_recipe_commands_use_existing_flags():
    commands = _readme_commands("bash ") + _readme_commands("for arch in")
    recipes = [c for c in commands if "recipes/" in c or "tools/" in c]
    assert len(recipes) >= 3
    for command in recipes:
        script = re.search(r"bash ((?:recipes|tools)/\S+\.sh)", command).group(1)
        text = (REPO / script).read_text()
        for flag in re.findall(r"(?<!\S)--[a-z][a-z-]*", command):
            assert f"  {flag} " in text, (script, flag)


def test_installed_cfgs_load_in_our_runner(tmp_path, pkdir, monkeypatch):
    from pytorch_kaldi_snn.runner.config import load_config

    timit = make_egs(tmp_path / "timit" / "s5", "timit")
    libri = make_egs(tmp_path / "librispeech" / "s5", "librispeech")
    assert cli.main(["install-into", str(pkdir), "--kaldi-egs", str(timit),
                     "--kaldi-egs", str(libri), "--set", "USE_CUDA=False"]) == 0
    monkeypatch.chdir(pkdir)
    cfgs = sorted(pkdir.glob("cfg/*.cfg")) + sorted(pkdir.glob("cfg/sweeps/*.cfg"))
    assert len(cfgs) == N_TIMIT + N_LIBRI
    for cfg in cfgs:
        loaded = load_config(str(cfg))
        assert loaded.exp.out_folder == f"exp/{cfg.stem}"


# --authors-baselines: the authors' GRU/LSTM protos over upstream's

AUTHORS_LIBRARY = "pytorch_kaldi_snn.pytorch_kaldi.authors"


def _authors_rnn_cfg(pkdir: Path, cls: str) -> Path:
    """An installed TIMIT cfg whose model is the authors' uni-GRU / uni-LSTM section
    (their keys: no layer-norm ones, the readout inside) under ``proto/<cls>.proto``."""
    p = cls.lower()
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(pkdir / "cfg" / "TIMIT_GRU.cfg")
    parser.remove_section("architecture2")
    parser["architecture1"] = {
        "arch_name": f"{cls}_layers", "arch_proto": f"proto/{cls}.proto",
        "arch_library": AUTHORS_LIBRARY, "arch_class": cls,
        "arch_pretrain_file": "none", "arch_freeze": "False",
        "arch_seq_model": "True", f"{p}_lay": "550,550", f"{p}_drop": "0.2,0.2",
        f"{p}_use_batchnorm_inp": "False", f"{p}_use_batchnorm": "True,True",
        f"{p}_bidir": "False", f"{p}_act": "tanh,tanh", f"{p}_orthinit": "True",
        "output_size": "N_out_lab_cd", "momentum": "0.1", "arch_lr": "0.001",
        "min_lr": "0.000125", "arch_halving_factor": "0.5",
        "arch_improvement_threshold": "0.005", "patience": "1", "n_bits": "0",
        "threshold": "0", "arch_opt": "adam", "opt_betas": "0.9,0.999",
        "opt_eps": "1e-8", "opt_weight_decay": "0", "opt_amsgrad": "False",
    }
    parser["model"]["model"] = (f"out_dnn1=compute({cls}_layers,feats)\n"
                                "loss_final=cost_nll(out_dnn1,lab_cd)\n"
                                "err_final=cost_err(out_dnn1,lab_cd)")
    parser["forward"]["forward_out"] = "out_dnn1"
    path = pkdir / "cfg" / f"authors_uni{cls}.cfg"
    with open(path, "w") as fh:
        parser.write(fh)
    return path


def _installed_filled(tmp_path: Path, pkdir: Path, *extra: str) -> None:
    timit = make_egs(tmp_path / "timit" / "s5", "timit")
    assert cli.main(["install-into", str(pkdir), "--kaldi-egs", str(timit),
                     "--set", "USE_CUDA=False", *extra]) == 0


def test_authors_baselines_swap_in_keep_and_put_back(tmp_path, pkdir, monkeypatch,
                                                     capsys):
    from pytorch_kaldi_snn.runner.config import load_config

    upstream = {n: (pkdir / "proto" / n).read_text() for n in ("GRU.proto",
                                                              "LSTM.proto")}
    _installed_filled(tmp_path, pkdir)
    capsys.readouterr()
    monkeypatch.chdir(pkdir)
    cfgs = {cls: _authors_rnn_cfg(pkdir, cls) for cls in ("GRU", "LSTM")}
    # upstream's protos demand the layer-norm keys the authors' cfgs lack
    for cls, cfg in cfgs.items():
        with pytest.raises(ConfigError, match=f"{cls.lower()}_use_laynorm_inp"):
            load_config(str(cfg))

    assert cli.main(["install-into", str(pkdir), "--authors-baselines"]) == 0
    out = capsys.readouterr().out
    for name, text in upstream.items():
        assert (f"replaced  {pkdir / 'proto' / name} (upstream's proto/{name}.orig "
                "kept)") in out
        assert (pkdir / "proto" / name).read_text() == (
            REPO / "proto" / "authors" / name).read_text()
        assert (pkdir / "proto" / f"{name}.orig").read_text() == text
    assert "--no-authors-baselines puts upstream's back" in out
    manifest = json.loads((pkdir / inst.MANIFEST).read_text())
    assert manifest["originals"] == {
        f"proto/{n}": {"backup": f"proto/{n}.orig"} for n in upstream}
    assert manifest["settings"]["authors_baselines"] is True
    # our runner's upstream-style check now accepts the authors' sections ...
    for cls, cfg in cfgs.items():
        (arch,) = load_config(str(cfg)).archs.values()
        assert arch.cls.__module__ == "pytorch_kaldi_snn.pytorch_kaldi.authors_rnn"
        assert arch.cls is getattr(authors, cls)
    # ... and upstream's own GRU/LSTM cfgs (layer-norm keys and all) still pass
    for cfg in ("TIMIT_GRU", "TIMIT_LSTM"):
        section = load_config(str(pkdir / "cfg" / f"{cfg}.cfg")).archs
        assert any(a.cls.__name__ in ("GRU", "LSTM") for a in section.values())
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(pkdir / "cfg" / "TIMIT_GRU.cfg")
    check_section(parser["architecture1"], read_proto("proto/GRU.proto"))

    # a plain rerun keeps the choice; nothing changes
    before = _files(pkdir)
    assert cli.main(["install-into", str(pkdir)]) == 0
    assert f"unchanged {pkdir / 'proto' / 'GRU.proto'}" in capsys.readouterr().out
    assert _files(pkdir) == before

    # --no-authors-baselines puts upstream's back and forgets the swap
    assert cli.main(["install-into", str(pkdir), "--no-authors-baselines"]) == 0
    out = capsys.readouterr().out
    assert (f"restored  {pkdir / 'proto' / 'GRU.proto'} (put back from "
            "proto/GRU.proto.orig)") in out
    for name, text in upstream.items():
        assert (pkdir / "proto" / name).read_text() == text
        assert not (pkdir / "proto" / f"{name}.orig").exists()
    manifest = json.loads((pkdir / inst.MANIFEST).read_text())
    assert "originals" not in manifest and "proto/GRU.proto" not in manifest["files"]
    assert manifest["settings"]["authors_baselines"] is False
    with pytest.raises(ConfigError, match="gru_use_laynorm_inp"):
        load_config(str(cfgs["GRU"]))
    before = _files(pkdir)
    assert cli.main(["install-into", str(pkdir)]) == 0
    assert "GRU.proto" not in capsys.readouterr().out
    assert _files(pkdir) == before


def test_authors_baselines_never_loses_a_file(pkdir, capsys):
    gru = pkdir / "proto" / "GRU.proto"
    upstream = gru.read_text()
    # a proto/GRU.proto.orig that is not upstream's: refused, nothing written
    (pkdir / "proto" / "GRU.proto.orig").write_text("# mine\n")
    before = _files(pkdir)
    assert cli.main(["install-into", str(pkdir), "--authors-baselines"]) == 1
    err = capsys.readouterr().err
    assert "proto/GRU.proto (proto/GRU.proto.orig exists and is not this " in err
    assert _files(pkdir) == before
    (pkdir / "proto" / "GRU.proto.orig").unlink()
    assert cli.main(["install-into", str(pkdir), "--authors-baselines",
                     "--dry-run"]) == 0
    assert "replaced  " in capsys.readouterr().out
    assert gru.read_text() == upstream and not (pkdir / inst.MANIFEST).exists()
    assert cli.main(["install-into", str(pkdir), "--authors-baselines"]) == 0
    # edited after the swap: not put back without --force
    gru.write_text(gru.read_text() + "# tuned\n")
    before = _files(pkdir)
    assert cli.main(["install-into", str(pkdir), "--no-authors-baselines"]) == 1
    assert "proto/GRU.proto (edited since install-into wrote it)" in (
        capsys.readouterr().err)
    assert _files(pkdir) == before
    assert cli.main(["install-into", str(pkdir), "--authors-baselines"]) == 1
    capsys.readouterr()
    assert cli.main(["install-into", str(pkdir), "--no-authors-baselines",
                     "--force"]) == 0
    assert gru.read_text() == upstream
    assert (pkdir / "proto" / "LSTM.proto").read_text() == upstream_proto(
        cfg_protos.ARCHS["LSTM"])
    # upstream's file put back by hand (git checkout): the restore only drops the copy
    assert cli.main(["install-into", str(pkdir), "--authors-baselines"]) == 0
    gru.write_text(upstream)
    assert cli.main(["install-into", str(pkdir), "--no-authors-baselines"]) == 0
    assert gru.read_text() == upstream
    assert not (pkdir / "proto" / "GRU.proto.orig").exists()
    # the kept original deleted by hand: refused, --force leaves the file as it is
    assert cli.main(["install-into", str(pkdir), "--authors-baselines"]) == 0
    (pkdir / "proto" / "GRU.proto.orig").unlink()
    capsys.readouterr()
    assert cli.main(["install-into", str(pkdir), "--no-authors-baselines"]) == 1
    assert "its original proto/GRU.proto.orig is gone" in capsys.readouterr().err
    assert cli.main(["install-into", str(pkdir), "--no-authors-baselines",
                     "--force"]) == 0
    assert "forgotten" in capsys.readouterr().out
    assert gru.read_text() == (REPO / "proto" / "authors" / "GRU.proto").read_text()
    manifest = json.loads((pkdir / inst.MANIFEST).read_text())
    assert "originals" not in manifest


def test_authors_baselines_without_upstream_files(tmp_path, capsys):
    pkdir = tmp_path / "pk"
    (pkdir / "proto").mkdir(parents=True)
    (pkdir / "run_exp.py").write_text("")
    assert cli.main(["install-into", str(pkdir), "--authors-baselines"]) == 0
    assert f"added     {pkdir / 'proto' / 'GRU.proto'}" in capsys.readouterr().out
    assert cli.main(["install-into", str(pkdir), "--no-authors-baselines"]) == 0
    assert f"removed   {pkdir / 'proto' / 'GRU.proto'}" in capsys.readouterr().out
    assert not (pkdir / "proto" / "GRU.proto").exists()


def test_wheel_data_carries_the_authors_protos(tmp_path, monkeypatch, capsys):
    """setup.py's package-data copy, the globs pyproject ships, and install-into's
    lookup of them when there is no checkout next to the package (a wheel)."""
    import runpy

    import setuptools

    tomllib = pytest.importorskip("tomllib")
    monkeypatch.setattr(setuptools, "setup", lambda **kwargs: None)
    copy_data = runpy.run_path(str(REPO / "setup.py"))["copy_data"]
    data = tmp_path / "site" / "pytorch_kaldi_snn" / "data"
    written = set(copy_data(data))
    assert {data / "proto" / "authors" / "GRU.proto",
            data / "proto" / "authors" / "LSTM.proto",
            data / "proto" / "SNN_v2.proto",
            data / "cfg" / "sweeps" / "TIMIT_SNN_v2_b3_w2x.cfg"} <= written
    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"][
        "setuptools"]["package-data"]["pytorch_kaldi_snn"]
    assert {p for g in globs for p in data.parent.glob(g)} == written

    monkeypatch.setattr(inst, "REPO_ROOT", tmp_path / "no-checkout")
    monkeypatch.setattr(inst, "PACKAGE_DATA", data)
    assert inst.source_root() == data
    pk = make_checkout(tmp_path / "pk")
    assert cli.main(["install-into", str(pk), "--authors-baselines"]) == 0
    assert "replaced  " in capsys.readouterr().out
    for name in ("GRU.proto", "LSTM.proto"):
        assert (pk / "proto" / name).read_text() == (
            REPO / "proto" / "authors" / name).read_text()
    assert _expected_relpaths() <= set(_files(pk))
    # package data of a build without them: one clear error, nothing written
    for p in (data / "proto" / "authors").iterdir():
        p.unlink()
    pk2 = make_checkout(tmp_path / "pk2")
    before = _files(pk2)
    assert cli.main(["install-into", str(pk2), "--authors-baselines"]) == 1
    assert "the authors' protos are not shipped" in capsys.readouterr().err
    assert _files(pk2) == before


def test_wheel_and_sdist_ship_every_c_source():
    """cstep builds all its sources at first use; a wheel without one of them would
    silently fall back to the torch loops."""
    import fnmatch

    from pytorch_kaldi_snn.nn import cstep

    tomllib = pytest.importorskip("tomllib")
    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"][
        "setuptools"]["package-data"]["pytorch_kaldi_snn"]
    manifest = (REPO / "MANIFEST.in").read_text().splitlines()
    for src in cstep.SOURCES:
        rel = src.relative_to(REPO / "pytorch_kaldi_snn").as_posix()
        assert any(fnmatch.fnmatch(rel, g) for g in globs), rel
        assert any(line.startswith("include ") and fnmatch.fnmatch(
            f"pytorch_kaldi_snn/{rel}", line.split()[1]) for line in manifest), rel
    assert {"graft cfg", "graft proto"} <= set(manifest)
