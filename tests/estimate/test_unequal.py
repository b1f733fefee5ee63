"""Unequal inclusion probabilities inside cells (`estimate.unequal`, `estimate.weighted_difference`)."""

import numpy as np
import pytest

from tracestrata.design import Cell, CellKind, Design, Unit
from tracestrata.estimate.estimators import (
    LonelyCell,
    ScoredFrame,
    StratifiedEstimator,
    UnequalFrame,
    domain_fit,
    stratified_variance,
)
from tracestrata.estimate.weighted_difference import difference_unequal


def design(probabilities=None, n=(12, 7), big_n=(300, 40), seed=1):
    rng = np.random.default_rng(seed)
    cells = tuple(Cell(f"s#{k}", "s", {}, kind, N, m) for k, kind, m, N in
                  zip(("normal", "failure"), (CellKind.NORMAL, CellKind.FAILURE), n, big_n, strict=True))
    units, values = [], {}
    for cell, m in zip(cells, n, strict=True):
        for i in range(m):
            tid = f"{cell.id}-{i}"
            pi = None if probabilities is None else probabilities(cell, i)
            units.append(Unit(tid, cell.id, {}, {}, pi))
            values[tid] = float(rng.random() < (0.3 if cell.kind is CellKind.FAILURE else 0.8))
    return Design(cells, tuple(units)), values


def test_equal_probabilities_given_per_unit_give_the_srs_numbers():
    plain, values = design()
    same, _ = design(lambda cell, i: cell.sampled / cell.population)
    a = StratifiedEstimator().estimate(plain, values)
    b = StratifiedEstimator().estimate(same, values)
    assert isinstance(ScoredFrame.build(same, values), UnequalFrame)
    assert b.mean == pytest.approx(a.mean, rel=1e-12)
    assert b.se == pytest.approx(a.se, rel=1e-12)
    assert (b.ci_low, b.ci_high) == pytest.approx((a.ci_low, a.ci_high), rel=1e-10)


def test_hajek_weights_and_the_with_replacement_variance_by_hand():
    d, values = design(lambda cell, i: 0.02 + 0.01 * i if cell.kind is CellKind.NORMAL else 0.1 + 0.05 * i)
    frame = ScoredFrame.build(d, values)
    fit = domain_fit(frame, np.ones(len(frame.y), bool))
    variance, _ = stratified_variance(frame, fit.z, np.ones(len(frame.y), bool), LonelyCell.ADJUST)
    units = {u.trace_id: u for u in d.units}
    total, expected_v, big = 0.0, 0.0, sum(c.population for c in d.cells)
    means = {}
    for cell in d.cells:
        ids = [u.trace_id for u in d.units if u.cell == cell.id]
        pi = np.array([units[t].probability for t in ids])
        y = np.array([values[t] for t in ids])
        g = cell.population * (1 / pi) / (1 / pi).sum()
        means[cell.id] = (g * y).sum() / cell.population
        total += (g * y).sum()
    mean = total / big
    for cell in d.cells:
        ids = [u.trace_id for u in d.units if u.cell == cell.id]
        pi = np.array([units[t].probability for t in ids])
        y = np.array([values[t] for t in ids])
        g = cell.population * (1 / pi) / (1 / pi).sum()
        z = g * (y - means[cell.id]) / big  # about the cell's own Hájek mean
        m = len(ids)
        c = 1 - m / cell.population  # with replacement, times the cell's 1 − f
        expected_v += c * m / (m - 1) * ((z - z.mean()) ** 2).sum()
    assert fit.mean == pytest.approx(mean, rel=1e-12)
    assert variance == pytest.approx(expected_v, rel=1e-12)


def test_a_trace_taken_with_certainty_adds_no_variance():
    d, values = design(lambda cell, i: 1.0)
    frame = ScoredFrame.build(d, values)
    fit = domain_fit(frame, np.ones(len(frame.y), bool))
    variance, _ = stratified_variance(frame, fit.z, np.ones(len(frame.y), bool), LonelyCell.ADJUST)
    assert variance == 0.0


def test_the_difference_estimator_with_a_perfect_proxy_is_exact():
    d, values = design(lambda cell, i: 0.05 + 0.02 * i)
    frame = ScoredFrame.build(d, values)
    everything = np.ones(len(frame.y), bool)
    known = 0.71  # the proxy's population mean: with M = P exactly, the estimate is P̄
    fit = difference_unequal(frame, frame.y.copy(), known, everything, lam=1.0)
    assert fit.mean == pytest.approx(known) and fit.variance == pytest.approx(0.0, abs=1e-20)
    tuned = difference_unequal(frame, frame.y * 0.5, known * 0.5, everything)
    assert tuned.lam == pytest.approx(2.0) and tuned.variance == pytest.approx(0.0, abs=1e-20)
    useless = difference_unequal(frame, np.zeros(len(frame.y)), 0.0, everything)
    plain = domain_fit(frame, everything)
    assert useless.mean == pytest.approx(plain.mean) and useless.lam == 0.0


def test_two_phase_on_a_weighted_sample_gives_the_weighted_two_phase_estimate():
    """Once refused; now `estimate.weighted_twophase` (tests/crosscheck/test_weighted_twophase_r.py)."""
    import math

    from tracestrata.estimate.assisted import ProxyKind, ProxySpec, assist
    from tracestrata.estimate.intervals import IntervalMethod

    d, values = design(lambda cell, i: 0.1 + 0.01 * i)
    frame = ScoredFrame.build(d, values)
    plain = StratifiedEstimator().estimate(d, values)
    whole, _ = assist(d, frame, ProxySpec(ProxyKind.JUDGE, "correct"), {}, plain, {}, rate=True, confidence=0.95,
                      lonely=LonelyCell.ADJUST, rate_interval=IntervalMethod.KORN_GRAUBARD, judge=values)
    assert math.isclose(whole.estimate.mean, plain.mean, rel_tol=1e-9)  # the judge is the label: no correction


def test_a_weighted_sample_with_a_proxy_field_centres_both_intervals_on_one_lambda():
    """`--proxy FIELD` on a `[sampling] weight` sample: λ is tuned once (descriptive frame) and reused for the
    analytic interval, so the descriptive and analytic intervals are around the same estimate."""
    from tracestrata.design import ProxyTotals
    from tracestrata.estimate.report import build_report
    from tracestrata.record import Score

    rng = np.random.default_rng(7)
    cells, units, scores = [], [], []
    for stratum, big_n, m in (("a", 400, 120), ("b", 300, 150)):
        proxy_all = rng.random(big_n)
        cid = f"{stratum}#normal"
        cells.append(Cell(cid, stratum, {}, CellKind.NORMAL, big_n, m, proxy={
            "scores.h": ProxyTotals(big_n, float(proxy_all.sum()), float((proxy_all ** 2).sum()))}))
        chosen = rng.choice(big_n, m, replace=False)
        for j, i in enumerate(chosen):
            tid = f"{cid}-{i}"
            pi = min(1.0, m / big_n * (0.5 + proxy_all[i]))  # unequal, driven by the proxy
            units.append(Unit(tid, cid, {}, {"scores.h": float(proxy_all[i])}, pi))
            scores.append(Score(tid, "correct", bool(rng.random() < 0.2 + 0.6 * proxy_all[i])))
    report = build_report(Design(tuple(cells), tuple(units)), scores, "correct", proxy="scores.h")
    assert report.analytic is not None and report.proxy is not None
    assert report.analytic.mean == pytest.approx(report.estimate.mean, rel=1e-12)
    assert report.analytic.se > report.estimate.se  # heavily sampled: the fpc matters
    for row in report.strata:
        assert row.shown.mean == pytest.approx(row.estimate.mean, rel=1e-12)


def test_a_fully_drawn_cell_judged_in_part_keeps_the_srs_variance():
    """A cell that took all of its N = 10 traces (π = 1 each) with 5 judged: the judged ones are a
    simple random sample of the 10, not certainty units, so the variance is the unweighted SRS one."""
    cells = (Cell("s#normal", "s", {}, CellKind.NORMAL, 10, 10),)
    ys = [1.0, 0.0, 1.0, 1.0, 0.0]
    values = {f"t{i}": y for i, y in enumerate(ys)}
    everything = np.ones(len(ys), bool)

    def variance(pi):
        d = Design(cells, tuple(Unit(f"t{i}", "s#normal", {}, {}, pi) for i in range(10)))
        frame = ScoredFrame.build(d, values)
        fit = domain_fit(frame, everything)
        return stratified_variance(frame, fit.z, everything, LonelyCell.ADJUST)[0], frame

    weighted, frame = variance(1.0)
    unweighted, plain = variance(None)
    assert isinstance(frame, UnequalFrame) and not isinstance(plain, UnequalFrame)
    srs = (1 - 5 / 10) * np.var(ys, ddof=1) / 5
    assert unweighted == pytest.approx(srs, rel=1e-12)
    assert weighted == pytest.approx(srs, rel=1e-12) and weighted > 0.0
    # the analytic frame (no fpc) is unchanged: with replacement over the 5
    fit = domain_fit(frame.analytic(), everything)
    analytic, _ = stratified_variance(frame.analytic(), fit.z, everything, LonelyCell.ADJUST)
    assert analytic == pytest.approx(np.var(ys, ddof=1) / 5, rel=1e-12)


def test_a_mixed_cell_judged_in_part_splits_the_certain_traces_into_a_stratum_of_their_own():
    """3 π = 1 traces drawn (2 judged) and 6 with π = 0.2 (all judged) out of N = 33: the π = 1 part
    has f = 2/3, the rest f = 6/30, each with its own mean."""
    pis = [1.0, 1.0, 1.0] + [0.2] * 6
    cells = (Cell("s#normal", "s", {}, CellKind.NORMAL, 33, 9),)
    d = Design(cells, tuple(Unit(f"t{i}", "s#normal", {}, {}, p) for i, p in enumerate(pis)))
    ys = {f"t{i}": y for i, y in enumerate([1.0, 0.0, None, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0]) if y is not None}
    frame = ScoredFrame.build(d, ys)
    assert isinstance(frame, UnequalFrame)
    assert frame.certain.tolist() == [True, True] + [False] * 6
    assert frame.unit_fpc[:2] == pytest.approx([1 / 3, 1 / 3])
    assert frame.unit_fpc[2:] == pytest.approx([1 - 6 / 30] * 6)
    everything = np.ones(len(frame.y), bool)
    fit = domain_fit(frame, everything)
    variance, _ = stratified_variance(frame, fit.z, everything, LonelyCell.ADJUST)
    g, z = frame.weight, fit.z
    z = z - g * z.sum() / g.sum()
    expected = sum(c * len(part) / (len(part) - 1) * ((part - part.mean()) ** 2).sum()
                   for c, part in ((1 / 3, z[:2]), (1 - 6 / 30, z[2:])))
    assert variance == pytest.approx(expected, rel=1e-12)
    # judged in full, the π = 1 traces are certainty units again
    ys["t2"] = 1.0
    full = ScoredFrame.build(d, ys)
    assert full.unit_fpc[:3].tolist() == [0.0, 0.0, 0.0]
