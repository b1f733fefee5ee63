"""The two-phase estimator on a weighted phase 1 (`estimate.weighted_twophase`) against R's
`survey::twophase(probs = list(~1/g, NULL), fpc = list(~N, NULL))` + `calibrate(phase = 2, ~ 0 + cell + J)`.

R's `calibrate(phase = 2)` calibrates the phase-2 weights m/r to the phase-1 *sample* totals; the
two-phase regression estimator calibrates g·m/r to the g-weighted totals, which R computes when
calibrating on x̃ = g·x with the working variance x̃ᵀ(1, …, 1, 0) = g (weighted_twophase_check.R).
The point estimate matches R to 1e-8. The phase-2 variance is survey's linearized one with each
squared calibrated residual over 1 − h (its leverage in the weighted fit, from R's `lm()`
`hatvalues`): the script computes both by hand, the plain one equal to survey's, the leveraged one
to ours, to 1e-8. The phase-1 variance is ours by
design: the weighted design's with-replacement variance times 1 − f_c of the Hájek total
(z = g (H − H̄ʷ_c), the cell's own weighted mean), estimated from the reviewed traces; R's
uses its double-expanded phase-1 form around the overall mean, so the two are compared within
a tolerance (printed with `-s`; docs/report.md quotes them).
"""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from builders import priority_sampled_cells
from rscript import require_rscript, run_r

from tracestrata.design import Design, Unit
from tracestrata.estimate.estimators import ScoredFrame, UnequalFrame
from tracestrata.estimate.weighted_twophase import twophase_unequal

pytestmark = pytest.mark.r

TOL = 1e-8


def make_case():
    """Three cells drawn by priority sampling (π = min(1, w τ)); the first r judged traces of each reviewed."""
    rows = []

    def trace(rng, cid, big_n, n, reviewed, size, pi):
        h = float(rng.random() < 0.6 + 0.6 * (0.5 - size))
        judge = float(rng.random() < (0.9 if h else 0.3))
        rows.append({"id": f"{cid}-{n}", "cell": cid, "N": big_n, "J": judge, "H": h if reviewed else None})
        return Unit(f"{cid}-{n}", cid, probability=pi)

    cells, units = priority_sampled_cells(11, trace)
    return rows, Design(cells, tuple(units))


def fit(fpc: bool):
    rows, design = make_case()
    phase1 = ScoredFrame.build(design, {r["id"]: r["J"] for r in rows})
    assert isinstance(phase1, UnequalFrame)
    if not fpc:
        phase1 = phase1.analytic()
    human = {r["id"]: r["H"] for r in rows if r["H"] is not None}
    h = np.array([human.get(t, math.nan) for t in phase1.trace_ids])
    return rows, phase1, twophase_unequal(phase1, phase1.y, h, np.ones(len(h), bool))


@pytest.fixture(scope="module")
def r_values(tmp_path_factory) -> dict[str, float]:
    require_rscript()
    rows, phase1, _ = fit(True)
    g = dict(zip(phase1.trace_ids, phase1.weight.tolist(), strict=True))
    path = tmp_path_factory.mktemp("weighted-twophase") / "case.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["cell", "N", "g", "J", "H", "reviewed"])
        for r in rows:
            writer.writerow([r["cell"], r["N"], repr(g[r["id"]]), r["J"], "NA" if r["H"] is None else r["H"],
                             "FALSE" if r["H"] is None else "TRUE"])
    return {f"{tag}:{key}": float(v) for tag, key, v in run_r("weighted_twophase_check.R", path)}


@pytest.mark.parametrize("fpc", [True, False], ids=["descriptive", "analytic"])
def test_weighted_twophase_matches_r(r_values, fpc):
    _, _, two = fit(fpc)
    tag = "fpc" if fpc else "nofpc"
    print(f"\n{tag}: mean {two.fit.mean:.10f} (R {r_values[tag + ':mean']:.10f}); phase 2 {two.phase2_variance:.6e} "
          f"(R by hand {r_values[tag + ':phase2_leverage']:.6e}; survey's linearized {r_values[tag + ':phase2']:.6e}); "
          f"phase 1 {two.phase1_variance:.6e} (R {r_values[tag + ':phase1']:.6e})")
    assert math.isclose(two.fit.mean, r_values[f"{tag}:mean"], rel_tol=TOL, abs_tol=TOL)
    # the hand formula reproduces survey's phase-2 variance without the leverage, and ours with it
    assert math.isclose(r_values[f"{tag}:phase2_plain"], r_values[f"{tag}:phase2"], rel_tol=TOL, abs_tol=TOL)
    assert math.isclose(two.phase2_variance, r_values[f"{tag}:phase2_leverage"], rel_tol=TOL, abs_tol=TOL)
    assert r_values[f"{tag}:phase2_leverage"] > r_values[f"{tag}:phase2"]
    # measured: 1.6% (descriptive), 8.2% (analytic: R's phase-1 term without fpc is the smaller one)
    assert math.isclose(two.phase1_variance, r_values[f"{tag}:phase1"], rel_tol=0.03 if fpc else 0.10)
