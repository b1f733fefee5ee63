"""The difference estimator against R's `survey` calibration (GREG).

The report's estimator (`Tuning.POOLED`) is GREG with cell intercepts and one slope:
without cross-fitting (`folds=0`) it is R's `calibrate(design, ~0 + cell + x,
population=..., variance=s2)` on the cell counts and the proxy's total, with the
working-model variance s2 = w_c/a_c so that R's regression weights w/s2 are the
report's a_c = W_c²(1 − f_c)/(m_c(m_c − 1)) (the λ that minimises the estimate's
variance). Per-cell λ (`Tuning.CELL`) is GREG with cell-specific slopes,
`calibrate(design, ~0 + cell + cell:x, ...)`. A missing proxy takes its cell's known
mean (so the total is N_c·P̄_c). Estimate and SE must match to 1e-6, with and without
missing proxies. R has no cross-fitted GREG: the report's cross-fitted estimate (λ
of each trace from the other folds) must stay within a tenth of an SE of R's and its
SE within 5%. The analytic SE (no fpc, same λ) is R's calibration of the design
without `fpc`. A fixed λ = 0.5 matches `svymean(~I(y - 0.5 x))`'s SE. Skipped, with
the reason, only when Rscript is missing.
"""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from rscript import require_rscript, run_r, values_by_case

from tracestrata.design import Cell, CellKind, Design, Unit
from tracestrata.estimate.assisted import FOLDS
from tracestrata.estimate.estimators import LonelyCell, ScoredFrame, stratified_variance
from tracestrata.estimate.proxy import ProxyData, Tuning, difference_fit, lambda_groups

pytestmark = pytest.mark.r

TOL = 1e-6
# (stratum, kind, N, m)
CELLS = [
    ("billing", CellKind.NORMAL, 900, 40),
    ("billing", CellKind.FAILURE, 60, 12),
    ("tech", CellKind.NORMAL, 400, 25),
    ("tech", CellKind.FAILURE, 35, 9),
    ("compliance", CellKind.NORMAL, 70, 15),
]


def make_case(seed: int, missing: bool):
    rng = np.random.default_rng(seed)
    rows, cells, known_n, known_sum = [], [], [], []
    for stratum, kind, big_n, m in CELLS:
        cid = f"{stratum}#{kind.value}"
        proxy = rng.normal(2.0 if kind is CellKind.NORMAL else 1.0, 1.0, big_n)
        has = np.ones(big_n, bool)
        if missing:
            has[rng.choice(big_n, big_n // 8, replace=False)] = False
        picked = rng.choice(big_n, m, replace=False)
        if missing and not (~has[picked]).any():  # every post-stratum needs a judged trace
            picked[0] = int(np.flatnonzero(~has)[0])
        if missing and (~has[picked]).sum() < 2:
            picked[1] = int(np.flatnonzero(~has)[1])
        cells.append(Cell(cid, stratum, {}, kind, big_n, m))
        known_n.append(float(has.sum()))
        known_sum.append(float(proxy[has].sum()))
        for j in picked:
            y = float(np.round(0.8 * proxy[j] + rng.normal(0.5, 0.6), 6))
            rows.append({"trace_id": f"{cid}/{j}", "cell": cid, "N": big_n, "y": y,
                         "p": float(proxy[j]) if has[j] else math.nan})
    design = Design(tuple(cells), tuple(Unit(r["trace_id"], r["cell"]) for r in rows))
    return rows, design, np.array(known_n), np.array(known_sum)


CASES = {"complete": (11, False), "missing": (12, True)}


@pytest.fixture(scope="module")
def r_values(tmp_path_factory) -> dict[str, dict[str, float]]:
    require_rscript()
    folder = tmp_path_factory.mktemp("proxy")
    for name, (seed, missing) in CASES.items():
        rows, design, known_n, known_sum = make_case(seed, missing)
        with (folder / f"{name}.csv").open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["cell", "N", "y", "x", "sub", "s2"])
            mean_of = {c.id: s / n for c, n, s in zip(design.cells, known_n, known_sum, strict=True)}
            s2 = working_variance(design)
            for r in rows:  # a missing proxy takes its cell's known mean
                x = r["p"] if not math.isnan(r["p"]) else mean_of[r["cell"]]
                writer.writerow([r["cell"], r["N"], repr(r["y"]), repr(float(x)), r["cell"], repr(s2[r["cell"]])])
        with (folder / f"{name}.pop.csv").open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["name", "total"])
            for cell, n, s in zip(design.cells, known_n, known_sum, strict=True):
                writer.writerow([f"sub{cell.id}", repr(float(cell.population))])
                writer.writerow([f"cell{cell.id}:x", repr(float(cell.population * s / n))])
            writer.writerow(["x", repr(float(sum(c.population * s / n for c, n, s in
                                                   zip(design.cells, known_n, known_sum, strict=True))))])
    return values_by_case(run_r("proxy_check.R", folder))


def working_variance(design: Design) -> dict[str, float]:
    """s2 = w_c / a_c by cell: R's regression weights w/s2 are then the report's a_c (up to a constant)."""
    total = sum(c.population for c in design.cells)
    out = {}
    for c in design.cells:
        omega, f, m = c.population / total, c.sampled / c.population, c.sampled
        out[c.id] = (c.population / m) / (omega**2 * (1 - f) / (m * (m - 1)))
    return out


def fit(name: str, lam: float | None = None, tuning: Tuning = Tuning.CELL, folds: int = 0, analytic: bool = False):
    rows, design, known_n, known_sum = make_case(*CASES[name])
    frame = ScoredFrame.build(design, {r["trace_id"]: r["y"] for r in rows})
    frame = frame.analytic() if analytic else frame
    p = np.array([r["p"] for r in rows])
    groups, names = lambda_groups(frame.cell_ids, [c.stratum for c in design.cells], tuning)
    d = np.ones(len(rows), bool)
    result = difference_fit(frame, ProxyData(p, known_n, known_sum), d, groups, names, lam=lam, folds=folds)
    variance, _ = stratified_variance(frame, result.z, d, LonelyCell.ADJUST)
    return result, math.sqrt(variance)


@pytest.mark.parametrize("name", list(CASES))
def test_cell_regression_matches_calibrate(r_values, name):
    result, se = fit(name)
    ref = r_values[name]
    assert math.isclose(result.mean, ref["mean"], rel_tol=TOL, abs_tol=TOL), (result.mean, ref["mean"])
    assert math.isclose(se, ref["se"], rel_tol=TOL, abs_tol=TOL), (se, ref["se"])


def test_fixed_lambda_se_matches_svymean_of_the_difference(r_values):
    _, se = fit("complete", lam=0.5)
    assert math.isclose(se, r_values["complete"]["fixed_se"], rel_tol=TOL, abs_tol=TOL)


@pytest.mark.parametrize("name", list(CASES))
def test_pooled_slope_matches_calibrate_with_one_slope(r_values, name):
    result, se = fit(name, tuning=Tuning.POOLED)
    ref = r_values[name]
    assert math.isclose(result.mean, ref["pooled_mean"], rel_tol=TOL, abs_tol=TOL), (result.mean, ref["pooled_mean"])
    assert math.isclose(se, ref["pooled_se"], rel_tol=TOL, abs_tol=TOL), (se, ref["pooled_se"])


@pytest.mark.parametrize("name", list(CASES))
def test_crossfitted_report_estimate_stays_next_to_rs_greg(r_values, name):
    result, se = fit(name, tuning=Tuning.POOLED, folds=FOLDS)
    ref = r_values[name]
    assert abs(result.mean - ref["pooled_mean"]) <= 0.1 * ref["pooled_se"]
    assert abs(se / ref["pooled_se"] - 1.0) <= 0.05


@pytest.mark.parametrize("name", list(CASES))
def test_analytic_se_is_calibrate_on_a_design_without_fpc(r_values, name):
    """The analytic interval's SE: the same λ and estimate, R's calibrated design without `fpc`."""
    result, se = fit(name, tuning=Tuning.POOLED, analytic=True)
    assert math.isclose(result.mean, r_values[name]["pooled_mean"], rel_tol=TOL, abs_tol=TOL)
    assert math.isclose(se, r_values[name]["pooled_se0"], rel_tol=TOL, abs_tol=TOL), (se, r_values[name]["pooled_se0"])
