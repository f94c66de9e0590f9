"""The shipped cfg templates (cfg/TIMIT_*, cfg/Librispeech_*, cfg/sweeps/).

They must render (every @TOKEN@ known and filled), pass upstream PyTorch-Kaldi's checks
(encoded below from its proto files, type rules of pytorch_kaldi_snn.proto), avoid the
host's traps, carry the paper's settings, and load with our own reader.
"""

from __future__ import annotations

import configparser
import importlib
import re
import sys
from pathlib import Path

import pytest

from pytorch_kaldi_snn.proto import check_section, read_proto
from pytorch_kaldi_snn.runner import cfg_protos
from pytorch_kaldi_snn.runner.config import load_config
from pytorch_kaldi_snn.runner.render import render_text, tokens

REPO = Path(__file__).resolve().parents[1]
ARCHS = ("LSTM", "GRU", "SNN_traditional", "SNN_v1", "SNN_v2")
TEMPLATES = [REPO / "cfg" / f"{c}_{a}.cfg" for c in ("TIMIT", "Librispeech")
             for a in ARCHS]
SWEEPS = sorted((REPO / "cfg" / "sweeps").glob("*.cfg"))
KNOWN_TOKENS = {
    "OUT_FOLDER", "USE_CUDA", "GRAPH_DIR", "DECODING_SCRIPT_FOLDER", "SCORING_SCRIPT",
    *(f"{kind}_{s}" for kind in ("FEATS", "ALI", "DATA")
      for s in ("TRAIN", "DEV", "TEST")),
}

# Upstream PyTorch-Kaldi's expectations (from its proto/ files), written out here so the
# test does not depend on an upstream checkout or on the package's own tables.
UPSTREAM = """
[exp]
cmd=str
run_nn_script=str
out_folder=str
seed=int(-inf,inf)
use_cuda=bool
multi_gpu=bool
save_gpumem=bool
n_epochs_tr=int(1,inf)
[dataset]
data_name=str
fea=str
lab=str
n_chunks=int(1,inf)
[data_use]
train_with=list_str
valid_with=list_str
forward_with=list_str
[batches]
batch_size_train=list_str
max_seq_length_train=list_str
increase_seq_length_train=Bool
start_seq_len_train=int(20,inf)
multply_factor_seq_len_train=int(0,inf)
batch_size_valid=int(1,inf)
max_seq_length_valid=int(20,inf)
[architecture]
arch_name=str
arch_library=str
arch_class=str
arch_pretrain_file=str
arch_freeze=bool
arch_seq_model=bool
arch_lr=list_str
arch_halving_factor=float(0,inf)
arch_improvement_threshold=float(0,inf)
arch_opt={sgd,rmsprop,adam}
[model]
model=str
[forward]
forward_out=str
normalize_posteriors=bool_list
normalize_with_counts_from=str
save_out_file=bool_list
require_decoding=bool_list
[decoding]
decoding_script=str
[LSTM]
lstm_lay=str_list
lstm_drop=str_list
lstm_use_laynorm_inp=bool
lstm_use_batchnorm_inp=bool
lstm_use_laynorm=bool_list
lstm_use_batchnorm=bool_list
lstm_bidir=bool
lstm_act=str_list
lstm_orthinit=bool
[MLP]
dnn_lay=str_list
dnn_drop=str_list
dnn_use_laynorm_inp=bool
dnn_use_batchnorm_inp=bool
dnn_use_batchnorm=bool_list
dnn_use_laynorm=bool_list
dnn_act=str_list
[adam]
opt_betas=float_list(0,inf)
opt_eps=float
opt_weight_decay=float(0,inf)
opt_amsgrad=bool
[decoding_keys]
min_active=int(0,inf)
max_active=int(0,inf)
max_mem=int(0,inf)
beam=float(0,inf)
latbeam=float(0,inf)
acwt=float(0,inf)
max_arcs=int(-inf,inf)
scoring_opts=str
norm_vars=bool
skip_scoring=bool
"""


def _upstream() -> dict[str, dict[str, str]]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(UPSTREAM)
    tables = {s: dict(parser[s]) for s in parser.sections()}
    tables["GRU"] = {k.replace("lstm_", "gru_"): v for k, v in tables["LSTM"].items()}
    return tables


def _render(path: Path) -> str:
    text = path.read_text()
    values = {t: f"/data/{t.lower()}" for t in tokens(text)}
    values["USE_CUDA"] = "False"
    values["OUT_FOLDER"] = "exp/test_out"
    return render_text(text, values, file=str(path))


def _kind(section: str) -> str:
    return re.sub(r"\d+$", "", section)


def test_all_templates_and_sweeps_exist():
    missing = [p.name for p in TEMPLATES if not p.is_file()]
    assert not missing
    assert len(SWEEPS) == 28


def test_package_tables_agree_with_upstream_expectations():
    up = _upstream()
    for kind in ("exp", "dataset", "data_use", "batches", "forward", "model"):
        assert {k: v for k, v in cfg_protos.GLOBAL[kind].items()
                if v != "path"} == up[kind]
    arch = {k: v for k, v in cfg_protos.GLOBAL["architecture"].items() if v != "path"}
    assert arch == up["architecture"]
    for name in ("LSTM", "GRU", "MLP"):
        assert cfg_protos.ARCHS[name] == up[name]
    assert cfg_protos.OPTIMIZERS["adam"] == up["adam"]
    assert cfg_protos.DECODING == up["decoding_keys"]


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.stem)
def test_template_tokens_are_known_and_render(path: Path):
    text = path.read_text()
    assert set(tokens(text)) <= KNOWN_TOKENS, set(tokens(text)) - KNOWN_TOKENS
    rendered = _render(path)
    assert "@" not in "".join(ln for ln in rendered.splitlines()
                              if not ln.startswith("#"))


@pytest.mark.parametrize("path", TEMPLATES + SWEEPS, ids=lambda p: p.stem)
def test_rendered_cfg_passes_upstream_checks_and_host_traps(path: Path):
    rendered = _render(path)
    # upstream reads cfgs with configparser's default interpolation: no '%' anywhere
    strict = configparser.ConfigParser()
    strict.read_string(rendered)
    for section in strict.sections():
        for key in strict[section]:
            strict[section][key]  # raises InterpolationError on a stray '%'
    up = _upstream()
    for section in strict.sections():
        kind = _kind(section)
        s = strict[section]
        if kind in up:
            # upstream's check_field lets only cmd be empty
            proto = {k: v for k, v in up[kind].items() if k != "cmd" or s.get(k)}
            check_section(s, proto, file=str(path), section_name=section)
        if kind == "decoding":
            check_section(s, up["decoding_keys"], file=str(path), section_name=section)
        if kind != "architecture":
            continue
        assert sum("_drop" in k for k in s) == 1, f"{section}: one *_drop key"
        cls = s["arch_class"]
        if cls in ("LSTM", "GRU", "MLP"):
            check_section(s, up[cls], file=str(path), section_name=section)
        else:
            proto = REPO / s["arch_proto"]
            if proto.is_file():
                check_section(s, read_proto(str(proto)), file=str(path),
                              section_name=section)
        check_section(s, up[s["arch_opt"]], file=str(path), section_name=section)
        for key in s:
            if "use_laynorm" in key and section == "architecture1":
                assert s[key].split(",")[0] == "False"
            if "N_out_" in s[key]:
                assert key == "dnn_lay" and s[key] == "N_out_lab_cd"
    pattern = re.compile(r"(.*)=(.*)\((.*),(.*)\)")
    for line in strict["model"]["model"].splitlines():
        assert pattern.fullmatch(line.strip()), line
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            assert "/home/" not in line and "/scratch" not in line


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.stem)
def test_paper_settings(path: Path):
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read_string(path.read_text())
    assert cfg["exp"]["n_epochs_tr"] == "24"
    assert cfg["batches"]["batch_size_train"] == "64"
    a1, a2 = cfg["architecture1"], cfg["architecture2"]
    assert (a1["arch_lr"], a1["arch_opt"], a1["arch_halving_factor"]) == \
        ("0.001", "adam", "0.5")
    assert a1["arch_seq_model"] == "True"
    assert a2["arch_class"] == "MLP" and a2["arch_library"] == "neural_networks"
    assert a2["dnn_act"] == "softmax" and a2["arch_seq_model"] == "False"
    if a1["arch_class"].startswith("SNN"):
        assert a1["arch_library"] == "pytorch_kaldi_snn.pytorch_kaldi"
        assert a1["arch_proto"] == f"proto/{a1['arch_class']}.proto"
        assert (a1["snn_lay"], a1["snn_drop"], a1["snn_use_batchnorm"]) == \
            ("550,550", "0.1,0.1", "True,True")
        assert (a1["snn_n_bits"], a1["snn_threshold_k"]) == ("6", "4")  # b/16
    else:
        p = a1["arch_class"].lower()
        assert a1["arch_library"] == "neural_networks"
        assert a1[f"{p}_lay"] == "550,550" and a1[f"{p}_bidir"] == "False"


def _has_class(library: str, name: str) -> bool:
    try:
        return hasattr(importlib.import_module(library), name)
    except ImportError:
        return False


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.stem)
def test_rendered_template_loads_and_builds(path: Path, tmp_path):
    raw = configparser.ConfigParser(interpolation=None)
    raw.read_string(path.read_text())
    cls = raw["architecture1"]["arch_class"]
    if cls.startswith("SNN") and not (
        _has_class("pytorch_kaldi_snn.pytorch_kaldi", cls)
        and (REPO / f"proto/{cls}.proto").is_file()
    ):
        pytest.skip(f"{cls} or its proto is not in the package yet")
    out = tmp_path / path.name
    out.write_text(_render(path))
    cfg = load_config(str(out))
    assert list(cfg.archs) == [raw["architecture1"]["arch_name"], "MLP_head"]
    arch = cfg.archs[raw["architecture1"]["arch_name"]]
    options = arch.options
    options["use_cuda"] = "False"
    options["to_do"] = "train"
    net = arch.cls(options, 40)
    assert net.out_dim == 550


def test_sweeps_equal_the_script_output():
    sys.path.insert(0, str(REPO / "tools"))
    try:
        make_sweeps = importlib.import_module("make_sweeps")
    finally:
        sys.path.pop(0)
    files = make_sweeps.sweep_files((REPO / "cfg" / "TIMIT_SNN_v2.cfg").read_text())
    assert sorted(files) == [p.name for p in SWEEPS]
    for p in SWEEPS:
        assert p.read_text() == files[p.name], p.name
    assert make_sweeps.main(["--check"]) == 0


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
def test_sweep_points(path: Path):
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read_string(path.read_text())
    a1 = cfg["architecture1"]
    m = re.fullmatch(r"TIMIT_SNN_v2_b(\d|full)_w(1x|1p5x|2x|3x)", path.stem)
    assert m
    bits = "0" if m.group(1) == "full" else m.group(1)
    units = {"1x": 550, "1p5x": 825, "2x": 1100, "3x": 1650}[m.group(2)]
    assert a1["snn_n_bits"] == bits and a1["snn_threshold_k"] == "0"
    assert a1["snn_lay"] == f"{units},{units}"
    assert a1["arch_class"] == "SNN_v2"


@pytest.mark.parametrize("name", ["TIMIT_SNN_v2_b1_w1x", "TIMIT_SNN_v2_b3_w1p5x",
                                  "TIMIT_SNN_v2_b6_w2x", "TIMIT_SNN_v2_bfull_w3x"])
def test_sweep_points_build(name):
    if not _has_class("pytorch_kaldi_snn.pytorch_kaldi", "SNN_v2"):
        pytest.skip("SNN_v2 is not in the package yet")
    from pytorch_kaldi_snn.pytorch_kaldi import SNN_v2

    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(REPO / "cfg" / "sweeps" / f"{name}.cfg")
    section = cfg["architecture1"]
    section["use_cuda"] = "False"
    section["to_do"] = "train"
    net = SNN_v2(section, 40)
    assert net.out_dim == int(section["snn_lay"].split(",")[-1])
