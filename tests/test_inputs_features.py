"""The checked readers behind the runner: feature tables, labels, checkpoints."""

from __future__ import annotations

import kaldiio
import numpy as np
import pytest
import torch

from pytorch_kaldi_snn.errors import DataError
from pytorch_kaldi_snn.runner.checkpoint import load_model_state
from pytorch_kaldi_snn.runner.feature_tables import FeatureTable, scan_table
from pytorch_kaldi_snn.runner.features import list_utterances, load_features
from pytorch_kaldi_snn.runner.labels import check_label_range


def _ark(tmp_path, mats, name="f"):
    ark, scp = tmp_path / f"{name}.ark", tmp_path / f"{name}.scp"
    kaldiio.save_ark(str(ark), mats, scp=str(scp))
    return ark, scp


def _mats(n=3, dim=4):
    rng = np.random.default_rng(0)
    return {f"u{i}": rng.standard_normal((5 + i, dim)).astype(np.float32)
            for i in range(n)}


def test_scan_gives_lengths_and_dim(tmp_path):
    _, scp = _ark(tmp_path, _mats())
    assert scan_table(str(scp)) == ({"u0": 5, "u1": 6, "u2": 7}, 4)


def test_truncated_ark_read_as_ark_names_the_last_good_utterance(tmp_path):
    ark, _ = _ark(tmp_path, _mats())
    ark.write_bytes(ark.read_bytes()[:-20])
    with pytest.raises(DataError, match=r"f.ark: cannot read the ark after utterance "
                       r"u1: .*truncated or corrupt"):
        list_utterances(f"ark:{ark}")


def test_nan_is_named_with_frame_and_column_before_any_transform(tmp_path):
    mats = _mats()
    mats["u2"][6, 1] = np.nan
    _, scp = _ark(tmp_path, mats)
    with pytest.raises(DataError, match=r"f.scp:3 .*utterance u2 frame 6 \(of 7\) "
                       r"column 1: features value nan is not finite"):
        load_features(str(scp), "add-deltas --delta-order=1 ark:- ark:- |", 0, 0)
    # the utterances before it load
    assert set(load_features(str(scp), "", 0, 0, ["u0", "u1"])) == {"u0", "u1"}


def test_empty_utterance_and_binary_scp(tmp_path):
    mats = _mats()
    mats["u1"] = np.zeros((0, 4), np.float32)
    _, scp = _ark(tmp_path, mats)
    with pytest.raises(DataError, match="utterance u1: features of shape"):
        scan_table(str(scp))
    ark, _ = _ark(tmp_path, _mats(), name="g")
    with pytest.raises(DataError, match="not a text scp file"):
        FeatureTable(f"scp:{ark}")


def test_duplicate_utterance_in_scp(tmp_path):
    _, scp = _ark(tmp_path, _mats())
    lines = scp.read_text().splitlines()
    scp.write_text("\n".join(lines + lines[:1]) + "\n")
    with pytest.raises(DataError, match=r"f.scp:4: utterance u0 is listed twice"):
        list_utterances(str(scp))


def test_float64_cmvn_stats_keep_their_precision(tmp_path):
    stats = {"s": np.array([[1e8 + 1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])}
    _, scp = _ark(tmp_path, stats, name="cmvn")
    table = FeatureTable(str(scp), "cmvn stats")
    assert table["s"].dtype == np.float64 and table["s"][0, 0] == 1e8 + 1.0


def test_label_range():
    table = {"a": np.array([0, 1, 2]), "b": np.array([1, 4, 5, -1])}
    check_label_range({"a": table["a"]}, 3, source="ali", lab_name="lab_cd")
    with pytest.raises(DataError, match=r"ali: utterance b frame 1: label 4 of lab_cd "
                       r"is outside the model's 3 classes \(3 such frames\); allowed: "
                       r"0..2"):
        check_label_range(table, 3, source="ali", lab_name="lab_cd")


def test_checkpoint_of_another_architecture():
    net = torch.nn.Sequential(torch.nn.Linear(3, 2))
    other = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 2))
    with pytest.raises(DataError, match=r"c.pkl: the checkpoint does not fit .* "
                       r"\[architecture2\] \(missing: -; unexpected: 1.weight"):
        load_model_state(net, other.state_dict(), "c.pkl", section="architecture2")
    load_model_state(net, net.state_dict(), "c.pkl")
