"""The value range of the HTML report's stratum charts: one rule for both drawings.

Both charts show each stratum's *shown* interval (the analytic one the table beside them
prints, see docs/report.md) and the global descriptive estimate as a band, so the axis
is computed from exactly those values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from tracestrata.estimate.report import MetricKind, Report

__all__ = ["chart_range"]


def chart_range(report: Report, extra: Iterable[float] = ()) -> tuple[float, float]:
    """The axis ends: rates zoom to the data on a 10-point grid inside [0, 1]; means get a 5% margin."""
    bounds = [x for r in report.strata for x in (r.shown.ci_low, r.shown.ci_high, r.shown.mean)]
    bounds += [report.estimate.ci_low, report.estimate.ci_high, report.estimate.mean, report.naive.mean, *extra]
    finite = [x for x in bounds if x is not None and not math.isnan(x)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if report.kind is not MetricKind.MEAN:
        lo, hi = math.floor(lo * 10) / 10, math.ceil(hi * 10) / 10
        if hi <= lo:
            lo, hi = max(0.0, lo - 0.1), min(1.0, hi + 0.1)
        return lo, hi
    if hi <= lo:
        lo, hi = lo - 1.0, hi + 1.0
    margin = (hi - lo) * 0.05
    return lo - margin, hi + margin
