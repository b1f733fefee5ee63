"""Each stratum's spread per judged trace, read off a report's own variances (what `plan` sizes from).

A stratum estimate over n judged traces of N has variance V ≈ (1 − n/N) S²/n, so the
spread the next window's estimate will have is S = sqrt(V · n / (1 − n/N)). Backed out of
the report, S includes everything the report's variance does: the failure oversampling's
design effect and, with a proxy, the proxy's gain (S is then the residual SD of
metric − λ·proxy). For a two-phase row (r reviewed of m judged) the report's variance is
(1 − m/N) s²_H/m + (1 − r/m) s²_e/r; s_H comes from the humans-only (plain) estimate and
s_e, the SD of H − λ·J, from the rest.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from tracestrata.estimate.assisted import ProxyKind
from tracestrata.estimate.estimators import Estimate
from tracestrata.estimate.report import Report

__all__ = ["StratumSpread", "per_trace_sd", "report_spreads"]


@dataclass(frozen=True)
class StratumSpread:
    stratum: str
    n: int  # judged traces of the report's stratum row (reviewed ones, for two-phase)
    mean: float
    sd: float  # of the estimator `plan` sizes for: residual with a proxy, else the plain one; NaN: unknown
    plain_sd: float
    judged: int = 0  # two-phase: judged traces (phase 1) of the row
    human_sd: float = math.nan  # two-phase: SD of the human labels


def per_trace_sd(estimate: Estimate, population: float) -> float:
    """sqrt(V · n / (1 − n/N)); NaN without at least 2 scores or when the stratum was judged in full."""
    n = estimate.n_scored
    if n < 2 or not population or not math.isfinite(estimate.variance):
        return math.nan
    keep = 1.0 - n / population
    return math.sqrt(estimate.variance * n / keep) if keep > 0 else math.nan


def report_spreads(report: Report, judged: Mapping[str, int] | None = None) -> dict[str, StratumSpread]:
    """The spread of every stratum row of `report`; `judged` (stratum -> judged traces) for two-phase."""
    out: dict[str, StratumSpread] = {}
    for row in report.strata:
        plain = row.plain if row.plain is not None else row.estimate
        plain_sd = per_trace_sd(plain, row.population)
        sd = per_trace_sd(row.estimate, row.population) if row.plain is not None else plain_sd
        if row.proxy is not None and row.proxy.kind is ProxyKind.JUDGE:
            m = int((judged or {}).get(row.stratum, 0))
            r = row.estimate.n_scored
            human_sd = plain_sd
            residual = math.nan
            if m > r >= 2 and math.isfinite(human_sd) and row.population:
                phase1 = (1.0 - m / row.population) * human_sd**2 / m
                residual = math.sqrt(max(row.estimate.variance - phase1, 0.0) / ((1.0 - r / m) / r))
            out[row.stratum] = StratumSpread(row.stratum, r, row.estimate.mean, residual, plain_sd, m, human_sd)
        else:
            out[row.stratum] = StratumSpread(row.stratum, row.estimate.n_scored, row.estimate.mean, sd, plain_sd)
    return out
