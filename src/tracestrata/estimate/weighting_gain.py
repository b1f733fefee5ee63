"""What `[sampling] weight` would buy: the expected SE of the proxy-assisted mean for the same
judged traces per cell, with equal probabilities inside cells and with pi proportional to a size.

From judged traces of earlier windows (each with its design weight g_i, its residual
e_i = M_i − λP_i and its size w_i), per cell c with k_c judged of N_c, the population
sums are estimated with the g_i (Hájek) and the two variances predicted as

    equal pi     V_c = N_c² (1 − k_c/N_c) S²_c / k_c,      S²_c = Σ g (e − ē_c)² / (N_c − 1)
    pi ∝ w       V_c = Σ g (1 − pi_i) (e_i − ē_c)² / pi_i,  pi_i = min(1, k_c w_i / Σ g w)

(the second is the Poisson approximation of priority sampling, Rosén 1997). The SE of
the population mean is √(Σ V_c) / N for both. It is a forecast: the next window's
residuals are assumed to look like the judged ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tracestrata.estimate.estimators import ScoredFrame

__all__ = ["WeightingGain", "weighting_gain"]


@dataclass(frozen=True)
class WeightingGain:
    judged: int
    se_equal: float
    se_weighted: float

    @property
    def ratio(self) -> float:
        """Width with the weighting / width without it (below 1: it narrows the interval)."""
        return self.se_weighted / self.se_equal if self.se_equal > 0 else math.nan


def weighting_gain(frame: ScoredFrame, residual: np.ndarray, sizes: np.ndarray) -> WeightingGain:
    """The forecast for the frame's judged counts per cell (`frame.scored`)."""
    n_cells = len(frame.cell_ids)
    code, g = frame.code, frame.weight
    g_sum = np.bincount(code, weights=g, minlength=n_cells)
    with np.errstate(divide="ignore", invalid="ignore"):
        centre = np.where(g_sum > 0, np.bincount(code, weights=g * residual, minlength=n_cells) / g_sum, 0.0)
    d2 = (residual - centre[code]) ** 2
    big_n, k = frame.population, frame.scored
    total = float(big_n[k > 0].sum())
    if total <= 0:
        return WeightingGain(0, math.nan, math.nan)
    t2 = np.bincount(code, weights=g * d2, minlength=n_cells)
    with np.errstate(divide="ignore", invalid="ignore"):
        equal = np.where((k > 0) & (k < big_n) & (big_n > 1),
                         big_n**2 * (1 - k / np.maximum(big_n, 1)) * t2 / np.maximum(big_n - 1, 1) / np.maximum(k, 1),
                         0.0)
        w_sum = np.bincount(code, weights=g * sizes, minlength=n_cells)
        pi = np.minimum(1.0, k[code] * sizes / np.maximum(w_sum[code], 1e-300))
    weighted = np.bincount(code, weights=g * (1 - pi) * d2 / pi, minlength=n_cells)
    return WeightingGain(int(k.sum()), math.sqrt(float(equal.sum())) / total,
                         math.sqrt(float(weighted.sum())) / total)
