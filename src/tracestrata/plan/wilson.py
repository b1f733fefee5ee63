"""Wilson targets: how many draws give a stratum's interval the wanted half-width.

"Expected half-width" means the Wilson half-width evaluated at p-hat = p (the
plug-in value), optionally on the finite-population effective sample size
``n_eff = n (N - 1) / (N - n)`` -- the same "Wilson on the effective sample size"
the report uses, so a stratum sampled in full has half-width 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from tracestrata.errors import ConfigError
from tracestrata.estimate.intervals import z_value
from tracestrata.plan.rates import check_rate, usable_rate
from tracestrata.sampling.cell_allocation import allocate_stratum

_MAX_N = 1 << 62


@dataclass(frozen=True, slots=True)
class FailureSplit:
    """How the sampler splits a stratum's draws between its failure and non-failure cells.

    `failures` of the stratum's `population` traces are failures, each `multiplier`
    times as likely to be drawn as a non-failure (`allocate_stratum`). The stratum's
    estimate reweights the two cells, which costs precision when the judged rate is
    the same in both (Kish's design effect of unequal weights). When failures are
    judged wrong far more often, which is the point of oversampling them, the real
    design effect is smaller. So the plan is conservative.
    """

    population: int
    failures: int
    multiplier: float

    def variance_factor(self, n: int, *, fpc: bool) -> float:
        """V with Var(estimate) = p (1 - p) V for n draws at a common rate p (inf if a cell gets none)."""
        k_f, k_n = allocate_stratum(n, self.failures, self.population - self.failures, self.multiplier)
        factor = 0.0
        for size, k in ((self.failures, k_f), (self.population - self.failures, k_n)):
            if size == 0:
                continue
            if k == 0:
                return math.inf
            correction = ((size - k) / (size - 1) if size > 1 else 0.0) if fpc else 1.0
            factor += (size / self.population) ** 2 * correction / k
        return factor

    def effective_n(self, n: int, *, fpc: bool) -> float:
        """The n of a simple random sample (without FPC) as precise as these n draws."""
        if n == 0:
            return 0.0
        factor = self.variance_factor(n, fpc=fpc)
        return math.inf if factor == 0 else 1.0 / factor

    def design_effect(self, n: int) -> float:
        """n / effective n, without the finite-population correction (1 = simple random sampling)."""
        return n / self.effective_n(n, fpc=False) if n else 1.0


def failure_split(population: int, failures: int, multiplier: float) -> FailureSplit | None:
    """The split when it changes anything: oversampling, and both cells non-empty."""
    if multiplier == 1.0 or not 0 < failures < population:
        return None
    return FailureSplit(population, failures, multiplier)


def srswor_effective_n(n: int, population: int | None) -> float:
    """`n` under SRSWOR from `population`, as the n of an infinite-population sample with the same variance."""
    if population is None:
        return float(n)
    if n >= population:
        return math.inf
    if population <= 1:
        return float(n)
    return n * (population - 1) / (population - n)


def wilson_half_width(
    n: int, p: float, *, confidence: float = 0.95, population: int | None = None, split: FailureSplit | None = None
) -> float:
    """Half-width of the Wilson interval with `n` draws when p-hat = `p`.

    With `population` set, the finite-population correction is applied through the
    effective sample size, so `n == population` gives 0. With `split`, the n draws
    are divided between failure and non-failure cells as the sampler does, and the
    effective sample size is that of the reweighted estimate.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if population is not None and n > population:
        raise ValueError(f"n={n} exceeds the population {population}")
    check_rate(p)
    z = z_value(confidence)
    if n == 0:  # no draws: the interval is all of [0, 1]
        return 0.5 if population != 0 else 0.0
    m = srswor_effective_n(n, population) if split is None else split.effective_n(n, fpc=population is not None)
    if m == 0:  # a cell without draws: nothing is known about it
        return 0.5
    if math.isinf(m):
        return 0.0
    z2 = z * z
    return z * math.sqrt(p * (1 - p) * m + z2 / 4) / (m + z2)


def check_half_width(half_width: float) -> None:
    """A `ConfigError` unless `half_width` is in (0, 0.5]."""
    if not 0 < half_width <= 0.5:
        raise ConfigError(f"expected a half-width in (0, 0.5], got {half_width!r}", field="half_width")


def wilson_target(
    half_width: float,
    p: float,
    *,
    confidence: float = 0.95,
    population: int | None = None,
    split: FailureSplit | None = None,
) -> int:
    """The smallest n whose expected Wilson half-width is <= `half_width` (never above `population`).

    The half-width decreases in n for every p (and so does it with the FPC), so
    a bisection on integers finds the exact smallest n. With a `split`, the integer
    rounding of the cells can make it wiggle by a draw; the n found always meets the goal.
    """
    check_half_width(half_width)
    p = usable_rate(p)
    if population is not None:
        if population < 0:
            raise ValueError(f"population must be >= 0, got {population}")
        if population == 0:
            return 0

    def ok(n: int) -> bool:
        return wilson_half_width(n, p, confidence=confidence, population=population, split=split) <= half_width

    high = 1
    limit = population if population is not None else (split.population if split is not None else _MAX_N)
    while high < limit and not ok(high):
        high = min(limit, high * 2)
    if not ok(high):  # without the FPC a small population may not reach the goal: take all
        return high
    low = high // 2 if high > 1 else 0  # ok(low) is False or low == 0
    return max(bisect_first(low, high, ok), 1)


def bisect_first(low: int, high: int, good: Callable[[int], bool]) -> int:
    """Smallest n in (low, high] with good(n), given good(low) is False; `high` when none is."""
    while high - low > 1:
        mid = (low + high) // 2
        if good(mid):
            high = mid
        else:
            low = mid
    return high


__all__ = [
    "FailureSplit",
    "bisect_first",
    "check_half_width",
    "failure_split",
    "srswor_effective_n",
    "wilson_half_width",
    "wilson_target",
]
