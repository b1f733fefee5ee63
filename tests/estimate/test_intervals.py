"""Intervals: values pinned against R (prop.test, binom.test), edge cases, invariants."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracestrata.errors import ConfigError
from tracestrata.estimate.intervals import (
    clopper_pearson,
    effective_n,
    korn_graubard,
    t_interval,
    wilson,
    wilson_effective,
)

# R 4.x: prop.test(x, n, correct = FALSE / TRUE)$conf.int and binom.test(x, n)$conf.int
R_VALUES = {
    (81, 263): ((0.255288519878, 0.366209576983), (0.253508682295, 0.368176201043), (0.252736745585, 0.367621922601)),
    (0, 10): ((0.0, 0.277532799863), (0.0, 0.344537218307), (0.0, 0.308497107819)),
    (10, 10): ((0.722467200137, 1.0), (0.655462781693, 1.0), (0.691502892181, 1.0)),
    (1, 50): ((0.003539259272, 0.104954435896), (0.001044888294, 0.120108119892), (0.000506227983, 0.106469545711)),
}


@pytest.mark.parametrize(("x", "n"), list(R_VALUES))
def test_pinned_against_r(x, n):
    plain, cc, exact = R_VALUES[(x, n)]
    assert wilson(x / n, n) == pytest.approx(plain, abs=1e-11)
    assert wilson(x / n, n, continuity=True) == pytest.approx(cc, abs=1e-11)
    assert clopper_pearson(x / n, n) == pytest.approx(exact, abs=1e-11)


def test_wilson_half_ten_by_hand():
    # z = 1.959964: centre 0.5, half-width z·sqrt(0.025 + z²/400)/(1 + z²/10) = 0.263407
    assert wilson(0.5, 10) == pytest.approx((0.236593090513, 0.763406909487), abs=1e-11)


def test_no_data_is_uninformative():
    assert wilson(0.0, 0) == (0.0, 1.0)
    assert clopper_pearson(0.3, 0) == (0.0, 1.0)
    assert korn_graubard(0.3, 0.01, 0, 1) == (0.0, 1.0)


def test_korn_graubard_degenerate_falls_back_to_count():
    # p = 0: variance 0, so n_eff = n (df-adjusted); with df = n − 1 that is plain Clopper–Pearson
    low, high = korn_graubard(0.0, 0.0, 50, 49)
    assert low == 0.0
    assert high == pytest.approx(clopper_pearson(0.0, 50)[1])
    # fewer df than n − 1 shrinks n_eff: a wider interval
    assert korn_graubard(0.0, 0.0, 50, 10)[1] > high
    assert korn_graubard(1.0, 0.0, 50, 49) == pytest.approx((clopper_pearson(1.0, 50)[0], 1.0))


def test_korn_graubard_by_hand():
    # p = 0.1, v = 0.0009 -> n_eff = 100; df = n − 1 -> no adjustment: Clopper–Pearson on 10/100
    assert korn_graubard(0.1, 0.0009, 120, 119) == pytest.approx(clopper_pearson(0.1, 100.0), abs=1e-12)


def test_effective_n_and_wilson_effective():
    assert effective_n(0.2, 0.0016, 7.0) == pytest.approx(100.0)
    assert effective_n(0.0, 0.0, 7.0) == 7.0
    assert effective_n(0.4, 0.0, 7.0) == 7.0
    assert wilson_effective(0.2, 0.0016, 7) == pytest.approx(wilson(0.2, 100.0))


def test_t_interval():
    low, high = t_interval(3.0, 0.5, 7)
    assert high - 3.0 == pytest.approx(0.5 * 2.364624251593, abs=1e-11)  # qt(0.975, 7) from R
    assert low == pytest.approx(6.0 - high)
    assert t_interval(3.0, 0.0, 7) == (3.0, 3.0)
    assert t_interval(3.0, 0.5, 0) == t_interval(3.0, 0.5, 1)


def test_bad_confidence():
    with pytest.raises(ConfigError, match="confidence"):
        wilson(0.5, 10, confidence=1.0)


@given(
    st.integers(min_value=1, max_value=10_000),
    st.floats(min_value=0.0, max_value=1.0),
    st.floats(min_value=0.5, max_value=0.999),
    st.booleans(),
)
def test_wilson_within_unit_interval_and_contains_p(n, frac, confidence, continuity):
    p = round(frac * n) / n
    low, high = wilson(p, n, confidence=confidence, continuity=continuity)
    assert 0.0 <= low <= p <= high <= 1.0


@given(
    st.floats(min_value=0.0, max_value=1.0),
    st.floats(min_value=0.0, max_value=0.05),
    st.integers(min_value=1, max_value=5000),
    st.integers(min_value=0, max_value=5000),
)
def test_korn_graubard_within_unit_interval_and_contains_p(p, variance, n, df):
    low, high = korn_graubard(p, variance, n, df)
    assert 0.0 <= low <= high <= 1.0
    assert low <= p + 1e-12 and p - 1e-12 <= high
    assert not math.isnan(low + high)


def test_korn_graubard_truncated_caps_the_effective_n():
    # v = 0.0004 at p = 0.1 -> n_eff = 225 > n = 100: truncation uses 100 (wider)
    plain = korn_graubard(0.1, 0.0004, 100, 99)
    capped = korn_graubard(0.1, 0.0004, 100, 99, truncate=True)
    assert capped == pytest.approx(clopper_pearson(0.1, 100.0))
    assert capped[0] < plain[0] and capped[1] > plain[1]
    # a design effect above 1 is left alone
    assert korn_graubard(0.1, 0.0018, 100, 99, truncate=True) == korn_graubard(0.1, 0.0018, 100, 99)


def test_wilson_effective_cap():
    # a variance of ~0 would mean n_eff = 1e6; the cap keeps it at 55
    assert wilson_effective(0.98, 1e-8, 50, cap=55.0) == pytest.approx(wilson(0.98, 55.0))
    assert wilson_effective(0.2, 0.0016, 7, cap=1e9) == pytest.approx(wilson(0.2, 100.0))


def test_newcombe_difference_stays_in_range_and_never_collapses():
    from tracestrata.estimate.intervals import newcombe_difference

    for na in (1, 3, 10, 50):
        for nb in (1, 3, 10, 50):
            for xa in sorted({0, 1, na // 2, na}):
                for xb in sorted({0, 1, nb // 2, nb}):
                    pa, pb = xa / na, xb / nb
                    low, high = newcombe_difference(pa, wilson(pa, na), pb, wilson(pb, nb))
                    assert -1.0 <= low <= pb - pa <= high <= 1.0
                    assert high - low > 0.05, (xa, na, xb, nb)
    # Newcombe (1998) table II, example (a): 56/70 vs 48/80 -> 0.0524 to 0.3339
    low, high = newcombe_difference(48 / 80, wilson(48 / 80, 80), 56 / 70, wilson(56 / 70, 70))
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)
    nan = float("nan")
    assert all(math.isnan(x) for x in newcombe_difference(nan, (0.0, 1.0), 0.5, (0.2, 0.8)))
