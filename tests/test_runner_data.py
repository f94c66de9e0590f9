"""runner/data.py: the chunk normalisation against the formula it implements."""

from __future__ import annotations

import numpy as np

from pytorch_kaldi_snn.runner.data import normalise_chunk


def _stacked(table):
    """Upstream's way: one float64 copy of all frames, numpy's mean and std."""
    stacked = np.concatenate(list(table.values()), axis=0).astype(np.float64)
    mean = stacked.mean(axis=0)
    std = np.maximum(stacked.std(axis=0), 1.0e-8)
    return {u: ((x - mean) / std).astype(np.float32) for u, x in table.items()}


def test_normalise_chunk_equals_the_stacked_statistics_bit_for_bit():
    rng = np.random.default_rng(0)
    table = {f"u{i}": (3 * rng.standard_normal((int(rng.integers(1, 90)), 13)) + 5)
             .astype(np.float32) for i in range(40)}
    table["flat"] = np.zeros((4, 13), np.float32)  # one row of its own order
    got, want = normalise_chunk(table), _stacked(table)
    assert list(got) == list(want)
    for u in table:
        assert got[u].dtype == np.float32
        assert np.array_equal(got[u], want[u])
    frames = np.concatenate(list(got.values()))
    np.testing.assert_allclose(frames.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(frames.std(0), 1, atol=1e-5)


def test_a_constant_feature_is_divided_by_the_floor_not_by_zero():
    table = {"a": np.ones((3, 2), np.float32), "b": np.ones((2, 2), np.float32)}
    got = normalise_chunk(table)
    assert all(np.array_equal(x, np.zeros_like(x)) for x in got.values())
