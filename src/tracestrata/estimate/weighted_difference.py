"""The difference (proxy-assisted) estimator for a design with unequal π inside cells.

`report --proxy FIELD` on a sample drawn with `[sampling] weight`: the judged traces
of a cell are no longer a simple random sample of it, so `estimate.proxy` (built on
per-cell SRS means) does not apply; this estimator uses each trace's calibrated weight
(`estimate.unequal`) instead:

    Ŷ = λ·P̄ + Σ_i g_i (M_i − λ P_i) / Σ_i g_i

unbiased (to the order of the Hájek ratio) for every fixed λ because P̄, the proxy's
population mean, is known from the manifest's totals. Its variance is the design's
variance of M − λP (`estimate.unequal`, via `estimators.stratified_variance`). One λ, chosen to
minimise that variance (λ = Ĉov(z_M, z_P)/V̂(z_P)), costs one degree of freedom.
Weighting by the proxy's uncertainty pays off here: the residual M − P varies most
where the proxy is unsure, which is where the weighted design judges most.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from tracestrata.estimate.estimators import LonelyCell, ScoredFrame, domain_fit, stratified_variance
from tracestrata.estimate.proxy import ProxyData, ProxyFit

__all__ = ["DifferenceFit", "difference_unequal", "unequal_proxy_fit"]


@dataclass(frozen=True)
class DifferenceFit:
    """The difference estimate λ·P̄ + Hájek mean of (M − λP), its linearized values and variance."""

    mean: float
    variance: float
    lam: float
    n: int
    cells: int
    lonely_cells: tuple[str, ...]


def difference_unequal(
    frame: ScoredFrame,
    p: np.ndarray,
    known_mean: float,
    d: np.ndarray,
    *,
    lonely: LonelyCell | None = None,
    lam: float | None = None,
) -> DifferenceFit:
    """The difference (proxy-assisted) estimator of the mean over the cells `d` covers, for any
    weights of `frame` (unequal π inside cells included).

    `p`: the proxy of each scored trace (a missing one already filled with its cell's known
    mean); `known_mean`: the proxy's population mean over those cells (from the manifest's
    totals). λ, unless given, minimises the estimated variance of the mean,
    λ = Ĉov(z_M, z_P) / V̂(z_P) in the design's own variance (`stratified_variance`), one λ
    for the domain; M − λP is then estimated like any metric, so its variance is the
    design's (with-replacement times the cell's 1 − f under weighting, SRSWOR otherwise).
    """
    lonely = LonelyCell.ADJUST if lonely is None else lonely
    fit_y = domain_fit(frame, d)
    if fit_y.n == 0:
        return DifferenceFit(math.nan, math.nan, math.nan, 0, 0, ())
    if lam is None:
        z_p = domain_fit(replace(frame, y=p), d).z
        v_p, _ = stratified_variance(frame, z_p, d, LonelyCell.CERTAINTY)
        v_yp, _ = stratified_variance(frame, fit_y.z + z_p, d, LonelyCell.CERTAINTY)
        v_y, _ = stratified_variance(frame, fit_y.z, d, LonelyCell.CERTAINTY)
        lam = (v_yp - v_y - v_p) / (2.0 * v_p) if v_p > 0 else 0.0
    residual = domain_fit(replace(frame, y=frame.y - lam * p), d)
    variance, lonely_cells = stratified_variance(frame, residual.z, d, lonely)
    return DifferenceFit(lam * known_mean + residual.mean, variance, lam, residual.n, residual.cells, lonely_cells)


def unequal_proxy_fit(frame: ScoredFrame, data: ProxyData, d: np.ndarray, *, lam: float | None = None) -> ProxyFit:
    """`proxy.difference_fit` for a frame with unequal π inside cells: what `report --proxy FIELD`
    runs on a weighted sample. A trace without the proxy takes its cell's known mean (so the
    filled proxy's population mean is still known); one λ, pooled over every judged trace
    (a stratum row reuses it: tuned on a few dozen traces it under-covers)."""
    n_cells = len(frame.cell_ids)
    with np.errstate(divide="ignore", invalid="ignore"):
        cell_mean = np.where(data.known_n > 0, data.known_sum / np.maximum(data.known_n, 1), 0.0)
    p = np.where(np.isnan(data.p), cell_mean[frame.code], data.p)
    touched = np.bincount(frame.code[d], minlength=n_cells) > 0
    covered = float(frame.population[touched].sum())
    if not d.any() or covered <= 0:
        return ProxyFit(math.nan, np.zeros(len(d)), {}, 0, 0, 0.0, 0)
    known = float((frame.population * cell_mean)[touched].sum()) / covered
    if lam is None:
        everything = np.ones(len(d), dtype=bool)
        lam = difference_unequal(frame, p, 0.0, everything).lam  # λ does not depend on the known mean
        slopes = 1
    else:
        slopes = 0
    residual = domain_fit(replace(frame, y=frame.y - lam * p), d)
    return ProxyFit(lam * known + residual.mean, residual.z, {"(all)": lam}, residual.n, residual.cells,
                    covered, slopes)
