"""The difference and two-phase estimators on small designs built by hand, and `build_report(..., proxy=...)`."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tracestrata.design import Cell, CellKind, Design, ProxyTotals, Unit
from tracestrata.errors import EstimationError
from tracestrata.estimate.estimators import ScoredFrame, StratifiedEstimator
from tracestrata.estimate.proxy import ProxyData, Tuning, difference_fit, lambda_groups
from tracestrata.estimate.report import build_report
from tracestrata.record import Score

FIELD = "scores.heuristic"


def make_design(seed: int = 1, missing: bool = False):
    """Two strata x two cells; the proxy tracks the metric; optionally some traces lack it."""
    rng = np.random.default_rng(seed)
    cells, units, scores = [], [], []
    for stratum, sizes in (("a", (800, 40)), ("b", (300, 25))):
        for kind, (big_n, m) in zip((CellKind.NORMAL, CellKind.FAILURE), ((sizes[0], 30), (sizes[1], 12)), strict=True):
            cid = f"{stratum}#{kind.value}"
            p_all = rng.normal(0.6 if kind is CellKind.NORMAL else 0.3, 0.2, big_n)
            has = np.ones(big_n, bool)
            if missing:
                has[: big_n // 10] = False
            picked = rng.choice(big_n, m, replace=False)
            totals = ProxyTotals(int(has.sum()), float(p_all[has].sum()), float((p_all[has] ** 2).sum()))
            cells.append(Cell(cid, stratum, {"x": stratum}, kind, big_n, m, proxy={FIELD: totals}))
            for j in picked:
                tid = f"{cid}-{j}"
                attrs = {"scores": {"heuristic": float(p_all[j])}} if has[j] else {}
                units.append(Unit(tid, cid, attrs))
                y = float(p_all[j] + rng.normal(0, 0.05))
                scores.append(Score(tid, "quality", y))
    return Design(tuple(cells), tuple(units)), scores


def fit_on_design(tuning: Tuning, lam: float | None = None):
    """`difference_fit` on `make_design()`'s judged traces with their heuristic as the proxy."""
    design, scores = make_design()
    values = {s.trace_id: float(s.value) for s in scores}
    frame = ScoredFrame.build(design, values)
    data = ProxyData(
        np.array([u.attrs["scores"]["heuristic"] for u in design.units]),
        np.array([c.proxy[FIELD].n for c in design.cells], float),
        np.array([c.proxy[FIELD].sum for c in design.cells]),
    )
    groups, names = lambda_groups(frame.cell_ids, [c.stratum for c in design.cells], tuning)
    fit = difference_fit(frame, data, np.ones(len(data.p), bool), groups, names, lam=lam)
    return design, values, frame, data, fit


def test_lambda_zero_is_the_plain_estimate():
    design, values, _, _, fit = fit_on_design(Tuning.POOLED, lam=0.0)
    plain = StratifiedEstimator().estimate(design, values)
    assert fit.mean == pytest.approx(plain.mean, abs=1e-12)


def test_cell_tuning_is_the_separate_regression_estimator():
    design, _, frame, data, fit = fit_on_design(Tuning.CELL)
    p, known_n, known_sum = data.p, data.known_n, data.known_sum
    expected, total = 0.0, sum(c.population for c in design.cells)
    for i, cell in enumerate(design.cells):
        mask = frame.code == i
        y, x = frame.y[mask], p[mask]
        b = np.cov(x, y, ddof=1)[0, 1] / np.var(x, ddof=1)
        expected += cell.population / total * (y.mean() + b * (known_sum[i] / known_n[i] - x.mean()))
        assert fit.lambdas[cell.id] == pytest.approx(b, rel=1e-12)
    assert fit.mean == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("missing", [False, True])
def test_report_with_a_proxy_is_narrower_and_keeps_plain(missing):
    design, scores = make_design(missing=missing)
    plain = build_report(design, scores, "quality")
    report = build_report(design, scores, "quality", proxy=FIELD)
    out = report.to_json()
    assert out["plain"] == plain.to_json()["estimate"]
    assert out["estimate"]["method"] == "difference+t"
    assert set(out["proxy"]) >= {"field", "lambda", "variance_ratio"}
    assert out["proxy"]["variance_ratio"] < 0.5
    assert report.estimate.se < plain.estimate.se
    assert all("plain" in row and "proxy" in row for row in out["strata"])


def test_proxy_errors_are_one_line():
    design, scores = make_design()
    bare = Design(tuple(Cell(c.id, c.stratum, c.values, c.kind, c.population, c.sampled) for c in design.cells),
                  design.units)
    with pytest.raises(EstimationError, match="no proxy totals"):
        build_report(bare, scores, "quality", proxy=FIELD)
    empty = Design(tuple(Cell(c.id, c.stratum, c.values, c.kind, c.population, c.sampled,
                              proxy={FIELD: ProxyTotals(0, 0.0, 0.0)}) for c in design.cells),
                   tuple(Unit(u.trace_id, u.cell, {}) for u in design.units))
    with pytest.raises(EstimationError, match="missing on every trace"):
        build_report(empty, scores, "quality", proxy=FIELD)
    text = Design(design.cells, tuple(Unit(u.trace_id, u.cell, {"scores": {"heuristic": "high"}})
                                      for u in design.units))
    with pytest.raises(EstimationError, match="non-numeric proxy"):
        build_report(text, scores, "quality", proxy=FIELD)


def test_two_phase_corrects_a_biased_judge():
    rng = np.random.default_rng(3)
    cells, units, scores = [], [], []
    for stratum, big_n, m, r, bias in (("a", 2000, 120, 40, 0.15), ("b", 900, 80, 30, -0.1)):
        cid = f"{stratum}#normal"
        cells.append(Cell(cid, stratum, {}, CellKind.NORMAL, big_n, m))
        for j in range(m):
            tid = f"{cid}-{j}"
            human = float(rng.random() < 0.8)
            judge = float(rng.random() < (0.95 if human else 0.2 + bias))
            units.append(Unit(tid, cid, {}))
            scores.append(Score(tid, "correct", judge))
            if j < r:
                scores.append(Score(tid, "human_correct", human))
    design = Design(tuple(cells), tuple(units))
    report = build_report(design, scores, "human_correct", proxy="score:correct")
    out = report.to_json()
    assert out["estimate"]["method"].startswith("two-phase+")
    assert out["proxy"]["disagreement"]["reviewed"] == 70
    assert report.plain is not None and report.estimate.se < report.plain.se
    assert not math.isnan(out["strata"][0]["proxy"]["disagreement"]["judge_minus_human"])


def test_two_phase_warns_about_labels_without_a_judge_score():
    cells = (Cell("a#normal", "a", {}, CellKind.NORMAL, 500, 40),)
    units = tuple(Unit(f"t{i}", "a#normal") for i in range(40))
    scores = [Score(f"t{i}", "correct", float(i % 5 != 0)) for i in range(35)]
    scores += [Score(f"t{i}", "human_correct", float(i % 4 != 0)) for i in range(0, 40, 2)]
    report = build_report(Design(cells, units), scores, "human_correct", proxy="score:correct")
    codes = {w.code: w for w in report.warnings}
    assert codes["reviewed_without_judge"].details["count"] == 2  # t36, t38


def test_the_top_level_build_report_takes_a_proxy():
    import tracestrata

    design, scores = make_design()
    report = tracestrata.build_report(design, scores, "quality", proxy=FIELD, tuning=tracestrata.Tuning.POOLED)
    assert report.proxy is not None and report.plain is not None
    assert report.to_json()["proxy"]["field"] == FIELD
    with pytest.raises(tracestrata.EstimationError, match="no proxy totals"):
        tracestrata.build_report(design, scores, "quality", proxy="scores.other")


def test_a_stratum_judged_in_full_is_a_point_with_a_proxy_too():
    rng = np.random.default_rng(4)
    cells, units, scores = [], [], []
    for stratum, big_n, m in (("big", 2000, 60), ("tiny", 8, 8)):
        p_all = rng.random(big_n)
        cid = f"{stratum}#normal"
        cells.append(Cell(cid, stratum, {}, CellKind.NORMAL, big_n, m,
                          proxy={FIELD: ProxyTotals(big_n, float(p_all.sum()), float((p_all**2).sum()))}))
        for j in rng.choice(big_n, m, replace=False):
            tid = f"{cid}-{j}"
            units.append(Unit(tid, cid, {"scores": {"heuristic": float(p_all[j])}}))
            scores.append(Score(tid, "ok", bool(rng.random() < 0.3 + 0.5 * p_all[j])))
    report = build_report(Design(tuple(cells), tuple(units)), scores, "ok", proxy=FIELD)
    tiny = next(row for row in report.strata if row.stratum == "tiny")
    assert tiny.estimate.ci_low == tiny.estimate.ci_high == pytest.approx(tiny.plain.mean)


@pytest.mark.parametrize("folds", [2, 5])
def test_crossfit_does_not_depend_on_the_proxys_level(folds):
    """Adding a constant to the proxy (a 1-5 score instead of a centred one) changes nothing:
    the residuals are centred at the known proxy mean, so two folds' λs do not differ by
    (λ_1 − λ_2)·P̄ (that level once made the interval 4-15% wider than the estimate's spread)."""
    design, _, frame, data, _ = fit_on_design(Tuning.POOLED)
    groups, names = lambda_groups(frame.cell_ids, [c.stratum for c in design.cells], Tuning.POOLED)
    d = np.ones(len(data.p), bool)
    base = difference_fit(frame, data, d, groups, names, folds=folds)
    shifted = ProxyData(data.p + 100.0, data.known_n, data.known_sum + 100.0 * data.known_n)
    moved = difference_fit(frame, shifted, d, groups, names, folds=folds)
    assert math.isclose(base.mean, moved.mean, rel_tol=1e-9)
    assert np.allclose(base.z, moved.z, rtol=1e-7, atol=1e-12)
