"""How many traces to judge per stratum: the plan built from a window's counts.

Everything here is a pure function of population counts and *expected* rates
(`tracestrata.plan.rates`): Wilson targets per stratum (`plan.wilson`), trimmed to a
budget long tail first (`plan.budget`), or Neyman allocation for the global rate
(`plan.neyman`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from tracestrata.errors import ConfigError
from tracestrata.estimate.intervals import check_confidence
from tracestrata.plan.budget import DEFAULT_FLOOR, check_floors, trim_to_budget
from tracestrata.plan.neyman import global_half_width, neyman_allocation, smallest_neyman
from tracestrata.plan.rates import expected_rate, usable_rate
from tracestrata.plan.wilson import FailureSplit, check_half_width, failure_split, wilson_half_width, wilson_target
from tracestrata.sampling.counts import StratumCounts
from tracestrata.policy.model import Policy


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
class AllocationGoal:
    """What a plan aims at: the method, its precision, and the budget and floor that bound it."""

    method: AllocationMethod = AllocationMethod.WILSON
    half_width: float = 0.05
    confidence: float = 0.95
    budget: int | None = None
    floor: int = DEFAULT_FLOOR
    fpc: bool = True
    multiplier: float = 1.0  # the policy's failure multiplier (1: size for simple random samples)

    def check(self) -> None:
        check_confidence(self.confidence)
        check_half_width(self.half_width)
        if self.floor < 0:
            raise ConfigError(f"expected a floor >= 0, got {self.floor}", field="floor")
        if self.budget is not None and self.budget < 0:
            raise ConfigError(f"expected a budget >= 0, got {self.budget}", field="budget")
        if self.multiplier < 1.0:
            raise ConfigError(f"expected a failure multiplier >= 1, got {self.multiplier!r}", field="multiplier")


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
    if floor is None:
        floor = policy.targets.floor if policy.targets.floor is not None else DEFAULT_FLOOR
    plan = plan_allocation(
        [StratumInput(c.stratum, c.population, expected_rate(c, rate, rate_field, confidence), c.failures) for c in counts],
        method=method,
        half_width=half_width,
        confidence=confidence,
        budget=budget,
        floor=floor,
        fpc=fpc,
        multiplier=multiplier,
    )
    return plan, notes


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
    goal = AllocationGoal(method, half_width, confidence, budget, floor, fpc, multiplier)
    goal.check()
    _check_strata(strata)
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
    targets = _targets(goal, wilson, populations, rates, splits)
    total = sum(targets.values())
    plans = tuple(_stratum_plan(goal, k, populations[k], rates[k], targets[k], wilson[k], splits[k], total)
                  for k in (s.stratum for s in strata))
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


def _check_strata(strata: Sequence[StratumInput]) -> None:
    seen: set[str] = set()
    for item in strata:
        if item.stratum in seen:
            raise ValueError(f"stratum {item.stratum!r} given twice")
        seen.add(item.stratum)
        if item.population < 0:
            raise ValueError(f"stratum {item.stratum!r}: population must be >= 0")


def _targets(
    goal: AllocationGoal,
    wilson: Mapping[str, int],
    populations: Mapping[str, int],
    rates: Mapping[str, float],
    splits: Mapping[str, FailureSplit | None],
) -> dict[str, int]:
    if goal.method is AllocationMethod.WILSON:
        if goal.budget is None:
            return dict(wilson)
        return trim_to_budget(wilson, populations, goal.budget, floor=goal.floor)
    check_floors({k: min(goal.floor, n) for k, n in populations.items()}, goal.budget, goal.floor)
    if goal.budget is not None:
        return neyman_allocation(populations, rates, goal.budget, floor=goal.floor)
    return smallest_neyman(populations, rates, goal.half_width, goal.confidence, goal.floor, goal.fpc, splits)


def _stratum_plan(
    goal: AllocationGoal,
    key: str,
    population: int,
    rate: float,
    target: int,
    wilson: int,
    split: FailureSplit | None,
    total: int,
) -> StratumPlan:
    half_width = (
        wilson_half_width(
            target, rate, confidence=goal.confidence, population=population if goal.fpc else None, split=split
        )
        if population > 0
        else None
    )
    return StratumPlan(
        stratum=key,
        population=population,
        rate=rate,
        target=target,
        half_width=half_width,
        share=target / total if total else 0.0,
        trimmed=goal.method is AllocationMethod.WILSON and target < wilson,
        design_effect=split.design_effect(target) if split is not None else 1.0,
    )


__all__ = [
    "AllocationGoal",
    "AllocationMethod",
    "Plan",
    "StratumInput",
    "StratumPlan",
    "plan_allocation",
    "plan_for_counts",
]
