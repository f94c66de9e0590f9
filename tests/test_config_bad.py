"""Every malformed cfg in tests/bad_cfgs/ raises one ConfigError naming where it is.

Each fixture is ``base_ok.cfg`` with one mistake; its first line says what the error
must name: ``# expect: section=S key=K match=TEXT`` (``-`` for none).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytorch_kaldi_snn.errors import ConfigError
from pytorch_kaldi_snn.runner.config import load_config

HERE = Path(__file__).parent / "bad_cfgs"
BAD = sorted(p for p in HERE.glob("*.cfg") if p.name != "base_ok.cfg")
_EXPECT = re.compile(r"^# expect: section=(\S+) key=(\S+) match=(.+)$")


def _expectation(path: Path) -> tuple[str | None, str | None, str]:
    match = _EXPECT.match(path.read_text().splitlines()[0])
    assert match, f"{path.name}: first line must be '# expect: ...'"
    section, key, text = match.groups()
    return (None if section == "-" else section, None if key == "-" else key, text)


def test_base_cfg_is_valid():
    cfg = load_config(str(HERE / "base_ok.cfg"))
    assert list(cfg.archs) == ["LSTM_layers", "MLP_head"]


def test_there_are_at_least_twenty_bad_cfgs():
    assert len(BAD) >= 20


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_cfg_raises_one_clear_error(path: Path):
    section, key, text = _expectation(path)
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    err = info.value
    message = str(err)
    assert err.file == str(path)
    assert err.section == section, message
    assert err.key == key, message
    assert text in message
    assert str(path) in message and "\n" not in message


CLI_CASES = ["arch_unknown_class", "model_unknown_label", "schedule_bad_repeat",
             "exp_percent_in_value", "arch_proto_not_found"]


@pytest.mark.parametrize("name", CLI_CASES)
def test_run_cli_exits_nonzero_with_one_line_and_writes_nothing(name, tmp_path,
                                                                monkeypatch, capsys):
    from pytorch_kaldi_snn.cli import main

    monkeypatch.chdir(tmp_path)  # out_folder = exp/base_ok is relative to the cwd
    path = HERE / f"{name}.cfg"
    assert main(["run", str(path)]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err
    assert list(tmp_path.iterdir()) == []


def test_run_exp_shim_exits_nonzero(tmp_path):
    import subprocess
    import sys

    repo = HERE.parents[1]
    proc = subprocess.run(
        [sys.executable, str(repo / "run_exp.py"),
         str(HERE / "model_unknown_arch.cfg")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode != 0
    assert "unknown architecture 'GRU_layers'" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_every_single_line_mutation_gives_a_config_error_or_loads(tmp_path):
    """Delete each line of base_ok.cfg, or set its value to '', 'x', '-1', '1.5',
    'True', '0': load_config must either accept the cfg or raise ConfigError, never
    crash with another exception (about 800 variants, a few seconds)."""
    base = (HERE / "base_ok.cfg").read_text().splitlines()
    variants = []
    for i, line in enumerate(base):
        variants.append(base[:i] + base[i + 1:])
        if "=" in line:
            key = line.split("=")[0]
            variants += [base[:i] + [f"{key}= {v}"] + base[i + 1:]
                         for v in ("", "x", "-1", "1.5", "True", "0")]
    path = tmp_path / "variant.cfg"
    rejected = 0
    for lines in variants:
        path.write_text("\n".join(lines) + "\n")
        try:
            load_config(str(path))
        except ConfigError:
            rejected += 1
    assert rejected > len(variants) // 2
