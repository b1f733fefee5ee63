"""The difference estimator against ppi_py (prediction-powered inference) on one stratum.

With one cell, no oversampling and λ fixed, our estimate is PPI's point estimate
when PPI's "unlabeled" set is the whole population (we know the proxy's population
mean exactly): match to 1e-9. The intervals differ on purpose, in three ways, each
tested: ppi_py adds λ²·Var(Ŷ_unlabeled)/N (its proxy mean is estimated, ours is
known), has no finite-population correction (1 − n/N), divides by n rather than n − 1
(numpy's std), and uses a z quantile where we use t. Undo these and the half-widths
agree to 1e-9.
ppi_py clips a *tuned* λ to [0, 1]; ours is not clipped (an anti-correlated proxy
gets λ < 0), so only fixed λ is compared.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from tracestrata.design import Cell, CellKind, Design, Unit
from tracestrata.estimate.estimators import LonelyCell, ScoredFrame, stratified_variance
from tracestrata.estimate.proxy import ProxyData, Tuning, difference_fit, lambda_groups

ppi_py = pytest.importorskip("ppi_py", reason="ppi-python is not installed (pip install ppi-python)")


@pytest.mark.parametrize("lam", [0.0, 0.4, 1.0])
def test_one_stratum_matches_ppi(lam):
    rng = np.random.default_rng(5)
    big_n, n = 5000, 300
    proxy_all = rng.normal(0.0, 1.0, big_n)
    picked = rng.choice(big_n, n, replace=False)
    y = 0.7 * proxy_all[picked] + rng.normal(0.2, 0.5, n)
    design = Design((Cell("all#normal", "all", {}, CellKind.NORMAL, big_n, n),),
                    tuple(Unit(f"t{i}", "all#normal") for i in range(n)))
    frame = ScoredFrame.build(design, {f"t{i}": float(v) for i, v in enumerate(y)})
    groups, names = lambda_groups(frame.cell_ids, ["all"], Tuning.POOLED)
    d = np.ones(n, bool)
    fit = difference_fit(frame, ProxyData(proxy_all[picked], np.array([float(big_n)]),
                                          np.array([proxy_all.sum()])), d, groups, names, lam=lam)
    theirs = ppi_py.ppi_mean_pointestimate(y, proxy_all[picked], proxy_all, lam=lam)
    assert fit.mean == pytest.approx(float(np.ravel(theirs)[0]), abs=1e-9)

    variance, _ = stratified_variance(frame, fit.z, d, LonelyCell.ADJUST)
    low, high = ppi_py.ppi_mean_ci(y, proxy_all[picked], proxy_all, alpha=0.05, lam=lam)
    half_theirs = (float(np.ravel(high)[0]) - float(np.ravel(low)[0])) / 2
    # undo our fpc and our n − 1 divisor (ppi_py's std has ddof 0), add their estimated-proxy-mean term, use z
    their_variance = variance / (1 - n / big_n) * (n - 1) / n + lam**2 * np.var(proxy_all) / big_n
    z = float(special.ndtri(0.975))
    assert half_theirs == pytest.approx(z * math.sqrt(their_variance), rel=1e-9)
    # and ours is narrower: the proxy mean is known and the sample is 6% of the stratum
    assert math.sqrt(variance) < math.sqrt(their_variance)
