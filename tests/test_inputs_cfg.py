"""Cfg-level mistakes of issue 9 (a cfg path that is a folder, a proto with an unknown
type name, ``run_exp.py`` without arguments) and the import order of the cfg reader."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from pytorch_kaldi_snn.cli import main
from pytorch_kaldi_snn.errors import ConfigError
from pytorch_kaldi_snn.proto import is_known_type, read_proto
from pytorch_kaldi_snn.runner import cfg_protos
from pytorch_kaldi_snn.runner.config import load_config

REPO = Path(__file__).resolve().parents[1]
BASE = REPO / "tests" / "bad_cfgs" / "base_ok.cfg"


def test_cfg_path_that_is_a_directory(tmp_path, capsys):
    with pytest.raises(ConfigError, match="is a directory, not a cfg file"):
        load_config(str(tmp_path))
    assert main(["run", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{tmp_path}: is a directory" in err


def test_proto_with_unknown_type_name_names_file_and_line(tmp_path):
    proto = tmp_path / "LSTM.proto"
    proto.write_text("[proto]\nlstm_lay=str_list\nlstm_drop=str_list\n"
                     "lstm_bits=integer(0,16)\n")
    with pytest.raises(ConfigError) as info:
        read_proto(str(proto))
    msg = str(info.value)
    assert f"{proto}:4 [proto] lstm_bits: unknown type name" in msg
    assert "'integer(0,16)'" in msg and "int(lo,hi)" in msg
    with pytest.raises(ConfigError, match=r"LSTM.proto:4"):
        cfg_protos.proto_table(str(proto))


def test_cfg_naming_a_proto_with_an_unknown_type_is_rejected(tmp_path):
    proto = tmp_path / "MyLSTM.proto"
    lines = [f"{k}={v}" for k, v in cfg_protos.ARCHS["LSTM"].items()]
    lines[3] = lines[3].split("=")[0] + "=boolean"
    proto.write_text("[proto]\n" + "\n".join(lines) + "\n")
    cfg = tmp_path / "c.cfg"
    cfg.write_text(BASE.read_text().replace("arch_proto = proto/LSTM.proto",
                                            f"arch_proto = {proto}"))
    with pytest.raises(ConfigError, match=r"MyLSTM.proto:5 .*'boolean'"):
        load_config(str(cfg))


@pytest.mark.parametrize("text,ok", [
    ("int(0,16)", True), ("float(-inf,inf)", True), ("{sgd,adam}", True),
    ("Bool", True), ("list_str", True), ("int_list(1,inf)", True),
    ("integer(0,16)", False), ("int(0,x)", False), ("boolean", False), ("", False),
])
def test_type_names(text, ok):
    assert is_known_type(text) is ok


def test_every_shipped_proto_has_known_types():
    for path in sorted((REPO / "proto").glob("*.proto")):
        cfg_protos.read_sections(str(path))


def test_run_exp_without_arguments_prints_usage():
    proc = subprocess.run([sys.executable, str(REPO / "run_exp.py")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("usage: python run_exp.py ")
    assert "CFG [--section,field=value ...]" in proc.stderr
    assert "a cfg file is required" in proc.stderr
    assert "overrides are optional" in proc.stderr


def test_run_without_cfg_says_cfg_is_required(capsys):
    with pytest.raises(SystemExit) as info:
        main(["run"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "required: CFG" in err and "--section,field=value" not in err.split(
        "error:")[1]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_no_import_circle_among_runner_modules():
    """No module of runner/ reaches itself through runner imports (also lazy ones)."""
    folder = REPO / "pytorch_kaldi_snn" / "runner"
    mods = {f"pytorch_kaldi_snn.runner.{p.stem}": p for p in folder.glob("*.py")}
    graph = {m: {i for i in _imports(p) if i in mods and i != m}
             for m, p in mods.items()}
    for start in ("pytorch_kaldi_snn.runner.config",
                  "pytorch_kaldi_snn.runner.cfg_sections",
                  "pytorch_kaldi_snn.runner.inputs",
                  "pytorch_kaldi_snn.runner.features"):
        seen, todo = set(), list(graph[start])
        while todo:
            m = todo.pop()
            assert m != start, f"import circle through {start}"
            if m not in seen:
                seen.add(m)
                todo.extend(graph[m])
