"""`[sampling] floor = "auto"`: the floor of the sizes chosen from the judged traces of earlier windows.

The floor trades the weighting's gain against its cost. A low floor follows the weight
closely: a good proxy narrows the interval most (0.72x at 0.15 in
tests/simulation/test_weighted_coverage.py), but a weight that is unrelated to where the
judge disagrees makes π vary for nothing and costs up to 8% of width; a floor at the top
of the sizes is equal probability (nothing gained, nothing lost). Which floor is best
depends on the proxy, so it is read from the data.

**The forecast.** For a candidate floor f the sizes are s_j(f) = max(w_j, f) (a missing
weight: f). From the judged traces j of an earlier window, with their design weight g_j
(∝ 1/π_j^old, calibrated to the cell's size), their residual r_j against the proxy
(M − λP, the difference estimator's) and their raw weight w_j, the variance of the
estimated total with π ∝ s(f) and k_c draws per cell is forecast as

    V(f) = Σ_c Σ_{j in c} g_j (1 − π_j(f)) (r_j − r̄_c)² / π_j(f),
    π_j(f) = min(1, k_c s_j(f) / Σ_{i in c} g_i s_i(f))

(`estimate.weighting_gain`: the Poisson approximation of priority sampling, Rosén 1997,
importance-weighted by 1/π^old since the judged traces were themselves drawn with π^old).
It is the with-replacement form Σ r²/(π^old p(f)) of the variance that active statistical
inference minimises (Zrnic & Candès 2024, "Active statistical inference", ICML: the
optimal rule is π ∝ sqrt(E[(Y − f(X))² | X])); the floor is its shrinkage toward uniform.

**The rule.** Every candidate floor's V(f) is forecast and the smallest taken, but only
when its SE is clearly below equal probability's (ratio < `CLEAR_GAIN`): one window's
forecast is noisy, and an unrelated weight's forecast scatters around 1, so without the
margin a noisy forecast would pick a low floor and pay the unrelated weight's cost.
Otherwise the floor is the top of the sizes (equal probability inside cells: 0.5 for
`proxy_uncertainty:`, the largest weight seen for a numeric field).

**The first window** (no earlier judged traces, or fewer than `MIN_JUDGED`) has nothing
to forecast from: it takes `FIRST_WINDOW_FLOOR` = 0.25 for `proxy_uncertainty:` (sizes in
[0.25, 0.5]: no trace is more than twice as likely as another of its cell, which bounds
what an unrelated weight can cost — 1.02x in the simulation — while keeping most of a good
proxy's gain, 0.81x), and the default floor for a numeric field (its scale is unknown).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tracestrata.design import Design, Unit
from tracestrata.estimate.estimators import ScoredFrame
from tracestrata.estimate.weighted_difference import difference_unequal
from tracestrata.estimate.weighting_gain import weighting_gain
from tracestrata.record import Score

__all__ = [
    "CLEAR_GAIN",
    "FIRST_WINDOW_FLOOR",
    "MIN_JUDGED",
    "UNCERTAINTY_FLOORS",
    "FloorChoice",
    "History",
    "candidate_floors",
    "choose_floor",
    "first_window_floor",
    "judged_history",
]

# 0.5 = max sqrt(p(1-p)): uniform. Not below 0.15: with 0.1 among the candidates (chosen in ~90% of
# windows) the rare stratum over-covered, 0.969 / 0.973 on two seeds (0.975 with 0.05): sure-but-wrong
# traces of tiny π make the estimate heavy-tailed (tests/simulation/test_auto_floor.py); from 0.15,
# 0.959 / 0.953, for 0.72x instead of 0.69x of today's width.
UNCERTAINTY_FLOORS = (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)
FIRST_WINDOW_FLOOR = 0.25
CLEAR_GAIN = 0.95  # the chosen floor's forecast SE must be below 0.95x equal probability's
MIN_JUDGED = 30  # judged traces an earlier window needs before its forecast is trusted
_QUANTILES = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9)


@dataclass(frozen=True)
class FloorChoice:
    """The floor for the next window and why: `ratio` is its forecast SE over equal probability's
    (nan for the first window), `judged` the earlier judged traces it was read from."""

    floor: float
    ratio: float
    judged: int
    reason: str


def first_window_floor(uncertainty: bool, default: float) -> float:
    """The floor of a window with no judged history (module docstring)."""
    return FIRST_WINDOW_FLOOR if uncertainty else default


def candidate_floors(raw: np.ndarray, uncertainty: bool) -> tuple[float, ...]:
    """The floors tried: a fixed grid on sqrt(p(1 − p))'s scale [0, 0.5], or the quantiles of a
    numeric weight's observed values (its largest: equal probability)."""
    if uncertainty:
        return UNCERTAINTY_FLOORS
    seen = raw[np.isfinite(raw) & (raw > 0)]
    if not len(seen):
        return ()
    grid = [float(q) for q in np.quantile(seen, _QUANTILES)] + [float(seen.max())]
    return tuple(sorted({g for g in grid if g > 0}))


def floored(raw: np.ndarray, floor: float) -> np.ndarray:
    """max(w, floor), the floor where w is missing (as `WeightSpec.sizes`)."""
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(raw) & (raw > floor)
    return np.where(ok, raw, floor)


def choose_floor(
    frame: ScoredFrame,
    residual: np.ndarray,
    raw: np.ndarray,
    *,
    uncertainty: bool,
    default: float,
    candidates: Sequence[float] | None = None,
) -> FloorChoice:
    """The floor for the next window from one or more earlier windows' judged traces (`frame`,
    their design weights and cells), their residuals against the proxy and raw weights
    (`WeightSpec.raw_sizes`: NaN where missing)."""
    judged = int(len(frame.y))
    if judged < MIN_JUDGED:
        floor = first_window_floor(uncertainty, default)
        return FloorChoice(floor, math.nan, judged, f"first window rule ({judged} judged traces before it)")
    floors = tuple(candidates) if candidates is not None else candidate_floors(raw, uncertainty)
    if not floors:
        return FloorChoice(default, math.nan, judged, "no usable weight in the judged traces")
    uniform = max(floors)
    base = weighting_gain(frame, residual, np.ones(judged)).se_weighted
    forecasts = {f: weighting_gain(frame, residual, floored(raw, f)).se_weighted for f in floors}
    best = min(floors, key=lambda f: (forecasts[f], -f))  # ties: the higher floor (nearer uniform)
    ratio = forecasts[best] / base if base > 0 else math.nan
    if not (ratio < CLEAR_GAIN):
        return FloorChoice(uniform, 1.0, judged, f"no clear gain (best forecast {ratio:.2f}x at floor {best:g})")
    return FloorChoice(best, ratio, judged, f"forecast {ratio:.2f}x the width of equal probability")


@dataclass(frozen=True)
class History:
    """Earlier windows' judged traces as `choose_floor` reads them: the design frame, each judged
    trace's residual M − λP against the weight's field (λ fitted: about 0 for a field that does
    not predict the metric) and the field's raw values (None where missing)."""

    frame: ScoredFrame
    residual: np.ndarray
    raw: list[object]


def _raw(unit: Unit, field: str) -> object:
    return unit.proxy[field] if field in unit.proxy else unit.attr(field)


def judged_history(design: Design, scores: Sequence[Score], metric: str, field: str) -> History | None:
    """The judged traces of `design` (numeric `metric` scores) with their residuals against `field`;
    None when fewer than two are judged or none has the field (the ledger keeps a field's value
    only when the policy records it: `[[proxy]] field = ...`), so the first-window rule applies."""
    values = {s.trace_id: float(s.value) for s in scores
              if s.name == metric and type(s.value) in (int, float, bool) and math.isfinite(float(s.value))}
    frame = ScoredFrame.build(design, values)
    if len(frame.y) < 2:
        return None
    units = {u.trace_id: u for u in design.units}
    raw = [_raw(units[t], field) for t in frame.trace_ids]
    p = np.array([float(v) if type(v) in (int, float, bool) else math.nan for v in raw], dtype=float)
    if not np.isfinite(p).any():  # the field is not recorded on the judged traces (not a [[proxy]])
        return None
    with np.errstate(invalid="ignore"):
        p = np.where(np.isfinite(p), p, float(np.nanmean(p)) if np.isfinite(p).any() else 0.0)
    lam = difference_unequal(frame, p, 0.0, np.ones(len(frame.y), dtype=bool)).lam
    return History(frame, frame.y - lam * p, raw)
