"""A plan as JSON (`plan --format json`): its shapes, one per kind of plan, and how each is built."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypedDict

from tracestrata.plan.allocation import Plan
from tracestrata.plan.residual import ReviewPlan, SpreadPlan
from tracestrata.sampling.counts import StratumCounts


def sampling_rate(sampled: int, population: int) -> float | None:
    """The share of the traces sampled (None for an empty stratum)."""
    return sampled / population if population else None


class PlanHeadJson(TypedDict):
    """The keys an allocation plan's JSON starts with."""

    method: str
    confidence: float
    half_width: float
    budget: int | None
    floor: int
    fpc: bool
    total: int
    population: int
    sampling_rate: float | None
    global_half_width: float | None


class AllocationStratumJson(TypedDict):
    stratum: str
    values: dict[str, str]
    population: int
    failures: int
    rate: float
    target: int
    sampling_rate: float | None
    half_width: float | None
    design_effect: float
    share: float
    trimmed: bool


class AllocationPlanJson(PlanHeadJson):
    strata: list[AllocationStratumJson]


class SpreadStratumJson(TypedDict):
    stratum: str
    population: int
    judged: int
    plain_sd: float
    residual_sd: float
    target: int
    sampling_rate: float | None
    half_width: float | None
    share: float
    pooled: bool


class SpreadPlanJson(PlanHeadJson):
    plain_total: int | None
    strata: list[SpreadStratumJson]


class ReviewStratumJson(TypedDict):
    stratum: str
    population: int
    judged: int
    reviewed: int
    mean: float
    human_sd: float
    residual_sd: float
    reviews: int
    half_width: float | None
    reachable: bool
    pooled: bool


class ReviewPlanJson(TypedDict):
    method: str
    confidence: float
    half_width: float
    rate: bool
    review_target: int
    strata: list[ReviewStratumJson]


PlanJson = AllocationPlanJson | SpreadPlanJson | ReviewPlanJson


def _json_head(method: str, plan: Plan | SpreadPlan) -> PlanHeadJson:
    return {
        "method": method,
        "confidence": plan.confidence,
        "half_width": plan.half_width_goal,
        "budget": plan.budget,
        "floor": plan.floor,
        "fpc": plan.fpc,
        "total": plan.total,
        "population": plan.population,
        "sampling_rate": sampling_rate(plan.total, plan.population),
        "global_half_width": plan.global_half_width,
    }


def plan_json(plan: Plan, counts: Sequence[StratumCounts]) -> AllocationPlanJson:
    values: Mapping[str, Mapping[str, str]] = {c.stratum: c.values for c in counts}
    failures = {c.stratum: c.failures for c in counts}
    return {
        **_json_head(plan.method.value, plan),
        "strata": [
            {
                "stratum": s.stratum,
                "values": dict(values.get(s.stratum, {})),
                "population": s.population,
                "failures": failures.get(s.stratum, 0),
                "rate": s.rate,
                "target": s.target,
                "sampling_rate": sampling_rate(s.target, s.population),
                "half_width": s.half_width,
                "design_effect": s.design_effect,
                "share": s.share,
                "trimmed": s.trimmed,
            }
            for s in plan.strata
        ],
    }


def spread_json(plan: SpreadPlan, pooled: tuple[str, ...] = ()) -> SpreadPlanJson:
    return {
        **_json_head("residual-neyman", plan),
        "plain_total": plan.plain_total,
        "strata": [
            {"stratum": s.stratum, "population": s.population, "judged": s.judged, "plain_sd": s.plain_sd,
             "residual_sd": s.sd, "target": s.target,
             "sampling_rate": sampling_rate(s.target, s.population), "half_width": s.half_width, "share": s.share,
             "pooled": s.stratum in pooled}
            for s in plan.strata
        ],
    }


def review_json(plan: ReviewPlan, pooled: tuple[str, ...] = ()) -> ReviewPlanJson:
    return {
        "method": "two-phase-reviews",
        "confidence": plan.confidence,
        "half_width": plan.half_width_goal,
        "rate": plan.rate,
        "review_target": plan.target,
        "strata": [
            {"stratum": s.stratum, "population": s.population, "judged": s.judged, "reviewed": s.reviewed,
             "mean": s.mean, "human_sd": s.human_sd, "residual_sd": s.residual_sd, "reviews": s.reviews,
             "half_width": s.half_width, "reachable": s.reachable, "pooled": s.stratum in pooled}
            for s in plan.strata
        ],
    }


__all__ = [
    "AllocationPlanJson",
    "PlanJson",
    "ReviewPlanJson",
    "SpreadPlanJson",
    "plan_json",
    "review_json",
    "sampling_rate",
    "spread_json",
]
