"""`report --proxy score:NAME` on a sample drawn with `[sampling] weight`: the two-phase estimate
(`estimate.weighted_twophase`) with the judge as proxy, no longer a refusal."""

from __future__ import annotations

import math

import numpy as np
from builders import priority_sampled_cells

from tracestrata.design import Design, Unit
from tracestrata.estimate.estimators import ScoredFrame, UnequalFrame
from tracestrata.estimate.report import build_report
from tracestrata.estimate.weighted_twophase import twophase_unequal
from tracestrata.record import Score


def weighted_case():
    scores = []

    def trace(rng, cid, big_n, n, reviewed, size, pi):
        tid = f"{cid}-{n}"
        h = bool(rng.random() < 0.7)
        scores.append(Score(tid, "judge", bool(rng.random() < (0.9 if h else 0.3))))
        if reviewed:
            scores.append(Score(tid, "human", h))
        return Unit(tid, cid, {"review": reviewed}, probability=pi)

    cells, units = priority_sampled_cells(5, trace)
    return Design(cells, tuple(units)), scores


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
