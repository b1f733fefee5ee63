"""Each stratum's estimate per day or per window over a period: `report --by day|window`.

A day's estimate is exact over that day's windows: the ledger's (window, cell) cells of
the day are the strata of one design, estimated as `build_report` estimates any design
(never an average of window means). So a day's number is *descriptive*: the share (or
mean) over that day's traces, with the finite-population correction, as every report is.
Reading the series as a process over time (is the rate moving?) is an *analytic*
question; `alarm.py` answers it with its own error control (docs/trends.md), on each
point's `analytic_se` (the same estimate without the fpc).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tracestrata.design import Cell, Design
from tracestrata.errors import EstimationError
from tracestrata.estimate.estimators import Estimate
from tracestrata.estimate.report import MetricKind, build_report
from tracestrata.record import Score

__all__ = ["GLOBAL", "Trend", "TrendPoint", "TrendSeries", "build_trend", "json_number", "period_of"]

GLOBAL = "(all traces)"
BY_CHOICES = ("day", "window")


def json_number(x: float) -> float | None:
    """JSON has no NaN or infinity: an undefined number is null."""
    return x if math.isfinite(x) else None


def period_of(window: str | None, by: str) -> str:
    """The period a window belongs to: its UTC start date (`day`) or the window itself."""
    if window is None:
        return "(no window)"
    return window.split("/", 1)[0][:10] if by == "day" else window


@dataclass(frozen=True)
class TrendPoint:
    period: str
    mean: float
    ci_low: float
    ci_high: float
    se: float  # descriptive (with the fpc), as the interval
    scored: int
    population: int
    analytic_se: float = math.nan  # the same estimate's SE without the fpc: what alarms use

    def to_json(self) -> dict[str, Any]:
        num = json_number
        return {"period": self.period, "mean": num(self.mean), "ci_low": num(self.ci_low),
                "ci_high": num(self.ci_high), "se": num(self.se), "analytic_se": num(self.analytic_se),
                "scored": self.scored, "population": self.population}


@dataclass(frozen=True)
class TrendSeries:
    stratum: str
    population: int  # over the whole period
    points: tuple[TrendPoint, ...]  # one per period the stratum has traces in

    def by_period(self) -> dict[str, TrendPoint]:
        return {p.period: p for p in self.points}

    def to_json(self) -> dict[str, Any]:
        return {"stratum": self.stratum, "population": self.population, "points": [p.to_json() for p in self.points]}


@dataclass(frozen=True)
class Trend:
    metric: str
    rate: bool
    by: str
    confidence: float
    periods: tuple[str, ...]
    series: tuple[TrendSeries, ...]  # the global series first, then strata by population

    def to_json(self) -> dict[str, Any]:
        return {"by": self.by, "metric": self.metric, "kind": "rate" if self.rate else "mean",
                "confidence": self.confidence, "periods": list(self.periods),
                "descriptive": True, "series": [s.to_json() for s in self.series]}


def _point(period: str, e: Estimate, analytic: Estimate, population: int) -> TrendPoint:
    """The day's descriptive point and interval, with the analytic SE the alarms read."""
    return TrendPoint(period, e.mean, e.ci_low, e.ci_high, e.se, e.n_scored, population, analytic.se)


def build_trend(
    design: Design, scores: Iterable[Score], metric: str, *, by: str = "day", confidence: float = 0.95
) -> Trend:
    """The global and per-stratum estimate of `metric` in every day (or window) of `design`."""
    if by not in BY_CHOICES:
        raise EstimationError(f"trends go by day or by window, not {by!r}", field="by")
    score_list = [s for s in scores if s.name == metric]
    cells_by: dict[str, list[Cell]] = defaultdict(list)
    for cell in design.cells:
        cells_by[period_of(cell.window, by)].append(cell)
    units_by: dict[str, list[Any]] = defaultdict(list)
    index = design.cell_index()
    for unit in design.units:
        units_by[period_of(index[unit.cell].window, by)].append(unit)
    periods = tuple(sorted(cells_by))
    points: dict[str, list[TrendPoint]] = defaultdict(list)
    population: dict[str, int] = defaultdict(int)
    kinds: set[MetricKind] = set()
    for period in periods:
        sub = Design(cells=tuple(cells_by[period]), units=tuple(units_by[period]))
        ids = {u.trace_id for u in sub.units}
        report = build_report(sub, [s for s in score_list if s.trace_id in ids], metric, confidence=confidence)
        if report.labels is not None:
            raise EstimationError("a trend needs a rate or a mean, not labels", field=metric)
        if report.estimate.n_scored:
            kinds.add(report.kind)
        whole = report.analytic if report.analytic is not None else report.estimate
        points[GLOBAL].append(_point(period, report.estimate, whole, report.population))
        population[GLOBAL] += report.population
        for row in report.strata:
            points[row.stratum].append(_point(period, row.estimate, row.shown, row.population))
            population[row.stratum] += row.population
    rate = kinds != {MetricKind.MEAN} and MetricKind.MEAN not in kinds
    order = sorted((s for s in points if s != GLOBAL), key=lambda s: (-population[s], s))
    series = tuple(TrendSeries(s, population[s], tuple(points[s])) for s in (GLOBAL, *order) if s in points)
    return Trend(metric, rate, by, confidence, periods, series)


def aligned(series: TrendSeries, periods: Sequence[str]) -> tuple[list[float], list[float], list[int]]:
    """Means, analytic SEs (no fpc: a process level, as alarms read it) and judged counts of
    `series` on every period (NaN / 0 where it has none)."""
    at = series.by_period()
    means = [at[p].mean if p in at else math.nan for p in periods]
    ses = [at[p].analytic_se if p in at else math.nan for p in periods]
    counts = [at[p].scored if p in at else 0 for p in periods]
    return means, ses, counts
