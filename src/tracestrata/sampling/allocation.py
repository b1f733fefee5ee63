"""How many traces to judge per stratum: Wilson targets, budget trimming, Neyman allocation.

Everything here is a pure function of population counts and *expected* rates.
"Expected half-width" means the Wilson half-width evaluated at p-hat = p (the
plug-in value), optionally on the finite-population effective sample size
``n_eff = n (N - 1) / (N - n)`` -- the same "Wilson on the effective sample size"
the report uses, so a stratum sampled in full has half-width 0.

Degenerate rates: a rate of exactly 0 or 1 carries no information about the
spread (the judge has not seen the stratum yet, or the window had no failures),
so it is replaced by `CONSERVATIVE_RATE` = 0.5, the worst case. Callers that know
how the rate was observed should use `observed_rate`, which replaces 0/N and N/N
by the end of the Wilson interval nearest 0.5 -- conservative but not wasteful.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from tracestrata.design import ALL
from tracestrata.errors import ConfigError, InputError
from tracestrata.estimate.intervals import check_confidence, wilson, z_value
from tracestrata.sampling.policy import Policy
from tracestrata.sampling.samplers import allocate_stratum
from tracestrata.sampling.strata import (
    check_strata_count,
    fold,
    stratum_key,
    top_values,
)

CONSERVATIVE_RATE = 0.5
DEFAULT_FLOOR = 30
_MAX_N = 1 << 62


class AllocationMethod(str, Enum):
    """`WILSON`: per-stratum precision (each stratum's own interval <= h).
    `NEYMAN`: precision of the global mean (n_h proportional to N_h S_h)."""

    WILSON = "wilson"
    NEYMAN = "neyman"


@dataclass(frozen=True, slots=True)
class StratumInput:
    stratum: str
    population: int
    rate: float
    failures: int = 0  # traces where a failure signal fires (0: unknown or none)


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


@dataclass(frozen=True, slots=True)
class StratumPlan:
    stratum: str
    population: int
    rate: float  # the rate the plan used (after degenerate-rate handling)
    target: int
    half_width: float | None  # expected Wilson half-width at `target`; None for an empty stratum
    share: float  # target / total of all targets
    trimmed: bool = False  # lowered below its Wilson target to meet the budget
    design_effect: float = 1.0  # of the failure oversampling at `target` (see FailureSplit)


@dataclass(frozen=True, slots=True)
class Plan:
    method: AllocationMethod
    confidence: float
    half_width_goal: float
    budget: int | None
    floor: int
    fpc: bool
    strata: tuple[StratumPlan, ...]
    total: int
    population: int
    global_half_width: float | None  # normal-approximation half-width of the stratified global rate

    def targets(self) -> dict[str, int]:
        return {s.stratum: s.target for s in self.strata}


@dataclass(frozen=True, slots=True)
class StratumCounts:
    """One stratum of a window, as `tracestrata plan` sees it (boost clusters ignored)."""

    stratum: str
    values: Mapping[str, str]
    population: int
    failures: int  # traces where any failure signal fires
    rate_trials: int = 0  # traces with a usable `rate_field` value
    rate_sum: float = 0.0  # the sum of those values (True = 1)

    def failure_rate(self, confidence: float = 0.95) -> float:
        return observed_rate(self.failures, self.population, confidence=confidence)

    def field_rate(self, confidence: float = 0.95) -> float:
        """The mean of `rate_field`; conservative when it is 0, 1 or never seen."""
        if self.rate_trials == 0:
            return CONSERVATIVE_RATE
        mean = self.rate_sum / self.rate_trials
        if 0.0 < mean < 1.0:
            return mean
        return observed_rate(round(self.rate_sum), self.rate_trials, confidence=confidence)


def count_fields(policy: Policy, rate_field: str | None = None) -> tuple[str, ...]:
    """The field paths a count reads: the policy's dimensions and signals, plus `rate_field`."""
    paths = [d.field for d in policy.strata] + [s.condition.field for s in policy.signals]
    if rate_field:
        paths.append(rate_field)
    return tuple(dict.fromkeys(paths))


Tally = dict[tuple[str, ...], list[float]]  # raw labels -> [population, failures, rate trials, rate sum]


def tally_weighted(
    columns: Mapping[str, Sequence[Any]], weights: Sequence[int], policy: Policy, *, rate_field: str | None = None
) -> Tally:
    """Counts per combination of raw labels of rows that each stand for `weights[i]` traces: the groups of a
    `GROUP BY` over the fields `count_fields` names, counted by an engine (DuckDB)."""
    dims = policy.strata
    label_columns = [list(map(d.labeler(), columns[d.field])) for d in dims]
    n = len(weights)
    keys: list[tuple[str, ...]] = list(zip(*label_columns, strict=True)) if dims else [()] * n
    hits = [s.condition.evaluate(columns[s.condition.field]) for s in policy.signals]
    failed: Sequence[bool] = list(map(any, zip(*hits, strict=True))) if hits else [False] * n
    rates = columns[rate_field] if rate_field else None
    tally: Tally = {}
    for i, (labels, failure, weight) in enumerate(zip(keys, failed, weights, strict=True)):
        entry = tally.setdefault(labels, [0, 0, 0, 0.0])
        entry[0] += weight
        if failure:
            entry[1] += weight
        if rates is not None and rate_field and rates[i] is not None:
            entry[2] += weight
            entry[3] += weight * _rate_value(rates[i], rate_field)
    if len(tally) > policy.max_strata:
        distinct = [len({labels[i] for labels in tally}) for i in range(len(dims))]
        check_strata_count(dims, distinct, len(tally), policy.max_strata, source=policy.source)
    return tally


def counts_from_tally(tally: Tally, policy: Policy) -> list[StratumCounts]:
    """Fold rare values into `(other)` with the whole window's counts, as the sampler does."""
    dims = policy.strata
    label_counts: list[Counter[str]] = [Counter() for _ in dims]
    for labels, entry in tally.items():
        for i, label in enumerate(labels):
            label_counts[i][label] += int(entry[0])
    kept = [top_values(label_counts[i], d.top) if d.top is not None else None for i, d in enumerate(dims)]
    merged: dict[tuple[str, ...], list[float]] = {}
    for labels, entry in tally.items():
        folded = tuple(fold(label, k) if k is not None else label for label, k in zip(labels, kept, strict=True))
        into = merged.setdefault(folded, [0, 0, 0, 0.0])
        for i in range(4):
            into[i] += entry[i]
    return strata_counts(merged, policy)


def strata_counts(folded: Mapping[tuple[str, ...], Sequence[float]], policy: Policy) -> list[StratumCounts]:
    """`StratumCounts` from [population, failures, rate trials, rate sum] per folded label tuple, in key order."""
    return [
        StratumCounts(
            stratum=stratum_key(labels) if labels else ALL,
            values=dict(zip(policy.dimensions, labels, strict=True)),
            population=int(entry[0]),
            failures=int(entry[1]),
            rate_trials=int(entry[2]),
            rate_sum=float(entry[3]),
        )
        for labels, entry in sorted(folded.items())
    ]


def _rate_value(value: Any, field: str) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)) and 0.0 <= value <= 1.0:
        return float(value)
    raise InputError(f"expected a boolean or a number in [0, 1] to estimate a rate from, got {value!r}", field=field)


def usable_rate(p: float) -> float:
    """`p` itself when strictly inside (0, 1); the conservative worst case otherwise."""
    if not 0.0 <= p <= 1.0 or math.isnan(p):
        raise ConfigError(f"expected a rate in [0, 1], got {p!r}", field="rate")
    return p if 0.0 < p < 1.0 else CONSERVATIVE_RATE


def observed_rate(successes: int, trials: int, *, confidence: float = 0.95) -> float:
    """A rate observed as `successes / trials`, with 0/N and N/N made conservative.

    For 0 or N successes the point estimate is degenerate; we use the end of the
    Wilson interval for that count that lies nearest 0.5 (its largest plausible
    variance). No trials at all gives `CONSERVATIVE_RATE`.
    """
    if trials < 0 or not 0 <= successes <= max(trials, 0):
        raise ValueError(f"bad counts: {successes} of {trials}")
    if trials == 0:
        return CONSERVATIVE_RATE
    if 0 < successes < trials:
        return successes / trials
    low, high = wilson(successes / trials, trials, confidence=confidence)
    return high if successes == 0 else low


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
    _check_rate(p)
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
    if not 0 < half_width <= 0.5:
        raise ConfigError(f"expected a half-width in (0, 0.5], got {half_width!r}", field="half_width")
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


def trim_to_budget(
    targets: Mapping[str, int], populations: Mapping[str, int], budget: int, *, floor: int = DEFAULT_FLOOR
) -> dict[str, int]:
    """Lower targets until they sum to `budget`, long tail first.

    Strata are taken from the smallest population up (ties by key); each is cut
    down to `min(floor, its target)` before the next is touched, so the big
    strata keep their precision and only the tail widens. Raises `ConfigError`
    when the budget cannot cover the floors.
    """
    if budget < 0:
        raise ConfigError(f"expected a budget >= 0, got {budget}", field="budget")
    if floor < 0:
        raise ConfigError(f"expected a floor >= 0, got {floor}", field="floor")
    out = dict(targets)
    excess = sum(out.values()) - budget
    if excess <= 0:
        return out
    floors = {key: min(floor, n) for key, n in out.items()}
    minimum = sum(floors.values())
    if minimum > budget:
        raise ConfigError(
            f"{budget} is smaller than the floors: {len(out)} strata need at least {minimum} "
            f"(floor {floor}, or the whole stratum when smaller); raise --budget or lower --floor",
            field="budget",
        )
    for key in sorted(out, key=lambda k: (populations.get(k, 0), k)):
        cut = min(excess, out[key] - floors[key])
        out[key] -= cut
        excess -= cut
        if excess == 0:
            break
    return out


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


def plan_for_counts(
    counts: Sequence[StratumCounts],
    policy: Policy,
    *,
    rate: float | None = None,
    rate_field: str | None = None,
    method: AllocationMethod = AllocationMethod.WILSON,
    half_width: float = 0.05,
    confidence: float = 0.95,
    budget: int | None = None,
    floor: int | None = None,
    fpc: bool = True,
    design_effect: bool = True,
) -> tuple[Plan, list[str]]:
    """`tracestrata plan` from a window's counts: the plan, and what the user should hear about it.

    The expected rate of a stratum is `rate`, else the observed mean of `rate_field`, else
    its observed failure rate; the floor defaults to the policy's, then `DEFAULT_FLOOR`;
    with `design_effect` the policy's failure multiplier sizes for the reweighted estimate.
    """
    notes = []
    population = sum(c.population for c in counts)
    if budget is not None and budget >= population:
        notes.append(f"--budget {budget:,} is not below the whole window ({population:,} traces): it has no effect")
    multiplier = policy.multiplier if design_effect else 1.0
    if multiplier != 1.0 and counts and not any(c.failures for c in counts):
        notes.append(
            "no failures counted in the window (or the backend's counters cannot count them): "
            "targets are those of simple random samples"
        )
    plan = plan_allocation(
        [StratumInput(c.stratum, c.population, expected_rate(c, rate, rate_field, confidence), c.failures) for c in counts],
        method=method,
        half_width=half_width,
        confidence=confidence,
        budget=budget,
        floor=floor if floor is not None else (policy.targets.floor if policy.targets.floor is not None else DEFAULT_FLOOR),
        fpc=fpc,
        multiplier=multiplier,
    )
    return plan, notes


def expected_rate(counts: StratumCounts, rate: float | None, rate_field: str | None, confidence: float) -> float:
    """The rate a stratum's target is sized for: given, a field's observed mean, or the observed failure rate."""
    if rate is not None:
        return rate
    if rate_field is not None:
        return counts.field_rate(confidence)
    return counts.failure_rate(confidence)


def plan_allocation(
    strata: Sequence[StratumInput],
    *,
    method: AllocationMethod = AllocationMethod.WILSON,
    half_width: float = 0.05,
    confidence: float = 0.95,
    budget: int | None = None,
    floor: int = DEFAULT_FLOOR,
    fpc: bool = True,
    multiplier: float = 1.0,
) -> Plan:
    """The per-stratum targets for `method`.

    With `multiplier` > 1 (the policy's failure multiplier) and each stratum's
    `failures` known, half-widths are those of the reweighted estimate the sampler's
    failure oversampling gives (`FailureSplit`), not of a simple random sample.

    WILSON: every stratum's own expected half-width <= `half_width`; with a
    binding `budget`, the long tail is trimmed first (`trim_to_budget`).
    NEYMAN: the whole `budget` split n_h ∝ N_h S_h; without a budget, the smallest
    total whose global half-width is <= `half_width`. Floors apply to both.
    """
    check_confidence(confidence)
    if not 0 < half_width <= 0.5:
        raise ConfigError(f"expected a half-width in (0, 0.5], got {half_width!r}", field="half_width")
    if floor < 0:
        raise ConfigError(f"expected a floor >= 0, got {floor}", field="floor")
    if budget is not None and budget < 0:
        raise ConfigError(f"expected a budget >= 0, got {budget}", field="budget")
    seen: set[str] = set()
    for item in strata:
        if item.stratum in seen:
            raise ValueError(f"stratum {item.stratum!r} given twice")
        seen.add(item.stratum)
        if item.population < 0:
            raise ValueError(f"stratum {item.stratum!r}: population must be >= 0")
    if multiplier < 1.0:
        raise ConfigError(f"expected a failure multiplier >= 1, got {multiplier!r}", field="multiplier")
    populations = {s.stratum: s.population for s in strata}
    rates = {s.stratum: usable_rate(s.rate) for s in strata}
    splits = {s.stratum: failure_split(s.population, min(s.failures, s.population), multiplier) for s in strata}
    wilson = {
        k: min(
            n,
            wilson_target(half_width, rates[k], confidence=confidence, population=n if fpc else None, split=splits[k]),
        )
        for k, n in populations.items()
    }

    if method is AllocationMethod.WILSON:
        targets = wilson if budget is None else trim_to_budget(wilson, populations, budget, floor=floor)
    else:
        floors = {k: min(floor, n) for k, n in populations.items()}
        if sum(floors.values()) > (budget if budget is not None else math.inf):
            raise ConfigError(
                f"{budget} is smaller than the floors: {len(floors)} strata need at least "
                f"{sum(floors.values())}; raise --budget or lower --floor",
                field="budget",
            )
        if budget is not None:
            targets = neyman_allocation(populations, rates, budget, floor=floor)
        else:
            targets = _smallest_neyman(populations, rates, half_width, confidence, floor, fpc, splits)

    total = sum(targets.values())
    plans = tuple(
        StratumPlan(
            stratum=k,
            population=populations[k],
            rate=rates[k],
            target=targets[k],
            half_width=(
                wilson_half_width(
                    targets[k],
                    rates[k],
                    confidence=confidence,
                    population=populations[k] if fpc else None,
                    split=splits[k],
                )
                if populations[k] > 0
                else None
            ),
            share=targets[k] / total if total else 0.0,
            trimmed=method is AllocationMethod.WILSON and targets[k] < wilson[k],
            design_effect=splits[k].design_effect(targets[k]) if splits[k] is not None else 1.0,
        )
        for k in (s.stratum for s in strata)
    )
    return Plan(
        method=method,
        confidence=confidence,
        half_width_goal=half_width,
        budget=budget,
        floor=floor,
        fpc=fpc,
        strata=plans,
        total=total,
        population=sum(populations.values()),
        global_half_width=global_half_width(populations, rates, targets, confidence=confidence, fpc=fpc, splits=splits),
    )


def _smallest_neyman(
    populations: Mapping[str, int],
    rates: Mapping[str, float],
    half_width: float,
    confidence: float,
    floor: int,
    fpc: bool,
    splits: Mapping[str, FailureSplit | None],
) -> dict[str, int]:
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


def bisect_first(low: int, high: int, good: Callable[[int], bool]) -> int:
    """Smallest n in (low, high] with good(n), given good(low) is False; `high` when none is."""
    while high - low > 1:
        mid = (low + high) // 2
        if good(mid):
            high = mid
        else:
            low = mid
    return high


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





def _check_rate(p: float) -> None:
    if not 0.0 <= p <= 1.0 or math.isnan(p):
        raise ConfigError(f"expected a rate in [0, 1], got {p!r}", field="rate")


__all__ = [
    "expected_rate",
    "plan_for_counts",
    "strata_counts",
    "CONSERVATIVE_RATE",
    "DEFAULT_FLOOR",
    "AllocationMethod",
    "FailureSplit",
    "Plan",
    "StratumCounts",
    "StratumInput",
    "StratumPlan",
    "Tally",
    "tally_weighted",
    "allocate_proportional",
    "bisect_first",
    "count_fields",
    "counts_from_tally",
    "failure_split",
    "global_half_width",
    "neyman_allocation",
    "observed_rate",
    "plan_allocation",
    "srswor_effective_n",
    "trim_to_budget",
    "usable_rate",
    "wilson_half_width",
    "wilson_target",
]
