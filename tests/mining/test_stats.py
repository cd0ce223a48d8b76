import math

import pytest

from ticketing.mining.stats import benjamini_hochberg, binom_cdf, binom_sf, compare_rates, poisson_cdf, poisson_sf


def _poisson_sf_brute(k, mu):
    return 1 - sum(math.exp(-mu) * mu**i / math.factorial(i) for i in range(k))


def _binom_sf_brute(k, n, p):
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))


@pytest.mark.parametrize("k,mu", [(1, 0.3), (3, 0.5), (10, 2.0), (50, 40.0), (40, 50.0), (0, 1.0)])
def test_poisson_tails_match_direct_sums(k, mu):
    assert poisson_sf(k, mu) == pytest.approx(_poisson_sf_brute(k, mu), rel=1e-9, abs=1e-14)
    assert poisson_cdf(k, mu) == pytest.approx(1 - _poisson_sf_brute(k + 1, mu), rel=1e-9, abs=1e-14)


def test_poisson_far_tail_is_tiny_not_zero():
    # the direct sum cancels to 0.0; the incomplete gamma keeps the magnitude (needed for BH ranking)
    assert 0 < poisson_sf(12, 0.05) < 1e-20


@pytest.mark.parametrize("k,n,p", [(3, 10, 0.1), (60, 100, 0.5), (5, 5, 0.3), (1, 1, 0.5), (30, 200, 0.1)])
def test_binomial_tails_match_direct_sums(k, n, p):
    assert binom_sf(k, n, p) == pytest.approx(_binom_sf_brute(k, n, p), rel=1e-9, abs=1e-14)
    assert binom_cdf(k, n, p) == pytest.approx(1 - _binom_sf_brute(k + 1, n, p), rel=1e-9, abs=1e-14)


def test_compare_rates_direction_interval_and_symmetry():
    fell = compare_rates(55, 100)
    assert fell.rate_ratio == pytest.approx(0.55)
    assert fell.ci_low < 0.55 < fell.ci_high < 1
    assert fell.p_value < 0.001
    same = compare_rates(100, 100)
    assert same.p_value == pytest.approx(1.0)
    assert compare_rates(100, 55).p_value == pytest.approx(fell.p_value)
    # exposure: 60 in 30 days vs 60 in 60 days is a doubling
    assert compare_rates(60, 60, 30, 60).rate_ratio == pytest.approx(2.0)
    with pytest.raises(ValueError):
        compare_rates(-1, 3)


def test_benjamini_hochberg():
    q = benjamini_hochberg([0.01, 0.04, 0.03, 0.5])
    assert q == pytest.approx([0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5])
    # untested hypotheses (m larger than the list) make q larger
    assert benjamini_hochberg([0.01], m=100) == [1.0]
    assert benjamini_hochberg([]) == []
