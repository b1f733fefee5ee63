"""The two parts of the weighted two-phase variance (`estimate.weighted_twophase`) at their limits:
every judged trace reviewed (no phase 2: the single-phase weighted estimate and its variance),
and a cell mean alone (the leverage 1/r: the plain SRS form)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from builders import priority_sampled_cells

from tracestrata.design import Design, Unit
from tracestrata.estimate.estimators import LonelyCell, ScoredFrame, UnequalFrame, domain_fit, stratified_variance
from tracestrata.estimate.weighted_twophase import twophase_unequal


def weighted_case(review_all: bool):
    """(phase 1 as an UnequalFrame of the judge, the human labels: NaN where not reviewed, H on all judged)."""
    truth: dict[str, tuple[float, float, bool]] = {}

    def trace(rng, cid, big_n, n, reviewed, size, pi):
        h = float(rng.random() < 0.6 + 0.6 * (0.5 - size))
        truth[f"{cid}-{n}"] = (float(rng.random() < (0.9 if h else 0.3)), h, reviewed or review_all)
        return Unit(f"{cid}-{n}", cid, probability=pi)

    cells, units = priority_sampled_cells(11, trace)
    design = Design(cells, tuple(units))
    phase1 = ScoredFrame.build(design, {t: v[0] for t, v in truth.items()})
    single = ScoredFrame.build(design, {t: v[1] for t, v in truth.items()})  # H on every judged trace
    assert isinstance(phase1, UnequalFrame) and single.trace_ids == phase1.trace_ids
    human = np.array([truth[t][1] if truth[t][2] else math.nan for t in phase1.trace_ids])
    return phase1, human, single


def test_every_judged_trace_reviewed_is_the_single_phase_estimate():
    phase1, human, single = weighted_case(review_all=True)
    every = np.ones(len(human), bool)
    for frame, one in ((phase1, single), (phase1.analytic(), single.analytic())):
        two = twophase_unequal(frame, frame.y, human, every)
        plain = domain_fit(one, every)
        variance, _ = stratified_variance(one, plain.z, every, LonelyCell.ADJUST)
        assert two.phase2_variance == 0.0
        assert math.isclose(two.fit.mean, plain.mean, rel_tol=1e-12)
        assert math.isclose(two.phase1_variance, variance, rel_tol=1e-9)


def test_a_cell_mean_alone_has_the_srs_phase2_variance():
    phase1, human, _ = weighted_case(review_all=False)
    every = np.ones(len(human), bool)
    m_c = np.bincount(phase1.code, minlength=len(phase1.cell_ids)).astype(float)
    equal = replace(phase1, weight=(phase1.population / m_c)[phase1.code])  # equal π inside each cell
    two = twophase_unequal(equal, equal.y, human, every, lam=0.4)  # a fixed slope: intercepts only
    reviewed = ~np.isnan(human)
    code, n = equal.code[reviewed], float(equal.population.sum())
    expected = 0.0
    for c in range(len(equal.cell_ids)):
        m, r = float((equal.code == c).sum()), float((code == c).sum())
        y = (human[reviewed] - 0.4 * equal.y[reviewed])[code == c]
        expected += (1 - r / m) * (equal.population[c] / n) ** 2 / r * y.var(ddof=1)
    assert math.isclose(two.phase2_variance, expected, rel_tol=1e-9)
