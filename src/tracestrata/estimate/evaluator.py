"""The report of a platform evaluator's scores: a Bernoulli sample inside its filter, read as a design.

A Langfuse evaluator with rate r judges each trace its filter keeps independently with
probability r (`tracestrata.evaluators.sampling_value`): Bernoulli sampling, whose
sample size is random. Inside each stratum h of the policy the filter keeps N_h traces
(counted by the pull) and the evaluator picks n_h of them. Conditional on the realised
n_h, a Bernoulli sample is a simple random sample without replacement of size n_h
(Särndal, Swensson & Wretman 1992, *Model Assisted Survey Sampling*, ch. 3 on Bernoulli
sampling: given its size n_s, a BE sample is an SI sample), so the design is stratified SRSWOR with cells = strata ∩ filter,
population N_h and sample n_h; `tracestrata.evaluators.design` builds exactly
that `Design`, and `build_report` estimates it unchanged:

- per stratum the sample mean (weight N_h / m_h, m_h = the picked traces that have a
  score), variance (1 − m_h/N_h) s_h²/m_h, a Wilson interval on the effective n;
- for the filtered population Σ N_h ȳ_h / Σ N_h, i.e. the Hájek estimator with the
  weights post-stratified to the strata's known sizes (SSW ch. 7, post-stratification), Korn–Graubard for a
  rate. Conditioning on n_h removes the variance of the random sample size that the
  plain Horvitz–Thompson estimator Σ y / r carries, which is why it is preferred.

The estimand is the population the filter keeps: strata (or parts of strata) outside
the filter are never judged, and the report says so instead of extrapolating. Strata
the evaluator starves (fewer than `STARVED_BELOW` scores; none at all is the extreme)
are named with what to do. `tests/simulation/test_evaluator_coverage.py` measures bias,
coverage and width at rate 5%.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from tracestrata.design import Design
from tracestrata.estimate.report import Report, ReportWarning, build_report
from tracestrata.record import Score

#: A stratum with fewer evaluator scores than this gets an `evaluator_starved` warning.
STARVED_BELOW = 10


@dataclass(frozen=True, slots=True)
class StratumScope:
    """One stratum of the window: all its traces, and those the evaluator's filter keeps."""

    stratum: str
    population: int
    in_filter: int


@dataclass(frozen=True)
class EvaluatorScope:
    """What an evaluator could judge in a window: its declaration and the filter's reach by stratum.

    `without_id` counts traces the filter keeps that have no id to hash (an observation
    rule over traces with no root observation id): the evaluator cannot be placed on
    them, so they are outside the design as well.
    """

    name: str
    rate: float
    hashes: str
    filter: str
    population: int
    strata: tuple[StratumScope, ...]
    without_id: int = 0

    @property
    def in_filter(self) -> int:
        return sum(s.in_filter for s in self.strata)

    def to_json(self) -> dict[str, Any]:
        return {
            "evaluator": self.name,
            "rate": self.rate,
            "hashes": self.hashes,
            "filter": self.filter,
            "window_population": self.population,
            "filtered_population": self.in_filter,
            "without_id": self.without_id,
        }


def evaluator_report(
    design: Design,
    scope: EvaluatorScope,
    scores: Iterable[Score],
    *,
    metric: str | None = None,
    **options: Any,
) -> Report:
    """`build_report` over the evaluator's design (metric: the evaluator's score name), with
    warnings for what the estimate does not cover and for starved strata. `options` are
    `build_report`'s keyword arguments."""
    report = build_report(design, scores, metric or scope.name, **options)
    return replace(report, warnings=(*scope_warnings(scope, report), *report.warnings))


def scope_warnings(scope: EvaluatorScope, report: Report) -> list[ReportWarning]:
    """`evaluator_filter` (the estimand is the filtered population; strata outside it are not
    covered), `evaluator_unpicked_scores` (scores the declared design would not have picked:
    ignored, as every score outside a sample is) and `evaluator_starved` (strata inside the
    filter with few or no scores)."""
    out: list[ReportWarning] = []
    details = scope.to_json()
    excluded = [s for s in scope.strata if s.in_filter == 0 and s.population > 0]
    partial = [s for s in scope.strata if 0 < s.in_filter < s.population]
    left_out = scope.population - scope.in_filter
    if left_out > 0:
        share = scope.in_filter / scope.population if scope.population else 0.0
        text = (
            f"evaluator {scope.name!r} judges only traces where {scope.filter}: the estimates cover those "
            f"{scope.in_filter:,} traces ({share:.1%} of the window's {scope.population:,}), not the rest"
        )
        if excluded:
            text += "; not covered at all: " + ", ".join(f"{s.stratum!r} ({s.population:,})" for s in excluded)
        if partial:
            text += f"; {len(partial)} strata are covered only in part (their rows estimate the filtered traces)"
        if scope.without_id:
            text += f"; {scope.without_id:,} filtered traces have no {scope.hashes} id to hash and are left out"
        out.append(ReportWarning("evaluator_filter", text, {
            **details,
            "not_covered": [{"stratum": s.stratum, "population": s.population} for s in excluded],
            "partly_covered": [
                {"stratum": s.stratum, "population": s.population, "in_filter": s.in_filter} for s in partial
            ],
        }))
    outside = next((w for w in report.warnings if w.code == "scores_outside_sample"), None)
    if outside is not None:
        out.append(ReportWarning(
            "evaluator_unpicked_scores",
            f"{outside.details.get('count', 0)} {scope.name!r} scores are on traces the declared rate, filter and "
            f"hashes would not pick: from a backfill or a manual run on chosen rows (not part of the sample), or the "
            "[[evaluator]] declaration differs from the rule",
            {"evaluator": scope.name, "count": outside.details.get("count", 0)},
        ))
    starved = [row for row in report.strata if row.scored < STARVED_BELOW and row.population > 0]
    if starved:
        out.append(ReportWarning(
            "evaluator_starved",
            f"evaluator {scope.name!r} (rate {scope.rate:g}) scored fewer than {STARVED_BELOW} traces in "
            + ", ".join(f"{row.stratum!r} ({row.scored} of {row.population:,})" for row in starved)
            + ": raise its rate, or judge a tracestrata sample of these strata",
            {"evaluator": scope.name, "rate": scope.rate,
             "strata": [{"stratum": r.stratum, "scored": r.scored, "population": r.population} for r in starved]},
        ))
    return out


__all__ = ["STARVED_BELOW", "EvaluatorScope", "StratumScope", "evaluator_report", "scope_warnings"]
