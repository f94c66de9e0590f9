"""Template rendering: @NAME@ tokens filled, unfilled ones refused, atomic writes."""

from __future__ import annotations

import configparser
import doctest
from pathlib import Path

import pytest

from pytorch_kaldi_snn.errors import ConfigError
from pytorch_kaldi_snn.runner import config as config_module
from pytorch_kaldi_snn.runner import model_lang, render
from pytorch_kaldi_snn.runner.render import (
    parse_assignments,
    render_file,
    render_text,
    tokens,
)

REPO = Path(__file__).resolve().parents[1]

TEXT = """# tokens: @OUT_FOLDER@ and @SEED@ (documented here)
[exp]
out_folder = @OUT_FOLDER@
seed = @SEED@
fea_lst=@FEATS_TRAIN@/feats.scp
mail = user@example.org
"""


def test_tokens_in_order_ignoring_comments_and_non_tokens():
    assert tokens(TEXT) == ["OUT_FOLDER", "SEED", "FEATS_TRAIN"]
    assert tokens(TEXT, include_comments=True)[:2] == ["OUT_FOLDER", "SEED"]


def test_render_fills_everything_including_comments():
    out = render_text(TEXT, {"OUT_FOLDER": "exp/a", "SEED": "3", "FEATS_TRAIN": "/f"})
    assert "out_folder = exp/a\n" in out and "seed = 3\n" in out
    assert "fea_lst=/f/feats.scp" in out and "# tokens: exp/a and 3" in out
    assert "user@example.org" in out


def test_unfilled_tokens_are_refused_with_all_names():
    with pytest.raises(ConfigError) as info:
        render_text(TEXT, {"OUT_FOLDER": "exp/a"}, file="t.cfg")
    assert "@SEED@, @FEATS_TRAIN@" in str(info.value) and "t.cfg" in str(info.value)
    partial = render_text(TEXT, {"OUT_FOLDER": "exp/a"}, strict=False)
    assert "seed = @SEED@" in partial


def test_values_that_would_break_a_cfg_are_refused():
    for bad in ("50%", "a\nb"):
        with pytest.raises(ConfigError):
            render_text(TEXT, {"OUT_FOLDER": bad, "SEED": "1", "FEATS_TRAIN": "x"})


def test_parse_assignments():
    assert parse_assignments(["OUT_FOLDER=a=b", "@SEED@=4"]) == {
        "OUT_FOLDER": "a=b", "SEED": "4"}
    for bad in ("novalue", "lower=1", "=3"):
        with pytest.raises(ConfigError):
            parse_assignments([bad])


def test_render_file_is_atomic_and_leaves_no_temp(tmp_path):
    src = tmp_path / "t.cfg"
    src.write_text(TEXT)
    dest = tmp_path / "out" / "r.cfg"
    render_file(str(src), str(dest), {"OUT_FOLDER": "o", "SEED": "1",
                                      "FEATS_TRAIN": "f"})
    assert "seed = 1" in dest.read_text()
    with pytest.raises(ConfigError):
        render_file(str(src), str(dest), {"OUT_FOLDER": "changed"})
    assert "out_folder = o" in dest.read_text()  # a failed render keeps the old file
    assert sorted(p.name for p in dest.parent.iterdir()) == ["r.cfg"]


@pytest.mark.parametrize("module", [render, config_module, model_lang])
def test_docstring_examples(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def test_module_cli(tmp_path, capsys):
    src = tmp_path / "t.cfg"
    src.write_text(TEXT)
    dest = tmp_path / "r.cfg"
    assert render.main([str(src), str(dest), "OUT_FOLDER=o", "SEED=2",
                        "FEATS_TRAIN=f"]) == 0
    assert "seed = 2" in dest.read_text()
    assert render.main([str(src), str(tmp_path / "x.cfg"), "SEED=2"]) == 1
    assert "@OUT_FOLDER@" in capsys.readouterr().err
    assert not (tmp_path / "x.cfg").exists()


def test_a_template_cfg_gives_one_message_with_every_token(tmp_path, capsys,
                                                           monkeypatch):
    from pytorch_kaldi_snn import cli
    from pytorch_kaldi_snn.runner.config import load_config

    template = tmp_path / "TIMIT_SNN_v2.cfg"
    template.write_text((REPO / "cfg" / "TIMIT_SNN_v2.cfg").read_text())
    with pytest.raises(ConfigError) as info:
        load_config(str(template))
    text = str(info.value)
    for name in tokens(template.read_text()):
        assert f"@{name}@" in text
    assert "this cfg is a template, 14 @TOKENS@ unfilled" in text
    assert "@GRAPH_DIR@ ([dataset1] lab, [dataset2] lab, [dataset3] lab)" in text
    assert "bash recipes/timit/run.sh --timit DIR" in text
    assert "pytorch-kaldi-snn install-into PKDIR --kaldi-egs" in text
    assert (f"python -m pytorch_kaldi_snn.runner.render {template} my.cfg "
            "OUT_FOLDER=... USE_CUDA=... FEATS_TRAIN=...") in text
    # overrides fill tokens too; the rest are still listed, in one line, exit 1
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", str(template), "--exp,out_folder=x",
                     "--exp,use_cuda=False"]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "12 @TOKENS@ unfilled" in err
    assert "@OUT_FOLDER@" not in err and "@SCORING_SCRIPT@" in err
    assert not (tmp_path / "x").exists()


def test_template_message_names_the_demo_recipe(tmp_path):
    from pytorch_kaldi_snn.runner.config import load_config

    demo = tmp_path / "DEMO_SNN_v1.cfg"
    demo.write_text((REPO / "cfg" / "DEMO_SNN_v1.cfg").read_text())
    with pytest.raises(ConfigError, match=r"recipe \(bash recipes/demo/run.sh\)"):
        load_config(str(demo))


def test_rendered_tokens_leave_no_message():
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string("[exp]\nmail = user@example.org\nout_folder = exp/a\n")
    render.check_filled(parser, "x.cfg")  # no token: no error
