"""Exact tail probabilities and tests the analyses need, in pure Python (no scipy).

Poisson and binomial tails go through the regularised incomplete gamma and beta functions
(continued fractions, Numerical Recipes ch. 6.2/6.4), accurate to ~1e-12 relative, fast for
counts in the millions.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

_EPS = 1e-15
_TINY = 1e-300
_MAX_ITER = 500


def _gammainc_lower(a: float, x: float) -> float:
    """Regularised lower incomplete gamma P(a, x)."""
    if x <= 0:
        return 0.0
    if x < a + 1:
        term = total = 1.0 / a
        ap = a
        for _ in range(_MAX_ITER):
            ap += 1
            term *= x / ap
            total += term
            if abs(term) < abs(total) * _EPS:
                break
        return total * math.exp(-x + a * math.log(x) - math.lgamma(a))
    return 1.0 - _gammainc_upper_cf(a, x)


def _gammainc_upper_cf(a: float, x: float) -> float:
    """Regularised upper incomplete gamma Q(a, x) by Lentz's continued fraction (x >= a + 1)."""
    b = x + 1 - a
    c = 1 / _TINY
    d = 1 / b
    h = d
    for i in range(1, _MAX_ITER):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = _TINY if abs(d) < _TINY else d
        c = b + an / c
        c = _TINY if abs(c) < _TINY else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < _EPS:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def _gammainc_upper(a: float, x: float) -> float:
    if x <= 0:
        return 1.0
    if x < a + 1:
        return 1.0 - _gammainc_lower(a, x)
    return _gammainc_upper_cf(a, x)


def poisson_sf(k: int, mu: float) -> float:
    """P(X >= k) for X ~ Poisson(mu)."""
    if k <= 0:
        return 1.0
    if mu <= 0:
        return 0.0
    return _gammainc_lower(k, mu)


def poisson_cdf(k: int, mu: float) -> float:
    """P(X <= k)."""
    if k < 0:
        return 0.0
    if mu <= 0:
        return 1.0
    return _gammainc_upper(k + 1, mu)


def _betacf(a: float, b: float, x: float) -> float:
    qab, qap, qam = a + b, a + 1, a - 1
    c = 1.0
    d = 1 - qab * x / qap
    d = _TINY if abs(d) < _TINY else d
    d = 1 / d
    h = d
    for m in range(1, _MAX_ITER):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1 + aa * d
        d = _TINY if abs(d) < _TINY else d
        c = 1 + aa / c
        c = _TINY if abs(c) < _TINY else c
        d = 1 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1 + aa * d
        d = _TINY if abs(d) < _TINY else d
        c = 1 + aa / c
        c = _TINY if abs(c) < _TINY else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < _EPS:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    ln_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1) / (a + b + 2):
        return math.exp(ln_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(ln_front) * _betacf(b, a, 1 - x) / b


def binom_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    return betainc(k, n - k + 1, p)


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k)."""
    return 1.0 - binom_sf(k + 1, n, p)


def _beta_ppf(q: float, a: float, b: float) -> float:
    """Inverse of I_x(a, b) in x, by bisection (60 halvings: exact to double precision)."""
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if betainc(a, b, mid) < q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


@dataclass
class RateComparison:
    current: int
    previous: int
    current_exposure: float
    previous_exposure: float
    rate_ratio: float | None        # (current / exposure) / (previous / exposure)
    ci_low: float | None
    ci_high: float | None
    p_value: float                  # two-sided exact conditional test


def compare_rates(current: int, previous: int, current_exposure: float = 1.0, previous_exposure: float = 1.0,
                  confidence: float = 0.95) -> RateComparison:
    """Two Poisson counts: given their sum, `current` ~ Binomial(n, t1/(t1+t2)) under equal rates.

    Exact conditional test (Przyborowski-Wilenski) with a Clopper-Pearson interval turned into a
    rate-ratio interval.
    """
    if current < 0 or previous < 0 or current_exposure <= 0 or previous_exposure <= 0:
        raise ValueError("counts must be >= 0 and exposures > 0")
    n = current + previous
    w = previous_exposure / current_exposure
    if n == 0:
        return RateComparison(current, previous, current_exposure, previous_exposure, None, None, None, 1.0)
    p0 = current_exposure / (current_exposure + previous_exposure)
    lower = binom_cdf(current, n, p0)
    upper = binom_sf(current, n, p0)
    p_value = min(1.0, 2 * min(lower, upper))
    alpha = 1 - confidence
    lo_p = 0.0 if current == 0 else _beta_ppf(alpha / 2, current, n - current + 1)
    hi_p = 1.0 if current == n else _beta_ppf(1 - alpha / 2, current + 1, n - current)
    ratio = None if previous == 0 else (current / current_exposure) / (previous / previous_exposure)

    def to_ratio(p: float) -> float | None:
        return None if p >= 1 else p / (1 - p) * w

    return RateComparison(current, previous, current_exposure, previous_exposure, ratio, to_ratio(lo_p),
                          to_ratio(hi_p), p_value)


def benjamini_hochberg(p_values: list[float], m: int | None = None) -> list[float]:
    """BH-adjusted q-values, in input order. `m` > len(p_values) counts untested (p = 1) hypotheses
    too, e.g. every street x category cell when only the non-empty ones were scored."""
    m = max(m or 0, len(p_values))
    if not p_values:
        return []
    order = sorted(range(len(p_values)), key=p_values.__getitem__)
    q = [1.0] * len(p_values)
    running = 1.0
    for rank in range(len(order), 0, -1):
        i = order[rank - 1]
        running = min(running, p_values[i] * m / rank)
        q[i] = min(1.0, running)
    return q
