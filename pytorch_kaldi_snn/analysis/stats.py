"""Small-sample statistics of results over seeds: mean, sd, t-based 95 % CI and the
paired t-test.

For values x_1..x_n (one per seed)::

    mean = sum x_i / n,   sd = sqrt(sum (x_i - mean)^2 / (n - 1))
    CI   = mean -+ t_{1 - a/2, n-1} sd / sqrt(n)          (a = 0.05)

A paired comparison of A and B matched by seed uses d_i = A_i - B_i::

    t = mean(d) / (sd(d) / sqrt(n)),   p = 2 T_{n-1}(-|t|)

with T_nu Student's t CDF. scipy.stats is used when it is importable; otherwise the
CDF comes from the regularised incomplete beta function,

    T_nu(t) = 1 - I_x(nu/2, 1/2) / 2  for t >= 0,   x = nu / (nu + t^2),

evaluated with its continued fraction (Lentz's method), and the quantile by bisection
on the CDF. Both paths are tested against closed forms (nu = 1: 1/2 + atan(t)/pi;
nu = 2: 1/2 + t / (2 sqrt(2 + t^2))) and tabled quantiles.

>>> round(t_ppf(0.975, 2), 4)
4.3027
>>> s = describe([20.0, 22.0, 24.0])
>>> (s.n, s.mean, s.sd, round(s.ci_low, 3), round(s.ci_high, 3))
(3, 22.0, 2.0, 17.032, 26.968)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

CONFIDENCE = 0.95


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, eps = 1e-300, 1e-15
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta function I_x(a, b), 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    ln_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                + a * math.log(x) + b * math.log1p(-x))
    front = math.exp(ln_front)
    # The continued fraction converges fast for x < (a + 1) / (a + b + 2); use the
    # symmetry I_x(a, b) = 1 - I_{1-x}(b, a) on the other side.
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def _t_cdf_own(t: float, df: float) -> float:
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def _t_ppf_own(q: float, df: float) -> float:
    if q == 0.5:
        return 0.0
    if q < 0.5:
        return -_t_ppf_own(1.0 - q, df)
    lo, hi = 0.0, 1.0
    while _t_cdf_own(hi, df) < q:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if _t_cdf_own(mid, df) < q:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


def _scipy_t():
    try:
        from scipy import stats
    except ImportError:
        return None
    return stats.t


def t_cdf(t: float, df: float, *, use_scipy: bool = True) -> float:
    """Student's t CDF T_df(t) (scipy when importable and ``use_scipy``)."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be > 0, not {df}")
    dist = _scipy_t() if use_scipy else None
    return float(dist.cdf(t, df)) if dist is not None else _t_cdf_own(t, df)


def t_ppf(q: float, df: float, *, use_scipy: bool = True) -> float:
    """Quantile of Student's t: the x with T_df(x) = q, 0 < q < 1."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be > 0, not {df}")
    if not 0.0 < q < 1.0:
        raise ValueError(f"quantile level must be in (0, 1), not {q}")
    dist = _scipy_t() if use_scipy else None
    return float(dist.ppf(q, df)) if dist is not None else _t_ppf_own(q, df)


@dataclass(frozen=True)
class Summary:
    """Mean, sample sd and t-based CI of one quantity over seeds (None below n=2)."""

    n: int
    mean: float | None
    sd: float | None
    ci_low: float | None
    ci_high: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def describe(values: Sequence[float], confidence: float = CONFIDENCE) -> Summary:
    """:class:`Summary` of ``values`` (the caller leaves missing values out)."""
    n = len(values)
    if n == 0:
        return Summary(0, None, None, None, None)
    m = math.fsum(values) / n
    if n == 1:
        return Summary(1, m, None, None, None)
    sd = math.sqrt(math.fsum((v - m) ** 2 for v in values) / (n - 1))
    half = t_ppf(0.5 + confidence / 2.0, n - 1) * sd / math.sqrt(n)
    return Summary(n, m, sd, m - half, m + half)


@dataclass(frozen=True)
class Paired:
    """A - B over the seeds both have: mean difference, its CI, t and two-sided p."""

    a: str
    b: str
    seeds: tuple[int, ...]
    diff: Summary
    t: float | None
    p: float | None

    def to_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "seeds": list(self.seeds),
                "n": self.diff.n, "diff_mean": self.diff.mean, "diff_sd": self.diff.sd,
                "ci_low": self.diff.ci_low, "ci_high": self.diff.ci_high,
                "t": self.t, "p": self.p}


def paired(a_name: str, a: Mapping[int, float], b_name: str, b: Mapping[int, float],
           confidence: float = CONFIDENCE) -> Paired:
    """Paired t-test of ``a - b`` over the seeds present in both mappings."""
    seeds = tuple(sorted(set(a) & set(b)))
    d = [a[s] - b[s] for s in seeds]
    summary = describe(d, confidence)
    t = p = None
    if summary.n >= 2:
        # differences of values read with two decimals (8.58 - 8.21, 9.93 - 9.56) are
        # equal up to rounding: a spread below 1e-9 of their size is no spread, else
        # t comes out as ~1e15 and p as ~1e-30
        if summary.sd <= 1e-9 * max(1.0, max(abs(v) for v in d)):
            t = 0.0 if summary.mean == 0 else math.copysign(math.inf, summary.mean)
            p = 1.0 if summary.mean == 0 else 0.0
        else:
            t = summary.mean / (summary.sd / math.sqrt(summary.n))
            p = 2.0 * t_cdf(-abs(t), summary.n - 1)
    return Paired(a_name, b_name, seeds, summary, t, p)
