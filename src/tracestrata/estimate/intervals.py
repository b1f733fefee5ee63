"""Confidence intervals for rates and means, including the degenerate cases.

Every function returns `(low, high)` and never raises on edge cases that real
samples produce: p̂ = 0 or 1, n = 0, a variance of 0. The rules for those are
documented per function; `docs/report.md` has the summary.

Korn–Graubard is computed exactly as R's `survey::svyciprop(method = "beta")`
(survey 4.x) so the cross-check in `tests/crosscheck/` can match it to 1e-8:

    n_eff = p̂(1 − p̂) / v̂ · (t_{α/2, n−1} / t_{α/2, df})²
    low   = qbeta(α/2,     n_eff p̂,     n_eff (1 − p̂) + 1)
    high  = qbeta(1 − α/2, n_eff p̂ + 1, n_eff (1 − p̂))

Where R returns NaN (p̂ ∈ {0, 1} or v̂ = 0, so n_eff is 0/0 or ∞) we follow Korn and
Graubard (1998) and SUDAAN/Stata: use the actual number of observations (design
effect 1), still df-adjusted.

A difference of two rates takes Newcombe's (1998) hybrid score interval (his method
10), built from the two rates' own intervals (`newcombe_difference`): it stays inside
[−1, 1] and does not collapse when a group is at 0/n or n/n.
"""

from __future__ import annotations

import math
from enum import Enum
from typing import Any

from tracestrata.errors import ConfigError


def _special() -> Any:
    """scipy.special, imported on first use: 0.2 s that `sample` and `plan` never need.

    Not scipy.stats (1.2 s to import); `special.stdtrit` is its t quantile.
    """
    from scipy import special

    return special


__all__ = [
    "IntervalMethod",
    "clopper_pearson",
    "df_factor",
    "effective_n",
    "korn_graubard",
    "newcombe_difference",
    "t_interval",
    "t_pvalue",
    "wilson",
    "wilson_effective",
    "z_value",
]


class IntervalMethod(str, Enum):
    """How an interval was formed (the value is what reports print)."""

    WILSON = "wilson"
    WILSON_EFFECTIVE = "wilson-effective-n"
    KORN_GRAUBARD = "korn-graubard"
    KORN_GRAUBARD_TRUNCATED = "korn-graubard-truncated"
    CLOPPER_PEARSON = "clopper-pearson"
    NEWCOMBE = "newcombe-hybrid-score"
    T = "t"


def check_confidence(confidence: float) -> float:
    """1 − `confidence` (the α of the interval); `ConfigError` unless 0 < confidence < 1."""
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"expected a confidence in (0, 1), got {confidence!r}", field="confidence")
    return 1.0 - confidence


def z_value(confidence: float) -> float:
    alpha = check_confidence(confidence)
    return float(_special().ndtri(1.0 - alpha / 2.0))


def _clip(low: float, high: float) -> tuple[float, float]:
    return max(0.0, min(1.0, low)), max(0.0, min(1.0, high))


def wilson(p: float, n: float, *, confidence: float = 0.95, continuity: bool = False) -> tuple[float, float]:
    """Wilson score interval for a proportion `p` observed on `n` (may be fractional) trials.

    n = 0 gives the uninformative (0, 1). The continuity-corrected form is Newcombe's
    (1998) method 4; off by default because it over-covers.
    """
    z = z_value(confidence)
    if not n > 0 or math.isnan(p):
        return 0.0, 1.0
    p = min(1.0, max(0.0, p))
    z2 = z * z
    if not continuity:
        denom = 1.0 + z2 / n
        center = (p + z2 / (2.0 * n)) / denom
        half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denom
        low, high = center - half, center + half
        # exact endpoints at the boundaries (the formula's rounding can miss them)
        if p == 0.0:
            low = 0.0
        if p == 1.0:
            high = 1.0
        return _clip(low, high)
    # Wilson's bounds evaluated at p ∓ 1/(2n) (as R's prop.test(correct = TRUE) when |x − n/2| ≥ ½)
    z22n = z2 / (2.0 * n)

    def bound(pc: float, sign: float) -> float:
        return (pc + z22n + sign * z * math.sqrt(pc * (1.0 - pc) / n + z22n / (2.0 * n))) / (1.0 + 2.0 * z22n)

    low = 0.0 if p - 0.5 / n <= 0.0 else bound(p - 0.5 / n, -1.0)
    high = 1.0 if p + 0.5 / n >= 1.0 else bound(p + 0.5 / n, 1.0)
    return min(low, p), max(high, p)


def effective_n(p: float, variance: float, fallback: float) -> float:
    """Design-based effective sample size p̂(1 − p̂)/v̂; `fallback` where that is undefined.

    Undefined means p̂ ∈ {0, 1} or v̂ = 0 (0/0 or ∞): every scored trace agrees within
    its cell, and the design says nothing about the spread, so we fall back to a
    count (the caller passes the plain or Kish effective n).
    """
    if variance > 0.0 and 0.0 < p < 1.0 and math.isfinite(variance):
        return p * (1.0 - p) / variance
    return fallback


def wilson_effective(
    p: float,
    variance: float,
    n: float,
    *,
    confidence: float = 0.95,
    continuity: bool = False,
    cap: float = math.inf,
) -> tuple[float, float]:
    """Wilson interval on the effective sample size p̂(1 − p̂)/v̂ (falls back to `n`), at most `cap`.

    The cap matters: a cell whose scores all agree (50 of 50 correct in a cell whose
    true rate is 97%) estimates no variance, and a stratum whose other cells carry
    little weight then gets a huge effective n and an interval that misses the truth
    (the simulation measured 0.79 coverage without the cap). Callers cap it at what a
    simple random sample of the same size would give, n / (1 − f).
    """
    n_eff = min(effective_n(p, variance, n), cap)
    return wilson(p, n_eff, confidence=confidence, continuity=continuity)


def _beta_ppf(q: float, a: float, b: float) -> float:
    # qbeta with R's conventions at the degenerate shapes: a = 0 is a point mass at 0,
    # b = 0 a point mass at 1.
    if a <= 0.0:
        return 0.0
    if b <= 0.0:
        return 1.0
    value = float(_special().betaincinv(a, b, q))
    if math.isnan(value):  # shapes so large (a variance ~ 0) that the distribution is a point
        return a / (a + b)
    return value


def clopper_pearson(p: float, n: float, *, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (beta) interval for `p` on `n` trials; n may be fractional (an effective n)."""
    alpha = check_confidence(confidence)
    if not n > 0 or math.isnan(p):
        return 0.0, 1.0
    p = min(1.0, max(0.0, p))
    if math.isinf(n):
        return p, p
    x = n * p
    low = _beta_ppf(alpha / 2.0, x, n - x + 1.0)
    high = _beta_ppf(1.0 - alpha / 2.0, x + 1.0, n - x)
    # the exact bounds always bracket p; at huge n (variance ~ 0) the inverse beta loses that
    return min(low, p), max(high, p)


def korn_graubard(
    p: float, variance: float, n: int, df: float, *, confidence: float = 0.95, truncate: bool = False
) -> tuple[float, float]:
    """Korn–Graubard (1998) interval, as R's `svyciprop(method = "beta")`.

    `n` is the number of observations (R's `nrow(design)`), `df` the design degrees of
    freedom (R's `degf(design)`: scored traces minus cells). A df below 1 is taken as 1.
    `truncate` caps the effective n at n (a design effect of at least 1), which R does
    not do: for rare rates a too-small variance estimate otherwise narrows the interval
    (tests/simulation: 0.931 coverage at a 1.8% rate, 0.965 truncated).
    """
    alpha = check_confidence(confidence)
    if n <= 0 or math.isnan(p):
        return 0.0, 1.0
    n_eff = effective_n(p, variance, float(n))
    if truncate:
        n_eff = min(n_eff, float(n))
    return clopper_pearson(p, n_eff / df_factor(n, df, confidence), confidence=confidence)


def df_factor(n: float, df: float, confidence: float = 0.95) -> float:
    """(t_{α/2, df} / t_{α/2, n−1})²: how much a variance on `df` degrees of freedom is worth less
    than one on n − 1 (Korn–Graubard's adjustment of the effective n; 1 for n ≤ 1)."""
    if n <= 1:
        return 1.0
    alpha = check_confidence(confidence)
    df = max(1.0, float(df))
    return float(_special().stdtrit(df, alpha / 2.0) / _special().stdtrit(n - 1, alpha / 2.0)) ** 2


def newcombe_difference(
    a: float,
    a_interval: tuple[float, float],
    b: float,
    b_interval: tuple[float, float],
    *,
    correlation: float = 0.0,
) -> tuple[float, float]:
    """Interval of the rate difference b − a from each rate's own interval (Newcombe 1998, method 10).

        low  = (b − a) − √((b − l_b)² + (u_a − a)² − 2r (b − l_b)(u_a − a))
        high = (b − a) + √((u_b − b)² + (a − l_a)² − 2r (u_b − b)(a − l_a))

    With Wilson intervals on the groups' effective sizes this is the hybrid score
    interval; `correlation` r between the two estimates (0 for independent groups) is
    Zou and Donner's (2008) extension. It lies inside [−1, 1] and is a point only when
    both groups' intervals are. NaN for an empty group.
    """
    if any(math.isnan(x) for x in (a, b, *a_interval, *b_interval)):
        return math.nan, math.nan
    (la, ua), (lb, ub) = a_interval, b_interval
    r = max(-1.0, min(1.0, correlation)) if math.isfinite(correlation) else 0.0
    d = b - a

    def width(x: float, y: float) -> float:
        return math.sqrt(max(0.0, x * x + y * y - 2.0 * r * x * y))

    low = d - width(b - lb, ua - a)
    high = d + width(ub - b, a - la)
    return max(-1.0, min(d, low)), min(1.0, max(d, high))


def t_interval(mean: float, se: float, df: float, *, confidence: float = 0.95) -> tuple[float, float]:
    """mean ± t_{1−α/2, df} · se; df below 1 is taken as 1, se = 0 gives a point."""
    alpha = check_confidence(confidence)
    if math.isnan(mean) or math.isnan(se):
        return math.nan, math.nan
    if se == 0.0:
        return mean, mean
    q = float(_special().stdtrit(max(1.0, float(df)), 1.0 - alpha / 2.0))
    return mean - q * se, mean + q * se


def t_pvalue(estimate: float, se: float, df: float) -> float:
    """Two-sided p-value of estimate = 0 on a t with `df` (below 1 taken as 1); NaN when undefined.

    se = 0 gives 1 for an estimate of 0 and 0 otherwise (every judged trace agrees).
    """
    if math.isnan(estimate) or math.isnan(se):
        return math.nan
    if se == 0.0:
        return 1.0 if estimate == 0.0 else 0.0
    return float(2.0 * _special().stdtr(max(1.0, float(df)), -abs(estimate) / se))
