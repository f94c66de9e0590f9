"""Statistics over seeds (analysis.stats): hand-computed values and the t
distribution of our own code against closed forms and tabled quantiles."""

from __future__ import annotations

import math

import pytest

from pytorch_kaldi_snn.analysis import stats

PATHS = [True, False]  # scipy (installed here) and our own continued fraction


@pytest.mark.parametrize("use_scipy", PATHS)
@pytest.mark.parametrize("t", [-12.0, -2.0, -0.3, 0.0, 0.7, 1.0, 4.0, 50.0])
def test_t_cdf_matches_closed_forms(t: float, use_scipy: bool) -> None:
    # nu = 1 (Cauchy): 1/2 + atan(t)/pi; nu = 2: 1/2 + t / (2 sqrt(2 + t^2))
    assert stats.t_cdf(t, 1, use_scipy=use_scipy) == pytest.approx(
        0.5 + math.atan(t) / math.pi, abs=1e-12)
    assert stats.t_cdf(t, 2, use_scipy=use_scipy) == pytest.approx(
        0.5 + t / (2 * math.sqrt(2 + t * t)), abs=1e-12)


@pytest.mark.parametrize("use_scipy", PATHS)
@pytest.mark.parametrize("df,q975", [(1, 12.7062), (2, 4.3027), (4, 2.7764),
                                     (10, 2.2281), (30, 2.0423)])
def test_t_quantiles_match_the_table(df: int, q975: float, use_scipy: bool) -> None:
    assert stats.t_ppf(0.975, df, use_scipy=use_scipy) == pytest.approx(q975,
                                                                          abs=1e-4)
    assert stats.t_ppf(0.025, df, use_scipy=use_scipy) == pytest.approx(-q975,
                                                                          abs=1e-4)


def test_small_tail_keeps_relative_precision() -> None:
    # nu = 1, t = -1e6: 1/2 + atan(t)/pi = 1/(pi 1e6) to first order
    assert stats.t_cdf(-1e6, 1, use_scipy=False) == pytest.approx(
        1 / (math.pi * 1e6), rel=1e-6)


def test_describe_hand_computed() -> None:
    s = stats.describe([20.0, 22.0, 24.0])
    # mean 22, sd sqrt((4 + 0 + 4) / 2) = 2, half-width 4.302653 * 2 / sqrt(3)
    assert (s.n, s.mean, s.sd) == (3, 22.0, 2.0)
    assert s.ci_low == pytest.approx(22 - 4.968275, abs=1e-5)
    assert s.ci_high == pytest.approx(22 + 4.968275, abs=1e-5)
    one = stats.describe([31.5])
    assert (one.n, one.mean, one.sd, one.ci_low) == (1, 31.5, None, None)
    assert stats.describe([]).mean is None


@pytest.mark.parametrize("use_scipy", PATHS)
def test_paired_t_test_hand_computed(monkeypatch, use_scipy: bool) -> None:
    if not use_scipy:
        monkeypatch.setattr(stats, "_scipy_t", lambda: None)
    a = {1: 30.0, 2: 32.0, 3: 34.0, 4: 50.0}  # seed 4 has no partner: left out
    b = {1: 31.0, 2: 32.0, 3: 36.0}
    p = stats.paired("v2", a, "v1", b)
    # d = (-1, 0, -2): mean -1, sd 1, t = -1 / (1 / sqrt 3) = -sqrt 3, nu = 2
    # p = 2 T_2(-sqrt 3) = 2 (1/2 - sqrt3 / (2 sqrt 5)) = 1 - sqrt(3/5)
    assert p.seeds == (1, 2, 3)
    assert p.diff.mean == -1.0 and p.diff.sd == 1.0
    assert p.t == pytest.approx(-math.sqrt(3))
    assert p.p == pytest.approx(1 - math.sqrt(3 / 5), abs=1e-10)
    assert p.diff.ci_low == pytest.approx(-1 - 4.302653 / math.sqrt(3), abs=1e-5)
    assert p.diff.ci_high == pytest.approx(-1 + 4.302653 / math.sqrt(3), abs=1e-5)
    two = stats.paired("a", {1: 3.0, 2: 5.0}, "b", {1: 2.0, 2: 2.0})
    # d = (1, 3): t = 2 / (sqrt 2 / sqrt 2) = 2, nu = 1: p = 1 - 2 atan(2) / pi
    assert two.p == pytest.approx(1 - 2 * math.atan(2) / math.pi, abs=1e-10)


def test_paired_degenerate_cases() -> None:
    same = stats.paired("a", {1: 1.0, 2: 2.0}, "b", {1: 1.0, 2: 2.0})
    assert (same.t, same.p) == (0.0, 1.0)
    shift = stats.paired("a", {1: 2.0, 2: 3.0}, "b", {1: 1.0, 2: 2.0})
    assert shift.t == math.inf and shift.p == 0.0
    # the benchmark's LSTM - GRU WERs: 3 word errors of 816 each time, equal only up
    # to float rounding of the two-decimal values
    rounded = stats.paired("lstm", {1: 8.58, 2: 9.93, 3: 9.07},
                           "gru", {1: 8.21, 2: 9.56, 3: 8.70})
    assert rounded.diff.mean == pytest.approx(0.37)
    assert rounded.t == math.inf and rounded.p == 0.0
    alone = stats.paired("a", {1: 2.0}, "b", {1: 1.0, 2: 2.0})
    assert alone.diff.n == 1 and alone.p is None
    with pytest.raises(ValueError):
        stats.t_ppf(1.0, 3)
    with pytest.raises(ValueError):
        stats.t_cdf(0.0, 0)
