"""Neyman allocation: n_h proportional to N_h S_h, boxed in per-stratum bounds, and its global half-width."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from tracestrata.errors import ConfigError
from tracestrata.estimate.intervals import z_value
from tracestrata.plan.rates import usable_rate
from tracestrata.plan.wilson import FailureSplit, bisect_first


def allocate_proportional(
    weights: Mapping[str, float], total: int, lower: Mapping[str, int], upper: Mapping[str, int]
) -> dict[str, int]:
    """Integer n_h proportional to `weights`, boxed in [lower, upper], summing to `total`.

    The real-valued solution is clip(lambda * w_h, lo_h, hi_h) with lambda chosen so
    the sum is `total` (a cap or floor hit by one stratum redistributes the rest to
    the others); it is rounded by largest remainder within the bounds.
    """
    keys = sorted(weights)
    lo = {k: int(lower.get(k, 0)) for k in keys}
    hi = {k: int(upper[k]) for k in keys}
    for k in keys:
        lo[k] = min(lo[k], hi[k])
    if total <= sum(lo.values()):
        if total < sum(lo.values()):
            raise ConfigError(
                f"total {total} is smaller than the per-stratum minimums ({sum(lo.values())})", field="budget"
            )
        return dict(lo)
    if total >= sum(hi.values()):
        return dict(hi)

    top = max((w for w in weights.values() if math.isfinite(w)), default=0.0)
    # relative weights; those below 1e-12 of the largest count as zero (keeps lo/w finite)
    weights = {k: (weights[k] / top if top > 0 and weights[k] / top >= 1e-12 else 0.0) for k in keys}
    positive = [k for k in keys if weights[k] > 0]
    if not positive:  # no spread anywhere: share what is left in proportion to the room
        return allocate_proportional({k: float(hi[k] - lo[k]) for k in keys}, total, lo, hi)
    lam = _water_level(
        np.array([weights[k] for k in positive], dtype=float),
        np.array([lo[k] for k in positive], dtype=float),
        np.array([hi[k] for k in positive], dtype=float),
        total - sum(lo[k] for k in keys if weights[k] <= 0),
    )
    real = {k: min(hi[k], max(lo[k], lam * weights[k])) for k in keys}
    return _round_in_bounds(real, total, lo, hi)


def _water_level(w: np.ndarray, lo: np.ndarray, hi: np.ndarray, total: float) -> float:
    """The lambda with sum(clip(lambda * w, lo, hi)) == total, exactly.

    The sum is piecewise linear in lambda with kinks at lo/w and hi/w: find the
    segment that brackets `total`, then solve the linear piece.
    """
    kinks = np.unique(np.concatenate([lo / w, hi / w]))
    filled = np.clip(np.outer(kinks, w), lo, hi).sum(axis=1)
    j = int(np.searchsorted(filled, total))  # first kink whose fill reaches the total
    if j == 0:
        return float(kinks[0])
    left, right = kinks[j - 1], kinks[min(j, len(kinks) - 1)]
    mid = (left + right) / 2
    inside = (lo < mid * w) & (mid * w < hi)
    fixed = np.clip(mid * w, lo, hi)[~inside].sum()
    if not inside.any():
        return float(right)
    return float((total - fixed) / w[inside].sum())


def _round_in_bounds(
    real: Mapping[str, float], total: int, lo: Mapping[str, int], hi: Mapping[str, int]
) -> dict[str, int]:
    out = {k: min(hi[k], max(lo[k], math.floor(v + 1e-9))) for k, v in real.items()}
    remainder = {k: real[k] - out[k] for k in real}
    missing = total - sum(out.values())
    order = sorted(real, key=lambda k: (-remainder[k], k))
    while missing > 0:
        progressed = False
        for k in order:
            if missing == 0:
                break
            if out[k] < hi[k]:
                out[k] += 1
                missing -= 1
                progressed = True
        if not progressed:
            break
    for k in reversed(order):
        if missing >= 0:
            break
        if out[k] > lo[k]:
            out[k] -= 1
            missing += 1
    return out


def neyman_allocation(
    populations: Mapping[str, int], rates: Mapping[str, float], total: int, *, floor: int = 0
) -> dict[str, int]:
    """n_h proportional to N_h sqrt(p_h (1 - p_h)), each within [min(floor, N_h), N_h]."""
    weights = {k: n * math.sqrt(usable_rate(rates[k]) * (1 - usable_rate(rates[k]))) for k, n in populations.items()}
    lower = {k: min(floor, n) for k, n in populations.items()}
    return allocate_proportional(weights, total, lower, dict(populations))


def global_half_width(
    populations: Mapping[str, int],
    rates: Mapping[str, float],
    targets: Mapping[str, int],
    *,
    confidence: float = 0.95,
    fpc: bool = True,
    splits: Mapping[str, FailureSplit | None] | None = None,
) -> float | None:
    """Normal-approximation half-width of the stratified estimate of the overall rate.

    None when a non-empty stratum gets no draws (the global rate is then not
    estimable without assumptions). `splits` adds each stratum's failure oversampling.
    """
    total = sum(populations.values())
    if total == 0:
        return None
    variance = 0.0
    for key, big_n in populations.items():
        if big_n == 0:
            continue
        n = targets.get(key, 0)
        if n == 0:
            return None
        p = usable_rate(rates[key])
        split = (splits or {}).get(key)
        if split is not None:
            factor = split.variance_factor(n, fpc=fpc)
            if math.isinf(factor):
                return None
            variance += (big_n / total) ** 2 * p * (1 - p) * factor
            continue
        correction = (big_n - n) / (big_n - 1) if fpc and big_n > 1 else (0.0 if fpc else 1.0)
        variance += (big_n / total) ** 2 * p * (1 - p) / n * correction
    return z_value(confidence) * math.sqrt(variance)


def smallest_neyman(
    populations: Mapping[str, int],
    rates: Mapping[str, float],
    half_width: float,
    confidence: float,
    floor: int,
    fpc: bool,
    splits: Mapping[str, FailureSplit | None],
) -> dict[str, int]:
    """The Neyman allocation of the smallest total whose global half-width is <= `half_width`."""

    def allocation(total: int) -> dict[str, int]:
        return neyman_allocation(populations, rates, total, floor=floor)

    def good(total: int) -> bool:
        width = global_half_width(populations, rates, allocation(total), confidence=confidence, fpc=fpc, splits=splits)
        return width is not None and width <= half_width

    low = sum(min(floor, n) for n in populations.values())
    high = sum(populations.values())
    if good(low):
        return allocation(low)
    return allocation(bisect_first(low, high, good))


__all__ = ["allocate_proportional", "global_half_width", "neyman_allocation", "smallest_neyman"]
