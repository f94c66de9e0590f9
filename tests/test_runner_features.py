"""fea_opts pipes in Python against kaldi-native-fbank (Kaldi's arithmetic), scp/ark
I/O, sentence splitting and batching."""

from __future__ import annotations

import os

import kaldi_native_fbank as knf
import kaldiio
import numpy as np
import pytest
import torch

from pytorch_kaldi_snn.errors import ConfigError
from pytorch_kaldi_snn.runner.batching import collate, make_batches, make_pieces
from pytorch_kaldi_snn.runner.features import (
    add_deltas,
    load_features,
    parse_fea_opts,
    splice,
)


@pytest.mark.parametrize("order,window", [(1, 2), (2, 2), (2, 1), (3, 3)])
def test_add_deltas_matches_kaldi(order, window):
    x = np.random.default_rng(0).standard_normal((23, 5)).astype(np.float32)
    opts = knf.DeltaOptions()
    opts.order, opts.window = order, window
    ref = knf.compute_deltas(opts, x)
    np.testing.assert_allclose(add_deltas(x, order, window), ref, rtol=1e-5, atol=1e-5)


def test_splice_matches_kaldi():
    x = np.random.default_rng(1).standard_normal((9, 3)).astype(np.float32)
    opts = knf.SpliceOptions()
    opts.left_context, opts.right_context = 2, 3
    np.testing.assert_allclose(splice(x, 2, 3), knf.splice_frames(x, opts), atol=0)


def _write_data(tmp_path):
    rng = np.random.default_rng(2)
    feats = {f"spk{s}_u{u}": rng.standard_normal((10 + 3 * u, 4)).astype(np.float32)
             + s for s in range(2) for u in range(3)}
    kaldiio.save_ark(str(tmp_path / "feats.ark"), feats,
                     scp=str(tmp_path / "feats.scp"))
    stats = {}
    for s in range(2):
        frames = np.concatenate([v for k, v in feats.items()
                                 if k.startswith(f"spk{s}")])
        st = np.zeros((2, 5))
        st[0, :4], st[0, 4], st[1, :4] = (frames.sum(0), len(frames),
                                          (frames ** 2).sum(0))
        stats[f"spk{s}"] = st
    kaldiio.save_ark(str(tmp_path / "cmvn.ark"), stats, scp=str(tmp_path / "cmvn.scp"))
    (tmp_path / "utt2spk").write_text("".join(f"{k} {k.split('_')[0]}\n"
                                              for k in sorted(feats)))
    return feats


def test_cmvn_deltas_splice_pipe(tmp_path):
    feats = _write_data(tmp_path)
    opts = (f"apply-cmvn --norm-vars=true --utt2spk=ark:{tmp_path}/utt2spk "
            f"scp:{tmp_path}/cmvn.scp ark:- ark:- | add-deltas --delta-order=1 "
            "ark:- ark:- |")
    out = load_features(str(tmp_path / "feats.scp"), opts, 1, 1)
    assert set(out) == set(feats)
    # per-speaker mean/var normalisation: each speaker's static part is standardised
    for s in range(2):
        static = np.concatenate([out[k].reshape(len(out[k]), 3, 8)[:, 1, :4]
                                 for k in out if k.startswith(f"spk{s}")])
        np.testing.assert_allclose(static.mean(0), 0.0, atol=1e-4)
        np.testing.assert_allclose(static.std(0), 1.0, atol=1e-4)
    assert out["spk0_u1"].shape == (13, 24)


@pytest.mark.parametrize("opts", ["compute-fbank-feats ark:- ark:-",
                                  "apply-cmvn ark:- ark:- | transform-feats m ark:-"])
def test_unknown_pipe_command_names_section_and_key(opts):
    with pytest.raises(ConfigError) as err:
        parse_fea_opts(opts, section="dataset3")
    assert "[dataset3] fea_opts" in str(err.value)


def test_pieces_sorted_split_and_padded_batches():
    lengths = {"a": 5, "b": 1300, "c": 3, "d": 620}
    pieces = make_pieces(lengths, 500)
    assert [p.length for p in pieces] == sorted(p.length for p in pieces)
    b_pieces = sorted((p for p in pieces if p.utt == "b"), key=lambda p: p.start)
    assert [(p.start, p.end) for p in b_pieces] == [(0, 500), (500, 1000), (1000, 1300)]
    assert sum(p.length for p in pieces) == sum(lengths.values())
    feats = {"f": {u: np.full((n, 2), i + 1, np.float32)
                   for i, (u, n) in enumerate(lengths.items())}}
    labs = {"l": {u: np.arange(n) for u, n in lengths.items()}}
    batches = make_batches(pieces, 2)
    batch = collate(batches[0], feats, labs)
    assert batch.features["f"].shape == (5, 2, 2)
    assert batch.mask.sum() == 8 and batch.frames == 8
    assert torch.all(batch.labels["l"][~batch.mask] == -1)
    assert torch.all(batch.features["f"][~batch.mask] == 0)


def test_pipe_runs_through_kaldi_binaries_when_present(tmp_path, monkeypatch):
    """With KALDI_ROOT set and the commands on PATH, the pipe runs as written (here
    stand-ins: copy-feats dumps the scp, add-deltas doubles every value)."""
    import sys

    feats = _write_data(tmp_path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    copy = (
        f"#!{sys.executable}\nimport sys, kaldiio\n"
        "t = kaldiio.load_scp(sys.argv[1][4:])\n"
        "kaldiio.save_ark(sys.stdout.buffer, {k: t[k] for k in t})\n"
    )
    double = (
        f"#!{sys.executable}\nimport sys, kaldiio\n"
        "d = dict(kaldiio.load_ark(sys.stdin.buffer))\n"
        "kaldiio.save_ark(sys.stdout.buffer, {k: 2 * v for k, v in d.items()})\n"
    )
    for name, text in (("copy-feats", copy), ("add-deltas", double)):
        path = bin_dir / name
        path.write_text(text)
        path.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("KALDI_ROOT", str(tmp_path))
    out = load_features(str(tmp_path / "feats.scp"), "add-deltas ark:- ark:- |", 0, 0)
    assert set(out) == set(feats)
    for utt, x in feats.items():
        np.testing.assert_allclose(out[utt], 2 * x)
