"""Proxy-assisted estimates: a cheap score known on every trace narrows the interval.

**Difference (regression) estimator.** A proxy P (a heuristic, an online evaluator)
is known on every trace, so each cell's population mean P̄_c is known exactly from the
manifest's totals. The judged traces of a cell are an SRS of it, so

    Ȳ_c ≈ λ·P̄_c + mean over the judged traces of (M − λ·P)

is unbiased for every fixed λ, and its variance is the plain one with M replaced by
the residual M − λ·P: the better P tracks M inside the cells, the smaller it is. λ is
tuned from the judged traces to minimise the variance of the reported mean,

    λ = Σ_s a_s Cov_s(M, P) / Σ_s a_s Var_s(P),   a_s = W_s² (1 − m_s/N_s) / m_s,

pooled over the cells of a `Tuning` group (one λ per cell, per reporting stratum, or
one for all). Per cell it is the separate regression (GREG) estimator, which is R's
`calibrate()` on cell counts and cell proxy totals. A proxy that does not track M gets
λ ≈ 0 (the plain estimate, up to noise); one that is anti-correlated gets λ < 0.

**Missing proxies.** A trace without the proxy takes its cell's known proxy mean P̄_c
(over the traces that have it, from the totals). The filled proxy's population mean is
then P̄_c exactly, so the estimator stays unbiased for every λ; the traces without it
just gain nothing from it. A cell where no trace has the proxy gets λ = 0.

**Variance.** Linearized as R does for a calibrated design: each judged trace
contributes its calibration weight (the weight the estimate actually gives it, λ's
dependence on M included) times its residual; the stratified variance over the
design cells with the finite-population correction then follows
(`estimators.stratified_variance`). The t interval has df = judged − cells − slopes.

**Two-phase (a human metric, the judge as proxy).** Phase 1 is the judged sample, an
SRS of m_c from N_c in every cell; phase 2 the human-reviewed subsample, an SRS of r_c
of the m_c. The judge score J is known on all of phase 1, so the mean of the human
label H over the judged traces of a cell is estimated by the difference estimator
above with the *judged* traces as the population (N := m_c, totals of J known), and
then weighted up to the population:

    Ŷ = Σ_c W_c [λ J̄_c + mean over reviewed of (H − λJ)]
    V̂ = Σ_c W_c² (1 − m_c/N_c) s²_H,c / m_c  +  V̂_2 (the difference estimator's variance, fpc 1 − r_c/m_c)

The first term is the phase-1 variance (what the estimate would vary by if every
judged trace were reviewed), estimated from the reviewed ones; leaving it out
under-covers badly. This corrects the judge's bias in every cell, however biased it is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np

from tracestrata.errors import EstimationError
from tracestrata.estimate.estimators import LonelyCell, ScoredFrame, stratified_variance

__all__ = [
    "ProxyData",
    "ProxyFit",
    "Tuning",
    "difference_fit",
    "lambda_groups",
    "twophase_fit",
]


class Tuning(str, Enum):
    """Which cells share one λ.

    CELL     one per cell: the separate regression estimator (R's `calibrate` per cell);
             its small-sample bias adds up over many small cells.
    STRATUM  one per reporting stratum, pooled over its cells. Measured: its variance
             estimate runs ~9% low in SE on a 7-stratum design (coverage 0.93).
    POOLED   one for all cells in scope (the default; a per-stratum row is its own
             scope, so it still gets a λ of its own): se/sd 1.00, coverage 0.96.
    """

    CELL = "cell"
    STRATUM = "stratum"
    POOLED = "pooled"


@dataclass(frozen=True)
class ProxyData:
    """The proxy on the frame's scored traces (NaN where missing) and its known totals per cell."""

    p: np.ndarray
    known_n: np.ndarray  # per cell: traces of the population that have the proxy
    known_sum: np.ndarray  # per cell: the sum of their proxy values


@dataclass(frozen=True)
class ProxyFit:
    """Point estimate, influence values and tuning of one proxy-assisted mean."""

    mean: float
    z: np.ndarray  # influence of each scored trace on the mean (0 outside the domain)
    lambdas: Mapping[str, float]  # λ by tuning group (groups with judged traces)
    n: int  # judged traces used
    cells: int  # cells holding them
    population: float  # Σ N_c over those cells
    slopes: int  # λs estimated from the data (each costs a degree of freedom)


def lambda_groups(cell_ids: Sequence[str], strata: Sequence[str], tuning: Tuning) -> tuple[np.ndarray, list[str]]:
    """(group index per cell, group names) for `tuning`."""
    if tuning is Tuning.CELL:
        names = list(cell_ids)
    elif tuning is Tuning.STRATUM:
        names = sorted(set(strata))
    else:
        names = ["(all)"]
    position = {name: i for i, name in enumerate(names)}
    keys = cell_ids if tuning is Tuning.CELL else strata if tuning is Tuning.STRATUM else ["(all)"] * len(cell_ids)
    return np.array([position[k] for k in keys], dtype=np.intp), names


@dataclass(frozen=True)
class _PostStrata:
    """The judged traces of a fit split into post-strata: 2c is cell c when it has the proxy,
    2c + 1 cell c when it has none (λ = 0 there). Arrays by trace (`sub`, `dy`, `dp`, `use_unit`)
    or by post-stratum (`omega`, `m_s`, `ybar`, `pbar`, `known_mean`, `size`)."""

    sub: np.ndarray
    use_unit: np.ndarray
    omega: np.ndarray  # each post-stratum's weight in the mean
    size: np.ndarray
    m_s: np.ndarray
    ybar: np.ndarray
    pbar: np.ndarray
    known_mean: np.ndarray
    dy: np.ndarray
    dp: np.ndarray
    p: np.ndarray


def _post_strata(frame: ScoredFrame, proxy: ProxyData, d: np.ndarray, weight_c: np.ndarray) -> _PostStrata:
    n_cells = len(frame.cell_ids)
    code, y, p = frame.code[d], frame.y[d], proxy.p[d]
    present = ~np.isnan(p)
    m_c = np.bincount(code, minlength=n_cells).astype(float)
    m_present = np.bincount(code[present], minlength=n_cells).astype(float)
    known_n = proxy.known_n.astype(float)
    big_n = frame.population
    if np.any(m_present > known_n):
        bad = int(np.argmax(m_present > known_n))
        raise EstimationError(
            f"{int(m_present[bad])} judged traces have the proxy but the totals count {int(known_n[bad])}",
            field=frame.cell_ids[bad],
        )
    # a trace without the proxy takes its cell's known proxy mean: the filled proxy's
    # population mean is still known exactly (the same P̄_c), so the estimator stays
    # unbiased for every λ, and no cell is split into post-strata too small to carry
    # their own variance (measured: splitting under-covered, 0.914, when the proxy is
    # missing more often where the metric is low)
    uses = (m_c > 0) & (known_n > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cell_known_mean = np.where(known_n > 0, proxy.known_sum / np.maximum(known_n, 1), 0.0)
    p = np.where(present, p, cell_known_mean[code])
    total_weight = float(weight_c[m_c > 0].sum())

    use_unit = uses[code]
    sub = 2 * code + np.where(use_unit, 0, 1)
    n_sub = 2 * n_cells
    size = np.zeros(n_sub)
    size[0::2] = np.where(uses, big_n, 0.0)
    size[1::2] = np.where(uses, 0.0, big_n)
    omega = np.zeros(n_sub)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(big_n > 0, weight_c / np.maximum(big_n, 1e-300), 0.0) / total_weight
    omega[0::2] = share * size[0::2]
    omega[1::2] = share * size[1::2]
    m_s = np.bincount(sub, minlength=n_sub).astype(float)
    pz = np.where(use_unit, p, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ybar = np.bincount(sub, weights=y, minlength=n_sub) / np.maximum(m_s, 1)
        pbar = np.bincount(sub, weights=pz, minlength=n_sub) / np.maximum(m_s, 1)
        known_mean = np.zeros(n_sub)
        known_mean[0::2] = np.where(uses, cell_known_mean, 0.0)
    dy = y - ybar[sub]
    dp = np.where(use_unit, p - pbar[sub], 0.0)
    return _PostStrata(sub, use_unit, omega, size, m_s, ybar, pbar, known_mean, dy, dp, p)


def difference_fit(
    frame: ScoredFrame,
    proxy: ProxyData,
    d: np.ndarray,
    groups: np.ndarray,
    group_names: Sequence[str],
    *,
    cell_weight: np.ndarray | None = None,
    lam: float | None = None,
    folds: int = 0,
) -> ProxyFit:
    """The difference estimator of the mean over the cells that `d` (a union of cells) touches.

    `frame.population` is the population of each cell in this phase and
    `frame.scored` its sample size; `cell_weight` the weight of each cell in the mean
    (default: its population); `lam` fixes λ everywhere instead of tuning it.
    """
    n_cells = len(frame.cell_ids)
    weight_c = frame.population if cell_weight is None else np.asarray(cell_weight, dtype=float)
    y = frame.y[d]
    n = len(y)
    if n == 0:
        return ProxyFit(math.nan, np.zeros(len(d)), {}, 0, 0, 0.0, 0)
    ps = _post_strata(frame, proxy, d, weight_c)
    sub, use_unit, omega, m_s, dy, dp = ps.sub, ps.use_unit, ps.omega, ps.m_s, ps.dy, ps.dp
    n_sub = 2 * n_cells

    # λ per group, minimising Σ_s ω_s² (1 − m_s/N_s) Var_s(M − λP) / m_s
    sub_group = np.repeat(groups, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        fpc = np.where(ps.size > 0, 1.0 - m_s / np.maximum(ps.size, 1e-300), 0.0)
        a = np.where(m_s > 1, omega**2 * np.maximum(fpc, 0.0) / np.maximum(m_s, 1) / np.maximum(m_s - 1, 1), 0.0)
    a_unit = a[sub]
    n_groups = len(group_names)
    unit_group = sub_group[sub]
    cov = np.bincount(unit_group, weights=a_unit * dp * dy, minlength=n_groups)
    var = np.bincount(unit_group, weights=a_unit * dp * dp, minlength=n_groups)
    fitted = var > 0
    if lam is None:
        lam_g = np.where(fitted, cov / np.where(fitted, var, 1.0), 0.0)
        slopes = int(fitted.sum())
    else:
        lam_g = np.full(n_groups, float(lam))
        slopes = 0
    lam_unit = np.where(use_unit, lam_g[unit_group], 0.0)

    # the estimate and the weight it gives each judged trace (λ's dependence on M included)
    adjust = np.zeros(n_sub)
    adjust[0::2] = ps.known_mean[0::2] - ps.pbar[0::2]
    sub_est = ps.ybar + lam_g[sub_group] * adjust
    mean = float((omega * np.where(m_s > 0, sub_est, 0.0)).sum())
    u = omega[sub] / m_s[sub]
    if lam is None:
        k_g = np.bincount(sub_group, weights=omega * adjust, minlength=n_groups)
        with np.errstate(divide="ignore", invalid="ignore"):
            c = np.where(fitted[unit_group], a_unit * dp / np.where(fitted, var, 1.0)[unit_group], 0.0)
        u = u + k_g[unit_group] * c
    residual = dy - lam_unit * dp
    if lam is None and folds > 1:
        mean, u, residual = _crossfit(y, ps.p, use_unit, sub, unit_group, a_unit, omega, m_s, ps.known_mean, folds,
                                      n_sub, n_groups)
    z = np.zeros(len(d))
    z[d] = u * residual
    touched = np.bincount(unit_group, minlength=n_groups) > 0
    lambdas = {group_names[g]: float(lam_g[g]) for g in np.flatnonzero(touched)}
    active = np.bincount(frame.code[d], minlength=n_cells) > 0
    return ProxyFit(mean, z, lambdas, n, int(active.sum()), float(frame.population[active].sum()), slopes)


def _crossfit(
    y: np.ndarray,
    p: np.ndarray,
    use_unit: np.ndarray,
    sub: np.ndarray,
    unit_group: np.ndarray,
    a_unit: np.ndarray,
    omega: np.ndarray,
    m_s: np.ndarray,
    known_mean: np.ndarray,
    folds: int,
    n_sub: int,
    n_groups: int,
) -> tuple[float, np.ndarray, np.ndarray]:
    """Cross-fitted estimate: each trace's λ is tuned on the other folds of the judged traces.

    A λ tuned on the same traces it corrects is correlated with their proxy mean, a
    bias of order 1/m that adds up over cells (measured: 8 Monte Carlo SEs on a rate).
    With λ from the other folds the correction term has expectation ~0 for every λ.
    Folds are the rank of a trace inside its post-stratum modulo `folds` (the sample
    order is already random), so the estimate is deterministic.
    """
    order = np.argsort(sub, kind="stable")
    rank = np.empty(len(sub), dtype=np.intp)
    starts = np.searchsorted(sub[order], sub[order])
    rank[order] = np.arange(len(sub)) - starts
    fold = rank % folds
    pz = np.where(use_unit, p, 0.0)
    lam_unit = np.zeros(len(y))
    for k in range(folds):
        keep = fold != k
        cnt = np.bincount(sub[keep], minlength=n_sub).astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            yb = np.bincount(sub[keep], weights=y[keep], minlength=n_sub) / np.maximum(cnt, 1)
            pb = np.bincount(sub[keep], weights=pz[keep], minlength=n_sub) / np.maximum(cnt, 1)
        dyk = np.where(keep, y - yb[sub], 0.0)
        dpk = np.where(keep & use_unit, pz - pb[sub], 0.0)
        cov = np.bincount(unit_group, weights=a_unit * dpk * dyk, minlength=n_groups)
        var = np.bincount(unit_group, weights=a_unit * dpk * dpk, minlength=n_groups)
        lam_k = np.where(var > 0, cov / np.where(var > 0, var, 1.0), 0.0)
        lam_unit = np.where(fold == k, np.where(use_unit, lam_k[unit_group], 0.0), lam_unit)
    # e_i = M_i − λ_i (P_i − P̄_c): the estimate of a cell is exactly the mean of its e_i, and e
    # is centred at the known proxy mean, so traces of two folds (two λs) do not differ by
    # (λ_1 − λ_2)·P̄_c. Centring at 0 instead (M − λ_i P) put that level into the residuals:
    # intervals 4-8% wider than the estimate's spread globally, 11-15% for a 54-trace
    # stratum, with a proxy on a 1-5 scale (tests/simulation/test_proxy_widths.py).
    e = y - lam_unit * (pz - known_mean[sub])
    with np.errstate(divide="ignore", invalid="ignore"):
        ebar = np.bincount(sub, weights=e, minlength=n_sub) / np.maximum(m_s, 1)
    mean = float((omega * np.where(m_s > 0, ebar, 0.0)).sum())
    return mean, omega[sub] / m_s[sub], e - ebar[sub]


@dataclass(frozen=True)
class TwoPhaseFit:
    """The two-phase estimate of a human metric with its two variance components."""

    fit: ProxyFit  # the phase-2 difference fit (its mean is the two-phase estimate)
    variance: float
    phase1_variance: float
    phase2_variance: float
    reviewed: int
    lonely_cells: tuple[str, ...]


def twophase_fit(
    phase1: ScoredFrame,
    judge: np.ndarray,
    human: np.ndarray,
    d: np.ndarray,
    groups: np.ndarray,
    group_names: Sequence[str],
    *,
    lonely: LonelyCell = LonelyCell.ADJUST,
    lam: float | None = None,
) -> TwoPhaseFit:
    """Two-phase difference estimate of the mean of `human` (NaN where not reviewed).

    `phase1` is the frame of judged traces (its `y` is unused; `judge` holds their
    judge score), `d` a union of cells. See the module docstring for the formulas.
    """
    n_cells = len(phase1.cell_ids)
    reviewed = d & ~np.isnan(human)
    code1 = phase1.code
    judged_c = np.bincount(code1[d], minlength=n_cells).astype(float)
    judge_sum = np.bincount(code1[d], weights=judge[d], minlength=n_cells)
    code2 = code1[reviewed]
    r_c = np.bincount(code2, minlength=n_cells).astype(float)
    phase2 = ScoredFrame(
        trace_ids=tuple(np.asarray(phase1.trace_ids, dtype=object)[reviewed].tolist()),
        cell_ids=phase1.cell_ids,
        code=code2,
        y=human[reviewed],
        population=judged_c,
        scored=r_c,
        weight=np.zeros(len(code2)),
    )
    d2 = np.ones(len(code2), dtype=bool)
    fit = difference_fit(
        phase2, ProxyData(judge[reviewed], judged_c, judge_sum), d2, groups, group_names,
        cell_weight=phase1.population, lam=lam,
    )
    if fit.n == 0:
        return TwoPhaseFit(fit, math.nan, math.nan, math.nan, 0, ())
    v2, lonely_ids = stratified_variance(phase2, fit.z, d2, lonely)
    # phase 1: Σ W_c² (1 − m_c/N_c) s²_H,c / m_c over cells with reviews
    active = r_c > 0
    big_n = phase1.population
    w = np.where(active, big_n, 0.0) / float(big_n[active].sum())
    h = human[reviewed]
    hbar = np.bincount(code2, weights=h, minlength=n_cells) / np.maximum(r_c, 1)
    ss = np.bincount(code2, weights=(h - hbar[code2]) ** 2, minlength=n_cells)
    pooled = float(np.var(h, ddof=1)) if len(h) > 1 else 0.0
    s2 = np.where(r_c > 1, ss / np.maximum(r_c - 1, 1), pooled if lonely is LonelyCell.ADJUST else 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(big_n > 0, judged_c / np.maximum(big_n, 1e-300), 1.0) if phase1.fpc else np.zeros(n_cells)
        v1_c = np.where(active & (judged_c > 0), w**2 * (1.0 - f1) * s2 / np.maximum(judged_c, 1), 0.0)
    v1 = float(v1_c.sum())
    return TwoPhaseFit(fit, v1 + v2, v1, v2, int(reviewed.sum()), lonely_ids)
