"""`report --proxy score:NAME` on a sample drawn with `[sampling] weight`: the two-phase estimate
(`estimate.weighted_twophase`) with the judge as proxy, no longer a refusal."""

from __future__ import annotations

import math

import numpy as np

from tracestrata.design import Cell, CellKind, Design, Unit
from tracestrata.estimate.estimators import ScoredFrame, UnequalFrame
from tracestrata.estimate.report import build_report
from tracestrata.estimate.weighted_twophase import twophase_unequal
from tracestrata.record import Score


def weighted_case():
    rng = np.random.default_rng(5)
    cells, units, scores = [], [], []
    for cid, big_n, m, r in (("a#normal", 2000, 120, 40), ("a#failure", 300, 40, 15), ("b#normal", 900, 80, 30)):
        cells.append(Cell(cid, cid.split("#")[0], {}, CellKind.NORMAL, big_n, m))
        size = rng.uniform(0.1, 0.5, big_n)
        u = rng.random(big_n)
        order = np.argsort(u / size)
        tau = (u / size)[order[m]]
        for n, i in enumerate(order[:m]):
            tid = f"{cid}-{n}"
            units.append(Unit(tid, cid, {"review": n < r}, probability=min(1.0, size[i] * tau)))
            h = bool(rng.random() < 0.7)
            scores.append(Score(tid, "judge", bool(rng.random() < (0.9 if h else 0.3))))
            if n < r:
                scores.append(Score(tid, "human", h))
    return Design(tuple(cells), tuple(units)), scores


def test_the_report_gives_the_weighted_two_phase_estimate():
    design, scores = weighted_case()
    report = build_report(design, scores, "human", proxy="score:judge")
    judge = {s.trace_id: float(s.value) for s in scores if s.name == "judge"}
    phase1 = ScoredFrame.build(design, judge)
    assert isinstance(phase1, UnequalFrame)
    human = {s.trace_id: float(s.value) for s in scores if s.name == "human"}
    h = np.array([human.get(t, math.nan) for t in phase1.trace_ids])
    two = twophase_unequal(phase1, phase1.y, h, np.ones(len(h), bool))
    assert math.isclose(report.estimate.mean, two.fit.mean, rel_tol=1e-12)
    assert report.proxy is not None and report.plain is not None
    assert report.estimate.ci_low < report.estimate.mean < report.estimate.ci_high
    assert {row.stratum for row in report.strata} == {"a", "b"}
    assert all(row.estimate.n_scored > 0 for row in report.strata)
