"""Two-phase estimation (`report --proxy score:NAME`) on a sample drawn with `[sampling] weight`.

**Design.** Phase 1 is the judged sample, drawn by priority sampling inside each cell c with
its own π_1i (`estimate.unequal`: Hájek weights g_i = N_c (1/π_1i) / Σ_{s1,c} 1/π_1j, so
Σ_{s1,c} g = N_c). Phase 2 is the human-reviewed subsample, drawn *inside* phase 1: a simple
random sample of r_c of the m_c judged traces of each cell (`samplers.draw_review`; a
reviewer who stops early leaves a random prefix), so π_2i|1 = r_c / m_c. The judge J is known
on all of phase 1, the human label H on phase 2.

**Estimator** (the two-phase regression estimator, Särndal, Swensson & Wretman 1992, §9.7;
R's `twophase()` + `calibrate(phase = 2, ~ 0 + cell + J)`): phase-2 weights
d_i = g_i m_c / r_c are calibrated to the phase-1 totals of x = (cell indicators, J),
X̂_1 = Σ_{s1} g_i x_i, by the linear (GREG) adjustment

    w_i = d_i (1 + (X̂_1 − Σ_{s2} d x)ᵀ T⁻¹ x_i),   T = Σ_{s2} d_i x_i x_iᵀ,

    Ŷ = Σ_{s2} w_i H_i = Σ_c N_c (H̄ʷ_c − λ J̄ʷ_c) + λ Σ_{s1} g_i J_i

(H̄ʷ, J̄ʷ the g-weighted means of the reviewed traces of c; λ the pooled within-cell weighted
slope of H on J): the judge's level is corrected in every cell, however biased it is.

**Variance** V̂ = V̂_1 + V̂_2, over N²:

  - phase 2 (given phase 1, an SRS of r_c of m_c): Σ_c (1 − r_c/m_c) Σ_{s2,c} u_i² / (1 − h_i),
    u_i = w_i e_i, e = H − x B̂ the GREG residual (SSW (9.7.23)), h_i = d_i x_iᵀ T⁻¹ x_i its
    leverage in the d-weighted fit. Each squared residual is scaled by 1/(1 − h_i), as in the
    leverage-adjusted GREG variance of Valliant (2002, Survey Methodology 28, 103–114; the
    HC2 form of MacKinnon & White 1985), which approximates the jackknife: a fitted residual
    is smaller than the error it stands for, by 1 − h_i on average. With 10–30 reviews a cell
    and the pooled slope the plain linearized form, Σ_c (1 − r_c/m_c) r_c/(r_c − 1)
    Σ_{s2,c} (u_i − ū_c)² (what R's `twophase()` + `calibrate()` computes), ran 6–7% below
    the phase-2 variance it estimates (tests/simulation/test_weighted_twophase.py). For a
    cell mean alone (equal g, intercepts only) h_i = 1/r_c and the two forms are equal;
  - phase 1 (what the estimate would vary by were every judged trace reviewed): the weighted
    design's own variance of the Hájek total Σ_{s1} g H (with replacement times the cell's
    1 − f_c, the π = 1 traces a part of their own: `unequal.cell_terms`, the same code as the
    single-phase estimate), computed over the reviewed traces of c on z_i = g_i (H_i − H̄ʷ_c) and
    expanded by m_c/r_c — its s² over the reviewed is unbiased for its s² over the judged, since
    the reviewed are an SRS of them (SSW (9.3.8) with the phase-2 expansion). An analytic frame
    drops the factors 1 − f_c. Simulated, this term is 0.99–1.02 of the variance over draws of
    the all-reviewed Hájek estimate it stands for (so the SE's shortfall was not phase 1's).

Descriptive with the finite-population factors (this window's traces); an analytic frame
(`ScoredFrame.analytic()`) drops the phase-1 factor 1 − f_c, not the phase-2 one (the reviewed
traces are a subsample of a fixed judged sample either way). Cross-checked against R
(tests/crosscheck/test_weighted_twophase_r.py), simulated in
tests/simulation/test_weighted_twophase.py.
"""

from __future__ import annotations

import math

import numpy as np

from tracestrata.estimate.estimators import LonelyCell, UnequalFrame
from tracestrata.estimate.proxy import ProxyFit, TwoPhaseFit
from tracestrata.estimate.unequal import cell_terms

__all__ = ["twophase_unequal"]


def twophase_unequal(
    phase1: UnequalFrame,
    judge: np.ndarray,
    human: np.ndarray,
    d: np.ndarray,
    *,
    lonely: LonelyCell = LonelyCell.ADJUST,
    lam: float | None = None,
) -> TwoPhaseFit:
    """The two-phase estimate of the mean of `human` (NaN where not reviewed) over the cells `d`
    covers, for a phase 1 drawn with unequal π (`phase1.weight` = g). `lam` fixes the slope (a
    stratum row reuses the global one)."""
    n_cells = len(phase1.cell_ids)
    code1, g = phase1.code, phase1.weight
    reviewed = d & ~np.isnan(human)
    code2 = code1[reviewed]
    m_c = np.bincount(code1[d], minlength=n_cells).astype(float)
    r_c = np.bincount(code2, minlength=n_cells).astype(float)
    active = r_c > 0
    n_cov = float(phase1.population[active].sum())
    empty = ProxyFit(math.nan, np.zeros(len(d)), {}, 0, 0, 0.0, 0)
    if not active.any() or n_cov <= 0:
        return TwoPhaseFit(empty, math.nan, math.nan, math.nan, 0, ())
    h, j, g2 = human[reviewed], judge[reviewed], g[reviewed]
    in1 = d & active[code1]
    d2 = g2 * (m_c / np.maximum(r_c, 1))[code2]  # phase-2 weights before calibration
    cols = np.flatnonzero(active)
    index = np.full(n_cells, -1)
    index[cols] = np.arange(len(cols))
    x2 = np.zeros((len(h), len(cols) + 1))
    x2[np.arange(len(h)), index[code2]] = 1.0
    x2[:, -1] = j
    totals1 = np.zeros(len(cols) + 1)
    totals1[:-1] = np.bincount(index[code1[in1]], weights=g[in1], minlength=len(cols))
    totals1[-1] = float((g[in1] * judge[in1]).sum())
    slopes = 1
    if lam is not None or np.ptp(j) == 0:  # a fixed slope, or a judge without spread: intercepts only
        lam_fixed = 0.0 if lam is None else lam
        slopes = 0
        y_adj = h - lam_fixed * j
        x_fit = x2[:, :-1]
        t_fit = totals1[:-1]
    else:
        y_adj, x_fit, t_fit = h, x2, totals1
    tmat = x_fit.T @ (d2[:, None] * x_fit)
    coef = np.linalg.lstsq(tmat, x_fit.T @ (d2 * y_adj), rcond=None)[0]
    adjust = 1.0 + x_fit @ np.linalg.lstsq(tmat, t_fit - x_fit.T @ d2, rcond=None)[0]
    w = d2 * adjust
    residual = y_adj - x_fit @ coef
    slope = float(coef[-1]) if slopes else (0.0 if lam is None else lam)
    total = float(t_fit @ coef) + (0.0 if slopes else slope * totals1[-1])
    mean = total / n_cov
    # phase 2: stratified SRS of r_c of m_c, the calibrated residuals scaled by their leverage
    u = w * residual / n_cov
    hat = d2 * np.einsum("ij,ij->i", x_fit @ np.linalg.pinv(tmat), x_fit)  # diag of the weighted fit's hat matrix
    with np.errstate(divide="ignore", invalid="ignore"):  # h = 1: the fit goes through the trace (e = 0)
        scaled = np.where(hat < 1.0 - 1e-12, u * u / (1.0 - hat), 0.0)
    ss2 = np.bincount(code2, weights=scaled, minlength=n_cells)
    lonely_cells = tuple(phase1.cell_ids[c] for c in np.flatnonzero(active & (r_c < 2)))
    v2_c = np.where(r_c > 1, (1 - r_c / np.maximum(m_c, 1)) * ss2, 0.0)
    # phase 1: the weighted design's variance of the Hájek total (`unequal.cell_terms` over the
    # reviewed traces, z = g H calibrated to g (H − H̄ʷ_c)), expanded from the r_c reviewed to the m_c judged
    fpc = phase1.unit_fpc[reviewed] if phase1.fpc else np.ones(len(h))
    certain = phase1.certain[reviewed] if phase1.fpc and len(phase1.certain) == len(code1) else None
    _, _, terms1 = cell_terms(code2, g2 * h / n_cov, g2, fpc, r_c, certain)
    v1_c = np.where(r_c > 1, m_c / np.maximum(r_c, 1) * terms1, 0.0)
    if lonely is LonelyCell.ADJUST and lonely_cells:  # one reviewed trace: the pooled spread of the others
        many = r_c > 1
        pooled1 = float((v1_c[many] / np.maximum(m_c[many], 1)).sum() / max(many.sum(), 1))
        v1_c = np.where(active & ~many, pooled1 * m_c, v1_c)
    v1, v2 = float(v1_c.sum()), float(v2_c.sum())
    z_full = np.zeros(len(d))
    z_full[reviewed] = u
    fit = ProxyFit(mean, z_full, {"(all)": slope}, int(reviewed.sum()), int(active.sum()), n_cov, slopes)
    return TwoPhaseFit(fit, v1 + v2, v1, v2, int(reviewed.sum()), lonely_cells)
