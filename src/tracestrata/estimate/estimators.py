"""Population estimates from a judged sample: the stratified (Horvitz–Thompson/Hájek) estimator.

The design (`tracestrata.design.Design`) is stratified simple random sampling
without replacement with the *cells* as strata. Of the `sampled` traces of cell c,
`m_c` were scored; unscored sampled traces are treated as missing at random within
their cell, so the scored ones are an SRS of size m_c from N_c and weigh N_c / m_c.

    mean     ȳ_d = Σ_i w_i d_i y_i / Σ_i w_i d_i            (d_i = 1 inside the domain)
    variance Σ_c (1 − m_c/N_c) · m_c/(m_c − 1) · Σ_{i∈c} (z_i − z̄_c)²,
             z_i = w_i d_i (y_i − ȳ_d) / Σ w d               (linearization)

For the whole population (d ≡ 1) this is Σ_c (N_c/N)² (1 − m_c/N_c) s_c²/m_c, exactly
what R's `svydesign(ids=~1, strata=~cell, fpc=~N)` + `svymean` compute; a domain (a
reporting stratum, or one `--compare` group inside the cells) is R's
`svymean(subset(design, ...))`, which keeps every cell's m_c and sets z = 0 outside the
domain. A contrast between two domains uses z_B − z_A, so their covariance is counted.
`tests/crosscheck/` checks all of this against R to 1e-8.

A cell with a single score has no within-cell variance; `LonelyCell` chooses what
happens (R's `options(survey.lonely.psu = ...)`). A cell with no score is left out:
the estimate then covers only the other cells' population, which `Estimate` reports.

Extension point: every estimator satisfies the `Estimator` protocol. A difference /
prediction-powered estimator would take, besides the judged `values`, a cheap proxy
score `proxy: Mapping[trace_id, float]` known for *every* trace of the population
(cell totals of the proxy are then known exactly): it estimates the population mean
of the proxy exactly and corrects it by the stratified estimate of
(judge − proxy) over the judged sample, whose variance is this module's variance with
y replaced by the residuals. It can reuse `domain_fit` unchanged on those residuals
and return the same `Estimate`, so reports need no change.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Protocol, runtime_checkable

import numpy as np

from tracestrata.design import Design
from tracestrata.errors import EstimationError
from tracestrata.estimate.intervals import (
    IntervalMethod,
    korn_graubard,
    t_interval,
    wilson,
    wilson_effective,
)
from tracestrata.estimate.unequal import cell_terms as unequal_cell_terms
from tracestrata.estimate.unequal import certain_drawn, unequal_weights

__all__ = [
    "DomainFit",
    "Estimate",
    "Estimator",
    "LonelyCell",
    "ScoredFrame",
    "UnequalFrame",
    "StratifiedEstimator",
    "domain_fit",
    "is_rate",
    "naive_estimate",
    "satterthwaite_df",
    "within_known",
]


class LonelyCell(str, Enum):
    """What a cell with a single score contributes to the variance (R: `survey.lonely.psu`).

    ERROR      refuse (`EstimationError`), like R's "fail".
    CERTAINTY  nothing, as if the cell were a census, like R's "certainty"/"remove";
               understates the variance.
    ADJUST     its deviation from the overall mean, like R's "adjust"; conservative.
               The default: one score in a tiny failure cell is common (a 2-trace cell
               with one judge error), and refusing the whole report over it helps nobody.
    A cell whose single score is its whole population (m_c = N_c) contributes nothing
    under every policy: it is known exactly.
    """

    ERROR = "error"
    CERTAINTY = "certainty"
    ADJUST = "adjust"


@dataclass(frozen=True, slots=True)
class Estimate:
    """A population (or domain) estimate with its interval.

    `population` is the (estimated, for a domain inside cells) number of traces the
    estimate speaks for; `population_total` the traces of every cell in scope,
    including cells with no score (`empty_cells`) that the estimate cannot cover.
    """

    mean: float
    se: float
    ci_low: float
    ci_high: float
    n_scored: int
    method: IntervalMethod
    df: float
    confidence: float
    population: float
    population_total: int
    cells: int = 0
    empty_cells: tuple[str, ...] = ()
    lonely_cells: tuple[str, ...] = ()

    @property
    def variance(self) -> float:
        return self.se * self.se

    @property
    def covered_share(self) -> float:
        """Share of the in-scope population covered by cells that have scores."""
        if not self.population_total:
            return 0.0
        return min(1.0, self.population / self.population_total)


@runtime_checkable
class Estimator(Protocol):
    """One estimator of a population mean from a design and judged values."""

    def estimate(self, design: Design, values: Mapping[str, float], *, confidence: float = 0.95) -> Estimate: ...


def is_rate(values: Collection[float]) -> bool:
    """True when every value is 0 or 1 (a rate: Korn–Graubard / Wilson intervals)."""
    return all(v == 0.0 or v == 1.0 for v in values)


@dataclass(frozen=True)
class ScoredFrame:
    """The scored sampled traces of a design as arrays, with each cell's N and m."""

    trace_ids: tuple[str, ...]
    cell_ids: tuple[str, ...]
    code: np.ndarray  # cell index of each scored trace
    y: np.ndarray
    population: np.ndarray  # N_c by cell index
    scored: np.ndarray  # m_c by cell index
    weight: np.ndarray  # N_c / m_c of each scored trace
    fpc: bool = True  # False: the analytic variance (no finite-population correction; see `analytic`)

    def analytic(self) -> ScoredFrame:
        """The same traces for an *analytic* estimate: the rate of the process that produced
        this window's traces rather than the share among them. The point estimate is the same;
        the variance drops the finite-population correction (R: `svydesign` without `fpc`), so a
        stratum judged in full still has the uncertainty of its n traces."""
        return replace(self, fpc=False)

    @classmethod
    def build(cls, design: Design, values: Mapping[str, float]) -> ScoredFrame:
        """Scored traces = the design's units that have a value (others are missing at random)."""
        index = {cell.id: i for i, cell in enumerate(design.cells)}
        population = np.array([cell.population for cell in design.cells], dtype=float)
        ids: list[str] = []
        codes: list[int] = []
        ys: list[float] = []
        probs: list[float | None] = []
        for unit in design.units:
            value = values.get(unit.trace_id)
            if value is None:
                continue
            if unit.cell not in index:
                raise EstimationError(f"sampled trace {unit.trace_id!r} names an unknown cell", field=unit.cell)
            ids.append(unit.trace_id)
            codes.append(index[unit.cell])
            ys.append(float(value))
            probs.append(unit.probability)
        code = np.array(codes, dtype=np.intp)
        scored = np.bincount(code, minlength=len(design.cells)).astype(float)
        if np.any(scored > population):
            bad = design.cells[int(np.argmax(scored > population))]
            raise EstimationError(
                f"{int(scored[index[bad.id]])} scored traces but the cell's population is {bad.population}",
                field=bad.id,
            )
        with np.errstate(divide="ignore", invalid="ignore"):
            per_cell_weight = np.where(scored > 0, population / np.maximum(scored, 1), 0.0)
        weight = per_cell_weight[code] if len(code) else np.zeros(0)
        parts = dict(trace_ids=tuple(ids), cell_ids=tuple(cell.id for cell in design.cells), code=code,
                     y=np.array(ys, dtype=float), population=population, scored=scored)
        if any(p is not None for p in probs):  # `[sampling] weight`: each trace its own π
            sampled = np.array([cell.sampled for cell in design.cells], dtype=float)
            known = [u for u in design.units if u.cell in index]
            drawn = certain_drawn(np.array([index[u.cell] for u in known], dtype=np.intp),
                                  [u.probability for u in known], population, sampled)
            weight, unit_fpc, certain = unequal_weights(code, probs, population, sampled, scored, drawn)
            return UnequalFrame(**parts, weight=weight, unit_fpc=unit_fpc, certain=certain)
        return cls(**parts, weight=weight)

    def mask(self, trace_ids: Collection[str] | None = None, cells: Collection[str] | None = None) -> np.ndarray:
        """Domain indicator over the scored traces: in `cells` (if given) and `trace_ids` (if given)."""
        d = np.ones(len(self.trace_ids), dtype=bool)
        if cells is not None:
            wanted = np.array([cid in cells for cid in self.cell_ids], dtype=bool)
            d &= wanted[self.code] if len(self.code) else d
        if trace_ids is not None:
            d &= np.array([tid in trace_ids for tid in self.trace_ids], dtype=bool)
        return d


@dataclass(frozen=True)
class DomainFit:
    """Point estimate, linearized influence values and counts of one domain mean."""

    mean: float
    z: np.ndarray
    n: int  # scored traces in the domain
    cells: int  # cells holding at least one of them
    population: float  # Σ w d, the estimated domain size
    weights_equal: bool
    kish_n: float


def domain_fit(frame: ScoredFrame, d: np.ndarray) -> DomainFit:
    wd = frame.weight * d
    total = float(wd.sum())
    n = int(d.sum())
    cells = len(np.unique(frame.code[d])) if n else 0
    if n == 0 or total <= 0.0:
        return DomainFit(math.nan, np.zeros(len(d)), 0, 0, 0.0, True, 0.0)
    mean = float((wd * frame.y).sum() / total)
    z = wd * (frame.y - mean) / total
    w_in = frame.weight[d]
    equal = bool(np.allclose(w_in, w_in[0], rtol=1e-12, atol=0.0))
    kish = total * total / float((w_in * w_in).sum())
    return DomainFit(mean, z, n, cells, total, equal, kish)


def _cell_terms(frame: ScoredFrame, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cell: Σ z, the finite-population factor 1 − f_c (1 for an analytic frame), and
    (1 − f_c) m_c/(m_c − 1) Σ (z − z̄_c)² (0 below two scores)."""
    n_cells = len(frame.cell_ids)
    m = frame.scored
    big_n = frame.population
    sums = np.bincount(frame.code, weights=z, minlength=n_cells)
    with np.errstate(divide="ignore", invalid="ignore"):
        zbar = np.where(m > 0, sums / np.maximum(m, 1), 0.0)
        f = np.where(big_n > 0, (big_n - m) / np.maximum(big_n, 1), 0.0) if frame.fpc else np.ones(n_cells)
    dev = z - zbar[frame.code]
    ss = np.bincount(frame.code, weights=dev * dev, minlength=n_cells)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(m > 1, f * m / np.maximum(m - 1, 1) * ss, 0.0)
    return sums, f, terms


def stratified_variance(
    frame: ScoredFrame, z: np.ndarray, touched: np.ndarray, lonely: LonelyCell
) -> tuple[float, tuple[str, ...]]:
    """Σ_c (1 − f_c) m_c/(m_c − 1) Σ (z − z̄_c)² over cells; lonely cells per `lonely`.

    `touched` marks the traces of the domain(s): a lonely cell only matters (and only
    raises under ERROR) when it holds one of them, as in R where the domain's subset
    design never visits other strata.
    """
    n_cells = len(frame.cell_ids)
    m = frame.scored
    sums, f, regular = _terms(frame, z)
    variance = float(regular.sum())

    touched_cells = np.bincount(frame.code[touched], minlength=n_cells) > 0 if touched.any() else np.zeros(n_cells, bool)
    lonely_mask = (m == 1) & (f >= 1e-7) & touched_cells
    lonely_ids = tuple(frame.cell_ids[i] for i in np.flatnonzero(lonely_mask))
    if lonely_ids:
        if lonely is LonelyCell.ERROR:
            raise EstimationError(
                "cell has a single score, so no variance (set the lonely-cell policy to 'adjust' or 'certainty')",
                field=lonely_ids[0],
            )
        if lonely is LonelyCell.ADJUST:
            # R 4.x centers a lonely PSU's total at 0, the overall mean of the influence values.
            variance += float((f[lonely_mask] * sums[lonely_mask] ** 2).sum())
    return variance, lonely_ids


def satterthwaite_df(frame: ScoredFrame, z: np.ndarray) -> float:
    """Satterthwaite's degrees of freedom of `stratified_variance`: (Σ v_c)² / Σ v_c²/(m_c − 1).

    Small when a few thinly judged cells carry most of the variance (inf without variance).
    """
    m = frame.scored
    _, _, v = _terms(frame, z)
    with np.errstate(divide="ignore", invalid="ignore"):
        denominator = float(np.where(m > 1, v * v / np.maximum(m - 1, 1), 0.0).sum())
    return float(v.sum()) ** 2 / denominator if denominator > 0 else math.inf


@dataclass(frozen=True)
class StratifiedEstimator:
    """The stratified estimator over the design's cells (see the module docstring).

    `interval` None picks per data: Korn–Graubard when every value is 0/1, else a t
    interval with df = scored traces − cells.
    """

    lonely: LonelyCell = LonelyCell.ADJUST
    interval: IntervalMethod | None = None

    def estimate(
        self,
        design: Design,
        values: Mapping[str, float],
        *,
        confidence: float = 0.95,
        cells: Collection[str] | None = None,
        domain: Collection[str] | None = None,
    ) -> Estimate:
        """The mean over `cells` (default: all) and, inside them, the traces in `domain`."""
        frame = ScoredFrame.build(design, values)
        return self.estimate_frame(frame, design, confidence=confidence, cells=cells, domain=domain)

    def estimate_frame(
        self,
        frame: ScoredFrame,
        design: Design,
        *,
        confidence: float = 0.95,
        cells: Collection[str] | None = None,
        domain: Collection[str] | None = None,
        interval: IntervalMethod | None = None,
    ) -> Estimate:
        d = frame.mask(domain, cells)
        fit = domain_fit(frame, d)
        scope = [c for c in design.cells if cells is None or c.id in cells]
        total = sum(c.population for c in scope)
        position = {cid: i for i, cid in enumerate(frame.cell_ids)}
        empty = tuple(c.id for c in scope if frame.scored[position[c.id]] == 0 and c.population > 0)
        method = interval or self.interval or (
            IntervalMethod.KORN_GRAUBARD if is_rate(frame.y[d].tolist()) else IntervalMethod.T
        )
        if method is IntervalMethod.WILSON_EFFECTIVE and fit.weights_equal:
            method = IntervalMethod.WILSON  # one weight: the effective n is the count
        if fit.n == 0:
            low, high = (0.0, 1.0) if method is not IntervalMethod.T else (math.nan, math.nan)
            return Estimate(math.nan, math.nan, low, high, 0, method, 0.0, confidence, 0.0, total, 0, empty)
        variance, lonely = stratified_variance(frame, fit.z, d, self.lonely)
        df = float(max(1, fit.n - fit.cells))
        se = math.sqrt(variance)
        low, high = _interval(method, fit, variance, df, confidence, frame.fpc)
        census = frame.fpc and fit.population - fit.n <= 1e-9 * fit.population
        per_row = frame.fpc and domain is None and method in (IntervalMethod.WILSON, IntervalMethod.WILSON_EFFECTIVE)
        if method is not IntervalMethod.T and (census or per_row):  # Korn–Graubard stays R's, except a census
            low, high = within_known(low, high, fit.mean, float(frame.y[d].sum()), fit.population, fit.n)
        return Estimate(
            fit.mean, se, low, high, fit.n, method, df, confidence, fit.population, total, fit.cells, empty, lonely
        )

    def contrast(
        self,
        frame: ScoredFrame,
        group_a: Collection[str],
        group_b: Collection[str],
        *,
        confidence: float = 0.95,
        cells: Collection[str] | None = None,
    ) -> tuple[float, float, float, float, float]:
        """Mean of B minus mean of A (inside `cells`): (delta, se, low, high, df), t interval."""
        da, db = frame.mask(group_a, cells), frame.mask(group_b, cells)
        fa, fb = domain_fit(frame, da), domain_fit(frame, db)
        if fa.n == 0 or fb.n == 0:
            return math.nan, math.nan, math.nan, math.nan, 0.0
        variance, _ = stratified_variance(frame, fb.z - fa.z, da | db, self.lonely)
        both = da | db
        df = float(max(1, int(both.sum()) - len(np.unique(frame.code[both]))))
        delta, se = fb.mean - fa.mean, math.sqrt(variance)
        low, high = t_interval(delta, se, df, confidence=confidence)
        return delta, se, low, high, df


def within_known(
    low: float, high: float, mean: float, successes: float, population: float, n: int
) -> tuple[float, float]:
    """A rate's interval cut to what the judged traces already fix: the fpc at the edges.

    Of the P traces the estimate covers (whole cells), n are judged with `successes`
    among them, so the rate lies in [successes/P, (successes + P − n)/P] whatever the
    rest are. A census (n = P) is a point; 89 of 90 judged, all true, is at least 89/90.
    """
    if population <= 0:
        return low, high
    lower = successes / population
    upper = (successes + population - n) / population
    return min(max(low, lower), mean), max(min(high, upper), mean)


def _interval(
    method: IntervalMethod, fit: DomainFit, variance: float, df: float, confidence: float, fpc: bool = True
) -> tuple[float, float]:
    if method in (IntervalMethod.KORN_GRAUBARD, IntervalMethod.KORN_GRAUBARD_TRUNCATED):
        truncate = method is IntervalMethod.KORN_GRAUBARD_TRUNCATED
        return korn_graubard(fit.mean, variance, fit.n, df, confidence=confidence, truncate=truncate)
    if method is IntervalMethod.WILSON:
        return wilson(fit.mean, fit.n, confidence=confidence)
    if method is IntervalMethod.WILSON_EFFECTIVE:
        # no more information than a simple random sample of the same size (with its fpc)
        fraction = fit.n / fit.population if fit.population > 0 and fpc else 0.0
        cap = fit.n / (1.0 - fraction) if fraction < 1.0 else math.inf
        return wilson_effective(fit.mean, variance, fit.kish_n, confidence=confidence, cap=cap)
    if method is IntervalMethod.T:
        return t_interval(fit.mean, math.sqrt(variance), df, confidence=confidence)
    raise EstimationError(f"interval method {method.value!r} does not apply to a design-based estimate")


def naive_estimate(values: Collection[float], *, confidence: float = 0.95, rate: bool | None = None) -> Estimate:
    """The plain unweighted mean of the scored sample, as if it were a simple random sample.

    Shown next to the weighted estimate so the effect of the design is visible; Wilson
    for rates, t (df = n − 1) for means.
    """
    y = np.asarray(list(values), dtype=float)
    n = len(y)
    rate = is_rate(y.tolist()) if rate is None else rate
    method = IntervalMethod.WILSON if rate else IntervalMethod.T
    if n == 0:
        return Estimate(math.nan, math.nan, *(0.0, 1.0) if rate else (math.nan, math.nan), 0, method, 0.0,
                        confidence, 0.0, 0)
    mean = float(y.mean())
    se = float(y.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    if rate:
        low, high = wilson(mean, n, confidence=confidence)
        se = math.sqrt(mean * (1 - mean) / n)
    else:
        low, high = t_interval(mean, se, n - 1, confidence=confidence) if n > 1 else (math.nan, math.nan)
    return Estimate(mean, se, low, high, n, method, float(max(n - 1, 0)), confidence, float(n), n)


@dataclass(frozen=True)
class UnequalFrame(ScoredFrame):
    """A `ScoredFrame` of a design with unequal π inside cells (`[sampling] weight`): `weight` holds
    the calibrated Hájek weights and `unit_fpc` each scored trace's 1 − f of its part of the cell,
    0 for π = 1 when all the cell's π = 1 traces were scored; `certain` marks the π = 1 traces, a
    stratum of their own in the descriptive variance (`estimate.unequal`)."""

    unit_fpc: np.ndarray = field(default_factory=lambda: np.zeros(0))
    certain: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


def _terms(frame: ScoredFrame, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`_cell_terms`, or for unequal π inside cells the with-replacement form (`unequal.cell_terms`)."""
    if isinstance(frame, UnequalFrame):  # an analytic frame drops the finite-population factors: c_i = 1
        fpc = frame.unit_fpc if frame.fpc else np.ones(len(frame.unit_fpc))
        certain = frame.certain if frame.fpc and len(frame.certain) == len(fpc) else None
        return unequal_cell_terms(frame.code, z, frame.weight, fpc, frame.scored, certain)
    return _cell_terms(frame, z)
