"""recipes/timit/run.sh and recipes/librispeech/run.sh: options, the Kaldi-egs route
(cfg rendering only) and the pip-only route on miniature corpus trees."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from pytorch_kaldi_snn.datasets.miniature import make_fake_librispeech, make_fake_timit

ROOT = Path(__file__).resolve().parents[1]
RECIPES = {"timit": ROOT / "recipes" / "timit" / "run.sh",
           "librispeech": ROOT / "recipes" / "librispeech" / "run.sh"}
EGS_FILES = {
    "timit": ["data-fmllr-tri3/train/feats.scp", "exp/tri3_ali/final.mdl",
              "exp/tri3/graph/HCLG.fst"],
    "librispeech": ["data-fmllr-tri4b/train_clean_100/feats.scp",
                    "exp/tri4b_ali_clean_100/final.mdl",
                    "exp/tri4b/graph_tgsmall/HCLG.fst"],
}


def _run(recipe: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(["bash", str(RECIPES[recipe]), *args], check=False,
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env=env)


@pytest.mark.parametrize("recipe", ["timit", "librispeech"])
def test_help_and_bad_options(recipe, tmp_path):
    r = _run(recipe, "--help")
    assert r.returncode == 0 and "--kaldi-egs" in r.stdout and "--stage" in r.stdout
    for args, message in ((["--bogus", "1"], "unknown option"),
                          (["--arch", "cnn"], "--arch must be"),
                          (["--feats", "plp"], "--feats must be"),
                          ([], "must name the"),
                          (["--kaldi-egs", str(tmp_path)], "missing (run Kaldi")):
        r = _run(recipe, "--dir", str(tmp_path / "exp"), *args)
        assert r.returncode != 0, args
        assert message in r.stderr, (args, r.stderr)


@pytest.mark.parametrize("recipe", ["timit", "librispeech"])
def test_kaldi_route_renders_the_cfg_on_the_egs_outputs(recipe, tmp_path):
    egs = tmp_path / "egs"
    for f in EGS_FILES[recipe]:
        (egs / f).parent.mkdir(parents=True, exist_ok=True)
        (egs / f).write_text("")
    scripts = tmp_path / "kaldi_decoding_scripts"
    scripts.mkdir()
    r = _run(recipe, "--kaldi-egs", str(egs), "--decoding-scripts", str(scripts),
             "--dir", str(tmp_path / "exp"), "--arch", "trad", "--stop-stage", "4")
    assert r.returncode == 0, r.stderr
    cfg = (tmp_path / "exp" / "trad" / "exp.cfg").read_text()
    assert "@" not in re.sub(r"^#.*$", "", cfg, flags=re.MULTILINE)
    feats = EGS_FILES[recipe][0].rsplit("/", 1)[0]
    assert f"fea_lst={egs}/{feats}/feats.scp" in cfg
    assert f"lab_folder={egs}/{EGS_FILES[recipe][1].rsplit('/', 1)[0]}" in cfg
    assert f"decoding_script_folder = {scripts}" in cfg
    assert "arch_class = SNN_traditional" in cfg or "SNN_traditional" in cfg


def _load(cfg: Path):
    from pytorch_kaldi_snn.runner.config import load_config

    return load_config(cfg)


@pytest.mark.slow
def test_timit_pip_route_end_to_end(tiny_corpus, tmp_path):
    """Data dirs, features, alignments, graph, cfg, one training epoch and PER."""
    make_fake_timit(tiny_corpus / "data", tmp_path / "TIMIT")
    exp = tmp_path / "exp"
    r = _run("timit", "--timit", str(tmp_path / "TIMIT"), "--dir", str(exp),
             "--epochs", "1", timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    for stage in range(6):
        assert f"stage {stage} done" in r.stderr
    # True onsets from the .PHN files against the monophone alignment (10 ms frames).
    assert float((exp / "mono" / "boundary_error.txt").read_text().split()[1]) <= 4
    res = (exp / "v2" / "res.res").read_text()
    assert re.search(r"^ep=0 tr=\['TIMIT_tr'\]", res, re.MULTILINE)
    assert re.search(r"^%WER [0-9.]+ \[", res, re.MULTILINE)
    assert (exp / "v2" / "table1.md").is_file()
    cfg = _load(exp / "v2" / "exp.cfg")
    assert (cfg.datasets["TIMIT_tr"].fea[0].fea_lst
            == f"{exp}/data/train_fbank/feats.scp")


@pytest.mark.slow
def test_librispeech_pip_route_prepares_everything(tiny_corpus, tmp_path):
    """Data dirs, features, alignments and the word graph; the rendered cfg loads."""
    make_fake_librispeech(tiny_corpus / "data", tmp_path / "Libri")
    exp = tmp_path / "exp"
    r = _run("librispeech", "--libri", str(tmp_path / "Libri"), "--dir", str(exp),
             "--stop-stage", "4", "--feats", "mfcc", timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    for s in ("train_clean_100", "dev_clean", "test_clean"):
        assert (exp / "data" / s / "feats.scp").is_file()
        assert (exp / "data" / f"{s}_fbank" / "feats.scp").is_file()
    assert (exp / "mono_test_clean" / "ali.1.gz").is_file()
    assert (exp / "graph_word" / "HCLG.fst").is_file()
    cfg = _load(exp / "v2" / "exp.cfg")
    assert set(cfg.datasets) == {"train_clean_100", "dev_clean", "test_clean"}
    lab = cfg.datasets["train_clean_100"].lab[0]
    assert lab.lab_folder == f"{exp}/mono" and lab.lab_graph == f"{exp}/graph_word"
    # Rerun: every stage is marked finished and skipped.
    r2 = _run("librispeech", "--libri", str(tmp_path / "Libri"), "--dir", str(exp),
              "--stop-stage", "3")
    assert r2.returncode == 0 and "stage 2:" not in r2.stderr
