"""What a judged sample says about the whole population: the report behind `tracestrata report`.

`build_report(design, scores, metric)` joins the scores to the design's sampled
traces and returns a `Report`: the global stratified estimate with its interval, the
naive unweighted mean beside it, one row per reporting stratum, an optional
two-group comparison, and warnings for everything that was not used as-is (nothing
is dropped silently). `Report.to_json()` is the documented, stable schema
(docs/report.md); `tracestrata.estimate.render` turns a report into Markdown or HTML.

Score values decide the kind of metric: booleans (or numbers that are all 0/1) are a
*rate*, other numbers a *mean*, strings a *categorical* label, reported as one rate
per label (`Report.labels`).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from typing import TypeAlias

from tracestrata.design import ALL, Cell, Design
from tracestrata.errors import EstimationError
from tracestrata.estimate.assisted import Assisted, ProxyKind, ProxySpec, assist, parse_proxy
from tracestrata.estimate.estimators import (
    Estimate,
    LonelyCell,
    ScoredFrame,
    StratifiedEstimator,
    UnequalFrame,
    naive_estimate,
)
from tracestrata.estimate.intervals import IntervalMethod, check_confidence, newcombe_difference, t_pvalue
from tracestrata.estimate.multiplicity import benjamini_hochberg
from tracestrata.estimate.proxy import Tuning
from tracestrata.estimate.review_coverage import ReviewCoverage, review_coverage
from tracestrata.record import MAX_SCORE, JSONValue, Score, ScoreValue


__all__ = [
    "Comparison",
    "Delta",
    "MetricKind",
    "Report",
    "ReportWarning",
    "StratumRow",
    "build_report",
    "format_p",
    "format_value",
]

EXAMPLES = 5  # ids quoted in a warning


def format_value(x: float | None, rate: bool, *, signed: bool = False) -> str:
    """A number as every report shows it: rates in %, rate differences in percentage points."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if signed:
        return f"{x * 100:+.1f} pp" if rate else f"{x:+.3f}"
    return f"{x * 100:.1f}%" if rate else f"{x:.3f}"


def format_p(p: float | None) -> str:
    """A p-value as reports show it: 3 significant digits, "< 0.001" below that."""
    if p is None or math.isnan(p):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3g}"


ReportJSON: TypeAlias = "dict[str, JSONValue]"
"""A part of the report's JSON (its schema: docs/report.md)."""


class MetricKind(str, Enum):
    RATE = "rate"
    MEAN = "mean"
    CATEGORICAL = "categorical"


@dataclass(frozen=True)
class ReportWarning:
    """Something the report did not use as-is. `code` is stable; `details` are JSON-ready."""

    code: str
    message: str
    details: Mapping[str, JSONValue] = field(default_factory=dict)

    def to_json(self) -> ReportJSON:
        return {"code": self.code, "message": self.message, **self.details}


@dataclass(frozen=True)
class StratumRow:
    stratum: str
    values: Mapping[str, str]
    population: int
    sampled: int
    scored: int
    estimate: Estimate
    plain: Estimate | None = None  # with --proxy: the plain estimate; `estimate` is the assisted one
    proxy: Assisted | None = None
    analytic: Estimate | None = None  # `estimate` without the finite-population correction (what rows show)
    plain_analytic: Estimate | None = None  # with --proxy: `plain` without it

    @property
    def unscored(self) -> int:
        return self.sampled - self.scored

    @property
    def census(self) -> bool:
        """Every trace of the stratum judged: its descriptive interval is a point."""
        return self.population > 0 and self.scored >= self.population

    @property
    def shown(self) -> Estimate:
        """The interval a stratum row shows: analytic (the slice's rate, see docs/report.md)."""
        return self.analytic if self.analytic is not None else self.estimate

    @property
    def plain_shown(self) -> Estimate:
        if self.plain_analytic is not None:
            return self.plain_analytic
        return self.plain if self.plain is not None else self.shown

    def to_json(self) -> ReportJSON:
        out: ReportJSON = {
            "stratum": self.stratum,
            "values": dict(self.values),
            "population": self.population,
            "sampled": self.sampled,
            "scored": self.scored,
            "mean": _num(self.estimate.mean),
            "ci_low": _num(self.estimate.ci_low),
            "ci_high": _num(self.estimate.ci_high),
            "unscored": self.unscored,
            "se": _num(self.estimate.se),
            "method": self.proxy.method if self.proxy is not None else self.estimate.method.value,
            "covered_population": _num(self.estimate.population),
            "census": self.census,
        }
        if self.analytic is not None:
            out["analytic"] = _interval_json(self.analytic)
        if self.plain is not None and self.proxy is not None:
            p = self.plain
            out["plain"] = {"mean": _num(p.mean), "ci_low": _num(p.ci_low), "ci_high": _num(p.ci_high),
                            "scored": p.n_scored, "se": _num(p.se), "method": p.method.value}
            if self.plain_analytic is not None:
                out["plain"]["analytic"] = _interval_json(self.plain_analytic)
            out["proxy"] = self.proxy.to_json()
        return out


MIN_COMPARE_SCORED = 10
"""Judged traces each group needs in a scope before its delta can be flagged as a move."""


@dataclass(frozen=True)
class Delta:
    """Group B minus group A inside one scope (the population, or one stratum).

    The interval of a rate delta is Newcombe's hybrid score interval on the two groups'
    own intervals; of a mean delta, t on the joint linearization. A scope where a group
    has fewer than `MIN_COMPARE_SCORED` judged traces is shown but never `significant`.
    Every interval is analytic (no finite-population correction): a comparison asks
    about the process, not about this window's traces. `p_value` is the t test of the
    linearized delta; a stratum's `p_adjusted` (Benjamini–Hochberg over the strata
    tested) decides whether it `significant`ly moved; the global delta is one test and
    keeps its interval.
    """

    scope: str
    a: Estimate
    b: Estimate
    delta: float
    se: float
    ci_low: float
    ci_high: float
    method: IntervalMethod = IntervalMethod.T
    p_value: float = math.nan
    p_adjusted: float | None = None  # a stratum: BH over the strata tested; None: the global delta

    @property
    def too_few(self) -> bool:
        return min(self.a.n_scored, self.b.n_scored) < MIN_COMPARE_SCORED

    @property
    def excludes_zero(self) -> bool:
        return not math.isnan(self.ci_low) and (self.ci_low > 0.0 or self.ci_high < 0.0)

    @property
    def tested(self) -> bool:
        """Counted in the stratum-level multiple test: enough judged traces and a p-value."""
        return not self.too_few and not math.isnan(self.p_value)

    @property
    def significant(self) -> bool:
        if self.too_few:
            return False
        if self.p_adjusted is None:
            return self.excludes_zero
        return not math.isnan(self.p_adjusted) and self.p_adjusted <= 1.0 - self.a.confidence

    def to_json(self) -> ReportJSON:
        def group(e: Estimate) -> ReportJSON:
            return {"mean": _num(e.mean), "ci_low": _num(e.ci_low), "ci_high": _num(e.ci_high),
                    "n_scored": e.n_scored}

        return {
            "scope": self.scope,
            "a": group(self.a),
            "b": group(self.b),
            "delta": _num(self.delta),
            "se": _num(self.se),
            "ci_low": _num(self.ci_low),
            "ci_high": _num(self.ci_high),
            "method": self.method.value,
            "significant": self.significant,
            "too_few": self.too_few,
            "p_value": _num(self.p_value),
            "p_adjusted": _num(self.p_adjusted),
        }


@dataclass(frozen=True)
class Comparison:
    """`--compare FIELD`: two groups (A, B), the global delta B − A and one per stratum.

    Flags: `masked` when the global delta's interval holds 0 but some stratum moved
    (its Benjamini–Hochberg adjusted p-value at most 1 − confidence: a real move hidden
    by the mix); `simpson` when a stratum moved in the opposite direction of a
    significant global delta. `tested`: the strata in the multiple test.
    """

    field: str
    a: str
    b: str
    overall: Delta
    strata: tuple[Delta, ...]
    flags: tuple[str, ...]

    @property
    def tested(self) -> int:
        return sum(d.tested for d in self.strata)

    def to_json(self) -> ReportJSON:
        return {
            "field": self.field,
            "groups": [self.a, self.b],
            "delta": "b - a",
            "global": self.overall.to_json(),
            "strata": [d.to_json() for d in self.strata],
            "flags": list(self.flags),
            "interval": "analytic",
            "multiple_testing": {"method": "benjamini-hochberg", "fdr": _num(1.0 - self.overall.a.confidence),
                                 "strata_tested": self.tested},
        }


@dataclass(frozen=True)
class Report:
    metric: str
    kind: MetricKind
    confidence: float
    estimate: Estimate
    naive: Estimate
    strata: tuple[StratumRow, ...]
    warnings: tuple[ReportWarning, ...]
    population: int
    lonely: LonelyCell = LonelyCell.ADJUST
    comparison: Comparison | None = None
    labels: Mapping[str, Report] | None = None  # categorical: one rate report per label
    plain: Estimate | None = None  # with a proxy: today's estimate; `estimate` is the assisted one
    proxy: Assisted | None = None
    analytic: Estimate | None = None  # `estimate` without the finite-population correction
    plain_analytic: Estimate | None = None  # with a proxy: `plain` without it
    review: ReviewCoverage | None = None  # how much of the `[review]` subsample has the metric

    def to_json(self) -> ReportJSON:
        """The documented schema (docs/report.md). A categorical metric nests one full
        rate report per label under `labels` and leaves the top-level estimate to them."""
        out: ReportJSON = {
            "metric": self.metric,
            "kind": self.kind.value,
            "confidence": self.confidence,
            "population": self.population,
            "lonely_cell_policy": self.lonely.value,
        }
        if self.labels is not None:
            out["labels"] = {label: sub.to_json() for label, sub in self.labels.items()}
        else:
            e, n = self.estimate, self.naive
            estimate = out["estimate"] = _estimate_json(e)
            if self.analytic is not None:
                estimate["analytic"] = _interval_json(self.analytic)
            if self.proxy is not None and self.plain is not None:
                estimate["method"] = self.proxy.method
                plain = out["plain"] = _estimate_json(self.plain)
                if self.plain_analytic is not None:
                    plain["analytic"] = _interval_json(self.plain_analytic)
                out["proxy"] = self.proxy.to_json()
            out["naive"] = {
                "mean": _num(n.mean),
                "ci_low": _num(n.ci_low),
                "ci_high": _num(n.ci_high),
                "n_scored": n.n_scored,
                "method": n.method.value,
            }
            out["strata"] = [row.to_json() for row in self.strata]
            if self.comparison is not None:
                out["compare"] = self.comparison.to_json()
        if self.review is not None:
            out["review"] = self.review.to_json()
        out["warnings"] = [w.to_json() for w in self.warnings]
        return out


def _estimate_json(e: Estimate) -> ReportJSON:
    return {
        "mean": _num(e.mean),
        "ci_low": _num(e.ci_low),
        "ci_high": _num(e.ci_high),
        "n_scored": e.n_scored,
        "method": e.method.value,
        "se": _num(e.se),
        "df": _num(e.df),
        "covered_population": _num(e.population),
        "covered_share": _num(e.covered_share),
    }


def _interval_json(e: Estimate) -> ReportJSON:
    """An analytic interval: no finite-population correction (docs/report.md "Descriptive and analytic")."""
    return {"se": _num(e.se), "ci_low": _num(e.ci_low), "ci_high": _num(e.ci_high), "method": e.method.value,
            "df": _num(e.df)}


def _num(x: float | None) -> float | None:
    """JSON has no NaN: an undefined number is null."""
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def check_magnitudes(values: dict[str, float], what: str) -> None:
    """Scores (or proxies) from a backend are checked where they enter the estimate: finite and
    within ±MAX_SCORE, so no sum of squares overflows and every interval stays finite."""
    for trace_id, value in values.items():
        if not (math.isfinite(value) and abs(value) <= MAX_SCORE):
            raise EstimationError(
                f"{what} of trace {trace_id!r} is {value!r}: expected a finite number within ±{MAX_SCORE:g}",
                field="metric",
            )


def build_report(
    design: Design,
    scores: Iterable[Score],
    metric: str,
    *,
    confidence: float = 0.95,
    compare: str | None = None,
    lonely: LonelyCell = LonelyCell.ADJUST,
    rate_interval: IntervalMethod = IntervalMethod.KORN_GRAUBARD,
    proxy: str | None = None,
    tuning: Tuning = Tuning.POOLED,
) -> Report:
    """The report for `metric` (see the module docstring); raises `EstimationError` when
    the scores name other metrics but not this one, or mix labels with numbers.

    `proxy` makes `estimate` the proxy-assisted one (`plain` keeps today's): a field
    path known on every trace (`scores.heuristic`, totals in the manifest), or
    `score:NAME`, a judge score that calibrates `metric` (human labels on a review
    subsample) by the two-phase estimator. See `tracestrata.estimate.proxy`.

    `rate_interval` is the global interval of a rate: Korn–Graubard as R computes it, or
    `KORN_GRAUBARD_TRUNCATED` (effective n capped at n), safer for rare rates."""
    if rate_interval not in (IntervalMethod.KORN_GRAUBARD, IntervalMethod.KORN_GRAUBARD_TRUNCATED):
        raise EstimationError(f"expected a Korn–Graubard method, got {rate_interval.value!r}", field="rate_interval")
    check_confidence(confidence)
    all_scores = list(scores)
    mine = [s for s in all_scores if s.name == metric]
    if not mine and all_scores:
        names = ", ".join(sorted({s.name for s in all_scores}))
        raise EstimationError(f"no score named {metric!r} (the scores have: {names})", field="metric")
    warnings: list[ReportWarning] = []
    in_sample, coverage = _scored_sample(design, mine, metric, warnings)
    kind = _kind(metric, in_sample.values())
    if kind is MetricKind.CATEGORICAL:
        if proxy is not None:
            raise EstimationError("a proxy needs a numeric or boolean metric, not labels", field="proxy")
        return _categorical_report(design, in_sample, metric, confidence, compare, lonely, warnings, rate_interval,
                                   coverage)
    values = {tid: float(v) for tid, v in in_sample.items()}
    check_magnitudes(values, f"score {metric!r}")
    spec = parse_proxy(proxy) if proxy is not None else None
    if spec is not None and spec.kind is ProxyKind.JUDGE:  # both columns on the same labels: the review draw's
        values, off_review = _in_review(design, values)
        if off_review is not None:
            warnings.append(off_review)
    report = _numeric_report(design, values, metric, kind, confidence, compare, lonely, warnings, rate_interval)
    report = replace(report, review=coverage)
    if spec is None:
        return report
    judge = None
    if spec.kind is ProxyKind.FIELD:
        sparse = _sparse_proxy(design, spec.name)
        if sparse is not None:  # more variance than it removes: the plain estimate, said so
            return replace(report, warnings=(*report.warnings, sparse))
    if spec.kind is ProxyKind.JUDGE:
        judge = _judge_scores(all_scores, spec.name, {u.trace_id for u in design.units})
    return _with_proxy(report, design, values, spec, judge, kind, confidence, lonely, rate_interval, tuning)


def _scored_sample(
    design: Design, mine: list[Score], metric: str, warnings: list[ReportWarning]
) -> tuple[dict[str, ScoreValue], ReviewCoverage | None]:
    """The latest `metric` score of each sampled trace, and how it covers the review subsample;
    scores outside the sample, no score at all and uneven review coverage are warned about."""
    latest = _latest_per_trace(mine, warnings)
    sampled_ids = {u.trace_id for u in design.units}
    outside = [tid for tid in latest if tid not in sampled_ids]
    if outside:
        warnings.append(ReportWarning(
            "scores_outside_sample",
            f"{len(outside)} scores are for traces not in the sample; ignored",
            {"count": len(outside), "examples": sorted(outside)[:EXAMPLES]},
        ))
    in_sample = {tid: v for tid, v in latest.items() if tid in sampled_ids}
    if not in_sample:
        warnings.append(ReportWarning("no_scores", f"no sampled trace has a {metric!r} score", {}))
    coverage = review_coverage(design, in_sample)
    if coverage is not None and coverage.uneven:
        shares = ", ".join(f"{k} {lab}/{rev}" for k, (lab, rev) in sorted(coverage.by_stratum.items()))
        warnings.append(ReportWarning(
            "uneven_review_coverage",
            f"labels cover the review subsample unevenly across strata ({shares}): reviewers picked by stratum, "
            "so 'missing at random within cells' is doubtful; label the whole subsample",
            coverage.to_json(),
        ))
    return in_sample, coverage


def _categorical_report(
    design: Design,
    in_sample: dict[str, ScoreValue],
    metric: str,
    confidence: float,
    compare: str | None,
    lonely: LonelyCell,
    warnings: list[ReportWarning],
    rate_interval: IntervalMethod,
    coverage: ReviewCoverage | None,
) -> Report:
    """A label metric: one rate report per label under `labels`."""
    labels = sorted({str(v) for v in in_sample.values()})
    subs = {}
    for label in labels:
        values = {tid: float(v == label) for tid, v in in_sample.items()}
        subs[label] = _numeric_report(design, values, f"{metric}={label}", MetricKind.RATE, confidence,
                                      compare, lonely, list(warnings), rate_interval)
    base = _numeric_report(design, {tid: 0.0 for tid in in_sample}, metric, MetricKind.RATE, confidence,
                           None, lonely, warnings, rate_interval)
    return Report(metric, MetricKind.CATEGORICAL, confidence, base.estimate, base.naive, base.strata, base.warnings,
                  base.population, lonely, None, subs, review=coverage)


def _judge_scores(all_scores: list[Score], name: str, sampled_ids: set[str]) -> dict[str, float]:
    """`score:NAME`'s judge scores on the sampled traces (the two-phase proxy)."""
    judged = _latest_per_trace([s for s in all_scores if s.name == name], [])
    if not judged:
        raise EstimationError(f"no score named {name!r} to use as the proxy", field="proxy")
    if any(isinstance(v, str) for v in judged.values()):
        raise EstimationError(f"the judge score {name!r} has labels, not numbers", field="proxy")
    judge = {tid: float(v) for tid, v in judged.items() if tid in sampled_ids}
    check_magnitudes(judge, f"judge score {name!r}")
    return judge


SPARSE_PROXY = 0.5
"""A field proxy known on this share of the traces or fewer is not used (measured: missing on half or
more, the assisted estimate had 1.1-13.8x the plain variance; on 99% it was nonsense)."""


def _sparse_proxy(design: Design, field_path: str) -> ReportWarning | None:
    """A warning when the proxy is missing on most traces (then the plain estimate is reported)."""
    cells = [c for c in design.cells if field_path in c.proxy]
    if not cells:
        return None  # no totals at all: the assisted estimator says what is missing
    population = sum(c.population for c in design.cells)
    have = sum(c.proxy[field_path].n for c in cells)
    if not population or not have or have / population > SPARSE_PROXY:
        return None  # (missing on every trace: the assisted estimator refuses it with one line)
    return ReportWarning(
        "proxy_sparse",
        f"the proxy {field_path!r} is known on {have:,} of {population:,} traces ({have / population:.0%}): "
        f"at {SPARSE_PROXY:.0%} or fewer it adds variance, so the plain estimate is reported",
        {"field": field_path, "with_proxy": have, "population": population},
    )


def _in_review(design: Design, values: dict[str, float]) -> tuple[dict[str, float], ReportWarning | None]:
    """Two-phase uses the human labels of the recorded review subsample only; labels found on
    other traces (reviewed by hand, outside the draw) would bias it, and the plain column beside
    it too (traces picked by hand are no random sample of their cell): counted and warned about."""
    recorded = {u.trace_id: bool(u.attrs.get("review")) for u in design.units if "review" in u.attrs}
    if not recorded:
        return values, None  # no review draw recorded: every judged trace is in the review phase
    outside = sorted(t for t in values if not recorded.get(t, False))
    if not outside:
        return values, None
    kept = {t: v for t, v in values.items() if recorded.get(t, False)}
    return kept, ReportWarning(
        "labels_outside_review",
        f"{len(outside)} traces have a label but are not in the recorded review subsample; the two-phase "
        "and the plain estimates both leave them out",
        {"count": len(outside), "examples": outside[:EXAMPLES]},
    )


def _with_proxy(
    report: Report,
    design: Design,
    values: dict[str, float],
    spec: ProxySpec,
    judge: dict[str, float] | None,
    kind: MetricKind,
    confidence: float,
    lonely: LonelyCell,
    rate_interval: IntervalMethod,
    tuning: Tuning,
) -> Report:
    """`report` with the assisted estimates in `estimate` and the plain ones in `plain`."""
    frame = ScoredFrame.build(design, values)
    by_stratum: dict[str, set[str]] = defaultdict(set)
    for cell in design.cells:
        by_stratum[cell.stratum].add(cell.id)
    whole, rows = assist(
        design, frame, spec, by_stratum, report.estimate, {r.stratum: r.estimate for r in report.strata},
        rate=kind is MetricKind.RATE, confidence=confidence, lonely=lonely, rate_interval=rate_interval,
        tuning=tuning, judge=judge,
    )
    # the same estimates with their analytic intervals (what the stratum rows show); a weighted
    # sample's one pooled λ is tuned once, on the descriptive frame, so both centre on one estimate
    plain_analytic = report.analytic if report.analytic is not None else report.estimate
    lam = whole.lambdas.get("(all)") if isinstance(frame, UnequalFrame) else None
    whole_analytic, rows_analytic = assist(
        design, frame.analytic(), spec, by_stratum, plain_analytic, {r.stratum: r.shown for r in report.strata},
        rate=kind is MetricKind.RATE, confidence=confidence, lonely=lonely, rate_interval=rate_interval,
        tuning=tuning, judge=judge, lam=lam,
    )
    warnings = list(report.warnings)
    if judge is not None:
        unjudged = sorted(t for t in values if t not in judge)
        if unjudged:
            warnings.append(ReportWarning(
                "reviewed_without_judge",
                f"{len(unjudged)} traces have a {report.metric!r} label but no {spec.name!r} score; left out of the "
                "two-phase estimate (the plain one uses them)",
                {"count": len(unjudged), "examples": unjudged[:EXAMPLES]},
            ))
    strata = tuple(
        replace(row, estimate=rows[row.stratum].estimate, plain=row.estimate, proxy=rows[row.stratum],
                analytic=rows_analytic[row.stratum].estimate, plain_analytic=row.analytic)
        for row in report.strata
    )
    return replace(report, estimate=whole.estimate, plain=report.estimate, proxy=whole, strata=strata,
                   warnings=tuple(warnings), analytic=whole_analytic.estimate, plain_analytic=report.analytic)


def _latest_per_trace(scores: list[Score], warnings: list[ReportWarning]) -> dict[str, ScoreValue]:
    """One value per trace: the most recent by `updated_at`, else the last one read."""
    best: dict[str, tuple[datetime | None, int, ScoreValue]] = {}
    duplicates: Counter[str] = Counter()
    for order, score in enumerate(scores):
        prev = best.get(score.trace_id)
        if prev is not None:
            duplicates[score.trace_id] += 1
            if score.updated_at is not None and prev[0] is not None and score.updated_at < prev[0]:
                continue
        best[score.trace_id] = (score.updated_at, order, score.value)
    if duplicates:
        warnings.append(ReportWarning(
            "duplicate_scores",
            f"{len(duplicates)} traces have several scores for this metric; the latest is used",
            {"count": len(duplicates), "examples": sorted(duplicates)[:EXAMPLES]},
        ))
    return {tid: v for tid, (_, _, v) in best.items()}


def _kind(metric: str, scores: Iterable[ScoreValue]) -> MetricKind:
    """Labels, a rate (booleans or 0/1) or a mean; one score name with two kinds of values is refused."""
    values = list(scores)
    kinds = {type(v) for v in values}
    if str in kinds:
        if kinds != {str}:
            raise EstimationError("mixes labels with numbers or booleans", field=metric)
        return MetricKind.CATEGORICAL
    numbers = [float(v) for v in values if not isinstance(v, str)]
    if bool in kinds:
        fractional = [v for v in values if not isinstance(v, bool) and float(v) not in (0.0, 1.0)]
        if fractional:
            booleans = sum(isinstance(v, bool) for v in values)
            raise EstimationError(
                f"mixes booleans with numbers ({booleans} boolean{'s' * (booleans != 1)}, {len(fractional)} "
                f"number{'s' * (len(fractional) != 1)} such as {float(fractional[0]):g}): a rate and a mean "
                "cannot be averaged together; "
                "give each kind of score its own name",
                field=metric,
            )
    if kinds == {bool} or all(v in (0.0, 1.0) for v in numbers):
        return MetricKind.RATE
    return MetricKind.MEAN


def _numeric_report(
    design: Design,
    values: dict[str, float],
    metric: str,
    kind: MetricKind,
    confidence: float,
    compare: str | None,
    lonely: LonelyCell,
    warnings: list[ReportWarning],
    rate_interval: IntervalMethod,
) -> Report:
    estimator = StratifiedEstimator(lonely=lonely)
    frame = ScoredFrame.build(design, values)
    rate = kind is MetricKind.RATE
    overall_method = rate_interval if rate else IntervalMethod.T
    stratum_method = IntervalMethod.WILSON_EFFECTIVE if rate else IntervalMethod.T
    estimate = estimator.estimate_frame(frame, design, confidence=confidence, interval=overall_method)
    analytic_frame = frame.analytic()
    analytic = estimator.estimate_frame(analytic_frame, design, confidence=confidence, interval=overall_method)
    naive = naive_estimate(frame.y.tolist(), confidence=confidence, rate=rate)
    population = sum(c.population for c in design.cells)
    scored_by_cell = dict(zip(frame.cell_ids, frame.scored.tolist(), strict=True))

    by_stratum: dict[str, list[Cell]] = defaultdict(list)
    for cell in design.cells:
        by_stratum[cell.stratum].append(cell)
    rows = []
    for stratum in sorted(by_stratum):
        cells = by_stratum[stratum]
        ids = {c.id for c in cells}
        est = estimator.estimate_frame(frame, design, confidence=confidence, cells=ids, interval=stratum_method)
        rows.append(StratumRow(
            stratum, dict(cells[0].values), sum(c.population for c in cells), sum(c.sampled for c in cells),
            int(sum(scored_by_cell[c.id] for c in cells)), est,
            analytic=estimator.estimate_frame(analytic_frame, design, confidence=confidence, cells=ids,
                                              interval=stratum_method),
        ))
    _design_warnings(design, rows, scored_by_cell, estimate, lonely, population, warnings)
    comparison = None
    if compare:
        comparison = _compare(design, frame, estimator, compare, confidence, overall_method, rate, by_stratum,
                              warnings)
    return Report(metric, kind, confidence, estimate, naive, tuple(rows), tuple(warnings), population, lonely,
                  comparison, analytic=analytic)


def _design_warnings(
    design: Design,
    rows: list[StratumRow],
    scored_by_cell: Mapping[str, float],
    estimate: Estimate,
    lonely: LonelyCell,
    population: int,
    warnings: list[ReportWarning],
) -> None:
    for row in rows:
        if row.scored == 0 and row.population > 0:
            warnings.append(ReportWarning(
                "stratum_without_scores",
                f"stratum {row.stratum!r} ({row.population} traces, {_share(row.population, population)}) "
                "has no scores; it is left out of the global estimate",
                {"stratum": row.stratum, "population": row.population,
                 "population_share": row.population / population if population else 0.0},
            ))
    empty_rows = {row.stratum for row in rows if row.scored == 0}
    empty_cells = [c for c in design.cells if c.population > 0 and scored_by_cell[c.id] == 0
                   and c.stratum not in empty_rows]
    if empty_cells:
        pop = sum(c.population for c in empty_cells)
        warnings.append(ReportWarning(
            "cells_without_scores",
            f"{len(empty_cells)} cells ({pop} traces, {_share(pop, population)}) in strata with scores have "
            "none; their population is left out of the estimates",
            {"cells": [c.id for c in empty_cells], "population": pop,
             "population_share": pop / population if population else 0.0},
        ))
    if estimate.lonely_cells:
        how = {
            LonelyCell.ADJUST: "they add their deviation from the overall mean to the variance (conservative)",
            LonelyCell.CERTAINTY: "they add no variance (may understate it)",
            LonelyCell.ERROR: "",
        }[lonely]
        warnings.append(ReportWarning(
            "single_score_cells",
            f"{len(estimate.lonely_cells)} cells have a single score, so no variance of their own; {how}",
            {"cells": list(estimate.lonely_cells), "policy": lonely.value},
        ))
    unscored = {c.id: c.sampled - int(scored_by_cell[c.id]) for c in design.cells
                if c.sampled - int(scored_by_cell[c.id]) > 0}
    if unscored:
        total = sum(unscored.values())
        warnings.append(ReportWarning(
            "unscored_sampled",
            f"{total} sampled traces have no score; treated as missing at random within their cell",
            {"count": total, "by_cell": unscored},
        ))


def _share(part: float, whole: float) -> str:
    return f"{part / whole:.2%} of the population" if whole else "0% of the population"


def _adjusted(deltas: tuple[Delta, ...]) -> tuple[Delta, ...]:
    """Each stratum's delta with its Benjamini–Hochberg adjusted p-value over the strata tested."""
    tested = [d.p_value if d.tested else math.nan for d in deltas]
    adjusted = benjamini_hochberg(tested)
    return tuple(replace(d, p_adjusted=q) for d, q in zip(deltas, adjusted, strict=True))


def _correlation(se_a: float, se_b: float, se_delta: float) -> float:
    """Correlation of two domain estimates from their SEs and their difference's (0 when undefined)."""
    if not (se_a > 0.0 and se_b > 0.0 and math.isfinite(se_delta)):
        return 0.0
    return (se_a * se_a + se_b * se_b - se_delta * se_delta) / (2.0 * se_a * se_b)


def _compare(
    design: Design,
    frame: ScoredFrame,
    estimator: StratifiedEstimator,
    field_name: str,
    confidence: float,
    overall_method: IntervalMethod,
    rate: bool,
    by_stratum: Mapping[str, list[Cell]],
    warnings: list[ReportWarning],
) -> Comparison | None:
    groups = _compared_groups(design, frame, field_name, warnings)
    if groups is None:
        return None
    a, b = sorted(groups)
    stratum_method = IntervalMethod.WILSON_EFFECTIVE if rate else IntervalMethod.T
    frame = frame.analytic()  # a comparison is about the process: no finite-population correction

    def delta(scope: str, cells: set[str] | None, method: IntervalMethod) -> Delta:
        ea = estimator.estimate_frame(frame, design, confidence=confidence, cells=cells, domain=groups[a],
                                      interval=method)
        eb = estimator.estimate_frame(frame, design, confidence=confidence, cells=cells, domain=groups[b],
                                      interval=method)
        d, se, low, high, df = estimator.contrast(frame, groups[a], groups[b], confidence=confidence, cells=cells)
        p = t_pvalue(d, se, df)
        if not rate:
            return Delta(scope, ea, eb, d, se, low, high, p_value=p)
        low, high = newcombe_difference(ea.mean, (ea.ci_low, ea.ci_high), eb.mean, (eb.ci_low, eb.ci_high),
                                        correlation=_correlation(ea.se, eb.se, se))
        return Delta(scope, ea, eb, d, se, low, high, IntervalMethod.NEWCOMBE, p_value=p)

    # a rate's groups: effective sizes capped at the count (design effect >= 1), as the per-stratum Wilson caps them
    overall = delta(ALL, None, IntervalMethod.KORN_GRAUBARD_TRUNCATED if rate else overall_method)
    per_stratum = _adjusted(tuple(
        delta(s, {c.id for c in by_stratum[s]}, stratum_method) for s in sorted(by_stratum)
    ))
    flags = _compare_flags(overall, per_stratum, field_name, rate, warnings)
    return Comparison(field_name, a, b, overall, per_stratum, flags)

def _compared_groups(
    design: Design, frame: ScoredFrame, field_name: str, warnings: list[ReportWarning]
) -> dict[str, set[str]] | None:
    """The scored traces of the two groups `--compare FIELD` compares (the two most frequent
    values); None, with a warning, when there are fewer than two."""
    scored = set(frame.trace_ids)
    groups: dict[str, set[str]] = defaultdict(set)
    missing = 0
    for unit in design.units:
        if unit.trace_id not in scored:
            continue
        value = unit.attr(field_name)
        if value is None:
            missing += 1
            continue
        groups[str(value)].add(unit.trace_id)
    if missing:
        warnings.append(ReportWarning(
            "compare_field_missing",
            f"{missing} scored traces have no {field_name!r}; left out of the comparison",
            {"field": field_name, "count": missing},
        ))
    if len(groups) < 2:
        warnings.append(ReportWarning(
            "compare_needs_two_groups",
            f"{field_name!r} has {len(groups)} value(s) among scored traces; nothing to compare",
            {"field": field_name, "groups": sorted(groups)},
        ))
        return None
    if len(groups) > 2:
        top = sorted(groups, key=lambda g: (-len(groups[g]), g))[:2]
        warnings.append(ReportWarning(
            "compare_more_than_two_groups",
            f"{field_name!r} has {len(groups)} values; comparing the two most frequent: {', '.join(sorted(top))}",
            {"field": field_name, "groups": sorted(groups), "compared": sorted(top)},
        ))
        groups = {g: groups[g] for g in top}
    return groups


def _compare_flags(
    overall: Delta, per_stratum: tuple[Delta, ...], field_name: str, rate: bool, warnings: list[ReportWarning]
) -> tuple[str, ...]:
    """`masked` (no global move, but strata moved) and `simpson` (strata moved against the global
    move), each with its warning."""
    flags = []
    moved = [d for d in per_stratum if d.significant]
    if not overall.significant and moved:
        flags.append("masked")
        tested = sum(d.tested for d in per_stratum)
        warnings.append(ReportWarning(
            "masked_effect",
            f"the global {field_name} delta is not significant but {len(moved)} of {tested} strata tested moved "
            "(false discovery rate controlled): "
            + ", ".join(f"{d.scope} ({format_value(d.delta, rate, signed=True)}) adj. p {format_p(d.p_adjusted)}"
                        for d in moved),
            {"strata": [d.scope for d in moved], "strata_tested": tested},
        ))
    if overall.significant:
        opposite = [d for d in moved if (d.delta > 0) != (overall.delta > 0)]
        if opposite:
            flags.append("simpson")
            warnings.append(ReportWarning(
                "simpson",
                f"the global {field_name} delta ({format_value(overall.delta, rate, signed=True)}) has the opposite "
                "sign of significant moves in: "
                + ", ".join(f"{d.scope} ({format_value(d.delta, rate, signed=True)})" for d in opposite),
                {"strata": [d.scope for d in opposite]},
            ))
    return tuple(flags)
