"""Weights and variance when the inclusion probability differs inside a cell (`[sampling] weight`).

A weighted policy draws each cell by priority sampling (`tracestrata.sampling.weights`):
trace i of cell c is sampled with π_i = min(1, w_i τ_c), recorded on the trace.

**Weights.** Of the k_c sampled traces of cell c, m_c are scored (the others missing
at random inside the cell, as for the equal-probability design). Each scored trace
weighs

    g_i = N_c · (1/π_i) / Σ_{j scored in c} 1/π_j

the Hájek weight inside the cell, calibrated to the cell's known size N_c (Σ g = N_c).
With equal π this is N_c / m_c, the weight of the simple random sample, so the
stratified estimator (`estimators.domain_fit`) is unchanged in form.

**Variance.** The Hájek–Deville approximation for a fixed-size unequal-probability
design, per cell, over the linearized values z_i of the estimate (calibrated to the
cell's size: `cell_terms`):

    v_c = m_c/(m_c − 1) · Σ_i c_i (z_i − z̃_c)²,   c_i = 1 − π*_i,   z̃_c = Σ c_i z_i / Σ c_i

with π*_i = π_i · m_c/k_c the probability of being scored. References: Deville (1999),
"Variance estimation for complex statistics and estimators: linearization and residual
techniques", Survey Methodology 25(2); Matei & Tillé (2005), "Evaluation of variance
approximations and estimators in maximum entropy sampling with unequal probability and
fixed sample size", J. Official Statistics 21(4) (the estimator they recommend); Rosén
(1997), "On sampling with probability proportional to size", J. Statist. Plann.
Inference 62, shows order sampling (Pareto, sequential Poisson, and so priority
sampling) is asymptotically the maximum-entropy design this approximation is for; and
Duffield, Lund & Thorup (2007) show the priority-sampling HT terms are uncorrelated
given the threshold, the Poisson-like behaviour the c_i = 1 − π_i factor encodes. With
equal π the formula is exactly (1 − m_c/N_c) m_c/(m_c − 1) Σ (z − z̄_c)², the SRSWOR
variance, so unweighted designs keep their numbers (and their R `survey` equality).
It is descriptive (with the finite-population factor); `c_i ≡ 1` would be R's
with-replacement variance of `svydesign(ids=~1, strata=~cell, weights=~g)`
(`tests/crosscheck/test_weighted_r.py` checks both). The proxy-assisted (difference)
estimator for such a design is `tracestrata.estimate.weighted_difference`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["cell_terms", "unequal_weights"]


def unequal_weights(
    code: np.ndarray,
    probabilities: Sequence[float | None],
    population: np.ndarray,
    sampled: np.ndarray,
    scored: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(g_i, c_i = 1 − π*_i) of each scored trace; a trace without its own π takes its cell's k/N."""
    n_cells = len(population)
    with np.errstate(divide="ignore", invalid="ignore"):
        cell_pi = np.where(population > 0, sampled / np.maximum(population, 1), 1.0)
    pi = np.array([cell_pi[c] if p is None else float(p) for c, p in zip(code.tolist(), probabilities, strict=True)],
                  dtype=float)
    inverse = 1.0 / pi
    total = np.bincount(code, weights=inverse, minlength=n_cells)
    weight = population[code] * inverse / total[code] if len(code) else np.zeros(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        response = np.where(sampled > 0, scored / np.maximum(sampled, 1), 1.0)
    fpc = np.clip(1.0 - pi * response[code], 0.0, 1.0) if len(code) else np.zeros(0)
    return weight, fpc


def cell_terms(
    code: np.ndarray, z: np.ndarray, weight: np.ndarray, fpc: np.ndarray, scored: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cell: Σ z, the mean factor c̄_c (what a lonely cell's term is scaled by) and v_c above.

    z is first calibrated: its part along the weights inside each cell is removed,
    z − g · Σ_c z / Σ_c g, the linearization of an estimate whose weights are calibrated to
    N_c (what R's `postStratify` on the cells does); for the whole population it is
    g_i (y_i − ȳ_c) / N, the residual about the cell's own Hájek mean. With equal weights it
    is z − z̄_c, so nothing changes for a simple random sample.
    """
    n_cells = len(scored)
    m = scored
    sums = np.bincount(code, weights=z, minlength=n_cells)
    g_sum = np.bincount(code, weights=weight, minlength=n_cells)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(g_sum > 0, sums / g_sum, 0.0)
    z = z - weight * slope[code]
    c_sum = np.bincount(code, weights=fpc, minlength=n_cells)
    with np.errstate(divide="ignore", invalid="ignore"):
        centre = np.where(c_sum > 0, np.bincount(code, weights=fpc * z, minlength=n_cells) / c_sum, 0.0)
        mean_c = np.where(m > 0, c_sum / np.maximum(m, 1), 0.0)
    dev = z - centre[code]
    ss = np.bincount(code, weights=fpc * dev * dev, minlength=n_cells)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(m > 1, m / np.maximum(m - 1, 1) * ss, 0.0)
    return sums, mean_c, terms

