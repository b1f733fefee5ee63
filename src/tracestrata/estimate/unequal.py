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

**Variance.** Per cell, over the linearized values z_i of the estimate (calibrated to
the cell's size: `cell_terms`), the with-replacement (Hansen–Hurwitz) variance with the
cell's sampling fraction as finite-population factor:

    v_c = (1 − f_c) · m_c/(m_c − 1) · Σ_i (z_i − z̄_c)²,   f_c = m_c / N_c

over the traces drawn at random (a trace with π_i = 1, w_i τ_c >= 1, is a certainty
unit: it adds no variance and leaves m_c and N_c — but only when every π = 1 trace drawn
in its cell was scored; otherwise the scored ones are a simple random sample of those
drawn, a stratum of their own with f = scored/drawn, so a cell that took all of its
traces and had half of them judged keeps the SRS variance), which is R's `svydesign(ids=~1,
strata=~cell, probs=~pi, fpc=~N)` with the π = 1 traces in strata of their own
(with-replacement variance times 1 − f per stratum; Särndal, Swensson & Wretman 1992,
§4.4, and Wolter 2007, ch. 2, on the with-replacement approximation for
without-replacement πps designs). Not the Hájek–Deville form with unit factors
c_i = 1 − π_i (Deville 1999; Matei & Tillé 2005), nearer unbiased for priority sampling (Duffield,
Lund & Thorup 2007; Szegedy 2006: given the threshold the HT terms are uncorrelated):
its expectation is right, but it is skewed. A sure-but-wrong trace has a small π and
weighs ~20 times a judged unsure one; most samples hold none, so most intervals are too
short and the interval's mean width was 0.91x (all) and 0.83x (rare stratum) of 2 × 1.96
× the estimate's real SD (tests/simulation/test_weighted_coverage.py, floor 0.05).
Without the unit factors (c_i ≡ 1) the rare stratum over-covered (0.975); the cell's own
fraction sits between and met the targets (docs/sampling.md has the numbers). With equal
π it is exactly the SRSWOR variance, so unweighted designs keep their numbers (and their
R `survey` equality). It is descriptive (with the finite-population factor); an analytic
frame drops it (c ≡ 1), R's with-replacement variance of `svydesign(ids=~1,
strata=~cell, weights=~g)` (`tests/crosscheck/test_weighted_r.py` checks both). The
proxy-assisted (difference) estimator for such a design is
`tracestrata.estimate.weighted_difference`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["cell_terms", "certain_drawn", "unequal_weights", "unit_probabilities"]


def unit_probabilities(
    code: np.ndarray, probabilities: Sequence[float | None], population: np.ndarray, sampled: np.ndarray
) -> np.ndarray:
    """π_i of each trace: its own, or without one its cell's k/N."""
    with np.errstate(divide="ignore", invalid="ignore"):
        cell_pi = np.where(population > 0, sampled / np.maximum(population, 1), 1.0)
    return np.array([cell_pi[c] if p is None else float(p) for c, p in zip(code.tolist(), probabilities, strict=True)],
                    dtype=float)


def certain_drawn(
    code: np.ndarray, probabilities: Sequence[float | None], population: np.ndarray, sampled: np.ndarray
) -> np.ndarray:
    """Per cell, how many of the *drawn* traces (scored or not) have π = 1."""
    pi = unit_probabilities(code, probabilities, population, sampled)
    return np.bincount(code[pi >= 1.0], minlength=len(population)).astype(float)


def unequal_weights(
    code: np.ndarray,
    probabilities: Sequence[float | None],
    population: np.ndarray,
    sampled: np.ndarray,
    scored: np.ndarray,
    drawn_certain: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(g_i, c_i, π_i = 1?) of each scored trace; a trace without its own π takes its cell's k/N.

    c_i is one minus the sampling fraction of its part of the cell, not the trace's own
    1 − π*_i (see the module docstring: the unit factors made the variance estimate too
    skewed). The π = 1 traces of a cell are a part of their own: when every one drawn
    (`drawn_certain`, from `certain_drawn` over all the design's units) was scored they are
    certainty units (c_i = 0); otherwise the scored ones are a simple random sample of them
    (missing at random inside the cell), c_i = 1 − scored/drawn. The other traces'
    fraction is their scored count over N_c minus the π = 1 traces drawn."""
    n_cells = len(population)
    pi = unit_probabilities(code, probabilities, population, sampled)
    inverse = 1.0 / pi
    total = np.bincount(code, weights=inverse, minlength=n_cells)
    weight = population[code] * inverse / total[code] if len(code) else np.zeros(0)
    certain = pi >= 1.0  # taken with certainty (w·τ >= 1)
    taken = np.bincount(code[certain], minlength=n_cells).astype(float)  # of them scored
    drawn = np.maximum(drawn_certain, taken)
    rest = population - drawn
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(rest > 0, (scored - taken) / np.maximum(rest, 1), 1.0)
        certain_fraction = np.where(drawn > 0, taken / np.maximum(drawn, 1), 1.0)
    if not len(code):
        return np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool)
    fpc = np.where(certain, 1.0 - certain_fraction[code], 1.0 - fraction[code])
    return weight, np.clip(fpc, 0.0, 1.0), certain


def cell_terms(
    code: np.ndarray,
    z: np.ndarray,
    weight: np.ndarray,
    fpc: np.ndarray,
    scored: np.ndarray,
    certain: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cell: Σ z, the mean factor c̄_c (what a lonely cell's term is scaled by) and v_c above.

    With `certain` (the descriptive variance) the π = 1 traces of a cell and the others are
    two strata of their own (each its own mean and m/(m − 1)), as R's `strata=~vstratum`;
    without it (with replacement, analytic) the cell is one stratum.

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
        mean_c = np.where(m > 0, c_sum / np.maximum(m, 1), 0.0)
    part = code * 2 + (certain.astype(np.intp) if certain is not None else 0)  # (cell, π = 1?)
    n_parts = 2 * n_cells
    p_sum = np.bincount(part, weights=fpc, minlength=n_parts)
    with np.errstate(divide="ignore", invalid="ignore"):
        centre = np.where(p_sum > 0, np.bincount(part, weights=fpc * z, minlength=n_parts) / p_sum, 0.0)
    dev = z - centre[part]
    ss = np.bincount(part, weights=fpc * dev * dev, minlength=n_parts)
    random = np.bincount(part, weights=(fpc > 0).astype(float), minlength=n_parts)  # not certainty units
    with np.errstate(divide="ignore", invalid="ignore"):
        part_terms = np.where(random > 1, random / np.maximum(random - 1, 1) * ss, 0.0)
    terms = part_terms.reshape(n_cells, 2).sum(axis=1)
    return sums, mean_c, terms

