"""load_config on a valid cfg: typed values, overrides, schedules, curriculum,
protos."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from pytorch_kaldi_snn.errors import ConfigError
from pytorch_kaldi_snn.proto import read_proto
from pytorch_kaldi_snn.runner import cfg_protos
from pytorch_kaldi_snn.runner.config import (
    BatchesConfig,
    load_config,
    parse_overrides,
    schedule,
)

BASE = Path(__file__).parent / "bad_cfgs" / "base_ok.cfg"
REPO = Path(__file__).resolve().parents[1]


def test_typed_sections():
    cfg = load_config(str(BASE))
    assert cfg.exp.seed == 1234 and cfg.exp.use_cuda is False
    assert cfg.exp.n_epochs_tr == 4 and cfg.exp.cmd == ""
    tr = cfg.datasets["tr"]
    assert tr.section == "dataset1" and tr.n_chunks == 2
    (fea,) = tr.fea
    assert fea.fea_name == "mfcc" and fea.fea_lst == "data/train/feats.scp"
    assert fea.fea_opts.startswith("apply-cmvn --utt2spk=ark:data/train/utt2spk")
    assert fea.fea_opts.endswith("ark:- ark:- |")
    assert (fea.cw_left, fea.cw_right) == (0, 0)
    (lab,) = tr.lab
    assert (lab.lab_name, lab.lab_folder, lab.lab_opts) == ("lab_cd", "exp/ali_train",
                                                             "ali-to-pdf")
    assert lab.lab_graph == "exp/graph"
    assert cfg.data_use.train_with == ("tr",) and cfg.data_use.forward_with == ("dev",)
    assert cfg.forward.forward_out == "out_dnn2"
    assert cfg.decoding["beam"] == "13.0"


def test_archs_typed_and_options_are_the_raw_section():
    cfg = load_config(str(BASE))
    lstm, mlp = cfg.archs["LSTM_layers"], cfg.archs["MLP_head"]
    assert lstm.section == "architecture1" and lstm.seq_model and not mlp.seq_model
    assert lstm.pretrain_file is None and lstm.freeze is False
    assert lstm.lr == (0.001,) * 4 and lstm.auto_anneal
    assert mlp.lr == (0.001, 0.001, 0.0005, 0.0005) and not mlp.auto_anneal
    assert lstm.opt == "adam" and lstm.opt_options["opt_betas"] == (0.9, 0.999)
    assert lstm.opt_options["opt_amsgrad"] is False
    assert mlp.opt_options == {"opt_momentum": 0.9, "opt_weight_decay": 0.0,
                               "opt_dampening": 0.0, "opt_nesterov": False}
    assert isinstance(lstm.options, configparser.SectionProxy)
    assert lstm.options["lstm_lay"] == "32,32"
    assert lstm.options.parser["exp"]["out_folder"] == "exp/base_ok"
    assert lstm.options.parser._snn_source_file == str(BASE)  # for the classes' errors
    assert lstm.cls.__name__ == "LSTM"
    assert lstm.proto == "builtin:LSTM.proto"


def test_overrides_change_values_before_validation():
    cfg = load_config(str(BASE), ["--exp,seed=7", "--batches,batch_size_train=32*3|4",
                                  "--architecture1,arch_lr=0.01|0.02*3"])
    assert cfg.exp.seed == 7
    assert cfg.batches.batch_size_train == (32, 32, 32, 4)
    assert cfg.archs["LSTM_layers"].lr == (0.01, 0.02, 0.02, 0.02)
    with pytest.raises(ConfigError, match="use_cuda"):
        load_config(str(BASE), ["--exp,use_cuda=sometimes"])
    with pytest.raises(ConfigError, match="section the cfg does not have"):
        load_config(str(BASE), ["--nosuch,key=1"])
    with pytest.raises(ConfigError, match="malformed override"):
        parse_overrides(["exp,seed=3"])
    assert parse_overrides(["--exp,seed=3=4"]) == [("exp", "seed", "3=4")]


def test_schedule_expansion():
    assert schedule("128*12|64*12", 24, int) == [128] * 12 + [64] * 12
    assert schedule("0.001", 3) == [0.001] * 3
    assert schedule("1*2|2*1|3", 4, int) == [1, 1, 2, 3]
    assert schedule(" 100*2 | 200*2 ", 4, int) == [100, 100, 200, 200]
    for bad in ("1**2", "*3", "1*0", "1|", "a*2"):
        with pytest.raises(ConfigError):
            schedule(bad, 4, int)
    # as upstream's expand_str_ep: anything but a single value must cover n_epochs
    for short in ("128*3", "128*2|64", "128*3|64*2"):
        with pytest.raises(ConfigError, match="covers"):
            schedule(short, 4, int)


def test_seq_len_curriculum_follows_upstream():
    b = BatchesConfig((8, 8, 8), (400, 400, 1000), True, 100, 2, 8, 1000)
    # x2 after every training chunk, capped by the epoch's max_seq_length_train
    assert b.seq_len_curriculum(2) == [[100, 200], [400, 400], [400, 800]]
    off = BatchesConfig((8, 8), (300, 500), False, 100, 2, 8, 1000)
    assert off.seq_len_curriculum(3) == [[300] * 3, [500] * 3]


def test_several_fea_entries_and_context_window(tmp_path):
    text = BASE.read_text()
    for split in ("train", "dev"):
        text = text.replace(
            f"\tcw_right=0\nlab = lab_name=lab_cd\n\tlab_folder=exp/ali_{split}",
            f"\tcw_right=0\n\n\tfea_name=fbank\n\tfea_lst=data/{split}/fbank.scp\n"
            "\tfea_opts=\n\tcw_left=5\n\tcw_right=3\n"
            f"lab = lab_name=lab_cd\n\tlab_folder=exp/ali_{split}", 1)
    path = tmp_path / "two.cfg"
    path.write_text(text)
    cfg = load_config(str(path))
    feas = cfg.datasets["tr"].fea
    assert [f.fea_name for f in feas] == ["mfcc", "fbank"]
    assert (feas[1].cw_left, feas[1].cw_right, feas[1].fea_opts) == (5, 3, "")


def test_missing_file_and_unparsable_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(str(tmp_path / "none.cfg"))
    bad = tmp_path / "x.cfg"
    bad.write_text("no section header\n")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_config(str(bad))


def test_committed_global_protos_match_the_builtin_tables():
    for name, table in (("global.proto", cfg_protos.GLOBAL),
                        ("global_chunk.proto", cfg_protos.GLOBAL_CHUNK)):
        sections = cfg_protos.read_sections(str(REPO / "proto" / name))
        assert sections == table


def test_proto_lookup_prefers_a_real_checkout(tmp_path):
    checkout = tmp_path / "pk"
    (checkout / "proto").mkdir(parents=True)
    (checkout / "proto" / "LSTM.proto").write_text("[proto]\nlstm_lay=str_list\n")
    cfg = checkout / "cfg" / "x.cfg"
    cfg.parent.mkdir()
    found = cfg_protos.resolve_proto("proto/LSTM.proto", str(cfg))
    assert found == str(checkout / "proto" / "LSTM.proto")
    assert read_proto(found) == {"lstm_lay": "str_list"}
    assert cfg_protos.resolve_proto("proto/Nope.proto", str(cfg)) is None


def test_production_dataset_without_labels(tmp_path):
    text = BASE.read_text().replace("[data_use]", """[dataset3]
data_name = prod
fea = fea_name=mfcc
\tfea_lst=data/prod/feats.scp
\tfea_opts=
\tcw_left=0
\tcw_right=0
lab = lab_name=none
\tlab_data_folder=data/prod/
\tlab_graph=exp/graph
n_chunks = 1

[data_use]""", 1).replace("forward_with = dev", "forward_with = prod")
    path = tmp_path / "prod.cfg"
    path.write_text(text)
    prod = load_config(str(path)).datasets["prod"]
    assert prod.production and prod.lab_names() == []
    assert prod.lab[0].lab_data_folder == "data/prod/"
    assert prod.lab[0].lab_graph == "exp/graph"
    assert not load_config(str(BASE)).datasets["tr"].production


def test_fea_name_must_be_alphanumeric(tmp_path):
    path = tmp_path / "x.cfg"
    path.write_text(BASE.read_text().replace("fea_name=mfcc", "fea_name=mfcc_40"))
    with pytest.raises(ConfigError, match="only letters and digits"):
        load_config(str(path))


def test_counts_file_instead_of_a_label(tmp_path):
    counts = tmp_path / "counts.txt"
    counts.write_text("[ 1 2 3 ]\n")
    path = tmp_path / "c.cfg"
    path.write_text(BASE.read_text().replace(
        "normalize_with_counts_from = lab_cd",
        f"normalize_with_counts_from = {counts}"))
    assert load_config(str(path)).forward.normalize_with_counts_from == str(counts)
    path.write_text(BASE.read_text().replace(
        "normalize_with_counts_from = lab_cd", "normalize_with_counts_from = lab_x"))
    with pytest.raises(ConfigError, match="neither a label stream nor a count file"):
        load_config(str(path))


def test_authors_proto_name_resolves_to_ours(tmp_path):
    ours = REPO / "proto" / "ImprovedSpikingModelV2.proto"
    if not ours.is_file():
        pytest.skip("the authors' class protos are not in the repository yet")
    found = cfg_protos.resolve_proto("proto/ImprovedSpikingModel.proto",
                                     str(tmp_path / "a.cfg"))
    shipped = REPO / "proto" / "ImprovedSpikingModel.proto"  # their name, same keys
    assert found == str(shipped if shipped.is_file() else ours)


def test_a_thin_cfg_proto_does_not_let_missing_keys_through(tmp_path):
    thin = tmp_path / "thin.proto"
    thin.write_text("[cfg_proto]\ncfg_proto=path\ncfg_proto_chunk=path\n"
                    "[exp]\nout_folder=str\n")
    path = tmp_path / "thin.cfg"
    path.write_text(BASE.read_text()
                    .replace("cfg_proto = proto/global.proto", f"cfg_proto = {thin}")
                    .replace("seed = 1234\n", ""))
    with pytest.raises(ConfigError, match="seed: mandatory key is missing"):
        load_config(str(path))
