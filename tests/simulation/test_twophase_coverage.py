"""The two-phase estimate of a *human* rate, the judge as proxy, against the human truth.

The `sim_design` population's `correct` is the human label H; the judge J agrees with
it except that it passes failures at a rate that depends on the stratum (30-75%) and
fails 1% of passes, so the judge's own rate is biased by stratum. Each draw: the
judged sample (phase 1), then a review subsample of 30 per stratum (~210 labels,
split over a stratum's cells by their judged count, at least 2 per cell, SRS inside
the cell as bottom-k on a second hash is). 1000 draws: the two-phase interval
(Korn–Graubard on the effective n) covers the human truth in 93-97% of draws; the
plain estimate of the judge's rate does not cover it; ignoring the phase-1 variance
under-covers.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from sim_design import draw, make_population, plan_cells

from tracestrata.estimate.assisted import ProxyKind, ProxySpec, assist
from tracestrata.estimate.estimators import LonelyCell, ScoredFrame, StratifiedEstimator
from tracestrata.estimate.intervals import IntervalMethod, korn_graubard, t_interval
from tracestrata.estimate.proxy import Tuning, lambda_groups, twophase_fit

REPS = 1000
TARGET = 60
REVIEW = 30
SMALL = "compliance"


def review_subsample(design, judged_ids, rng, sizes=None):
    """REVIEW (or `sizes[stratum]`) per stratum, split over its cells by judged count (≥ 2), SRS inside each cell."""
    by_cell: dict[str, list[str]] = {}
    for unit in design.units:
        if unit.trace_id in judged_ids:
            by_cell.setdefault(unit.cell, []).append(unit.trace_id)
    strata: dict[str, list[str]] = {}
    for cell in design.cells:
        strata.setdefault(cell.stratum, []).append(cell.id)
    chosen: set[str] = set()
    for stratum, cells in strata.items():
        total = sum(len(by_cell.get(c, [])) for c in cells)
        size = REVIEW if sizes is None else sizes[stratum]
        for c in cells:
            ids = by_cell.get(c, [])
            k = min(len(ids), max(2, round(size * len(ids) / total))) if total else 0
            chosen.update(rng.choice(ids, size=k, replace=False).tolist() if k else [])
    return chosen


@pytest.fixture(scope="module")
def world():
    pop = make_population()
    plans = plan_cells(pop, TARGET)
    strata_names = sorted(set(pop.stratum.tolist()))
    rng = np.random.default_rng(99)
    fp = {s: 0.30 + 0.075 * i for i, s in enumerate(strata_names)}
    human = pop.correct
    u = rng.random(len(human))
    judge = np.where(human == 1.0, (u >= 0.01).astype(float),
                     (u < np.array([fp[s] for s in pop.stratum])).astype(float))
    return pop, plans, strata_names, judge, human


@pytest.fixture(scope="module")
def runs(world):
    return simulate(world, None, extras=True)


def simulate(world, sizes, *, extras):
    pop, plans, strata_names, judge, human = world
    position = {tid: i for i, tid in enumerate(pop.ids.tolist())}
    estimator = StratifiedEstimator()
    out = {"two_phase": [], "judge_plain": [], "no_phase1": [], "human_plain": [], "t": [], "small": [],
           "small_plain": []}
    out.update({f"row:{s}": [] for s in strata_names})
    for rep in range(REPS):
        d = draw(pop, plans, np.random.default_rng([2026, rep]))
        judged = {str(pop.ids[i]) for i in d.scored}
        reviewed = review_subsample(d.design, judged, np.random.default_rng([7, rep]), sizes)
        judge_values = {t: float(judge[position[t]]) for t in judged}
        human_values = {t: float(human[position[t]]) for t in reviewed}
        frame = ScoredFrame.build(d.design, human_values)
        strata = {s: {c.id for c in d.design.cells if c.stratum == s} for s in strata_names}
        plain = estimator.estimate_frame(frame, d.design, interval=IntervalMethod.KORN_GRAUBARD)
        plain_rows = {s: estimator.estimate_frame(frame, d.design, cells=ids, interval=IntervalMethod.KORN_GRAUBARD)
                      for s, ids in strata.items()}
        whole, rows = assist(d.design, frame, ProxySpec(ProxyKind.JUDGE, "correct"), strata, plain, plain_rows,
                          rate=True, confidence=0.95, lonely=LonelyCell.ADJUST,
                          rate_interval=IntervalMethod.KORN_GRAUBARD, judge=judge_values)
        e = whole.estimate
        tlo, thi = t_interval(e.mean, e.se, e.df)
        out["t"].append((e.mean, tlo, thi, thi - tlo))
        sm, sp = rows[SMALL].estimate, plain_rows[SMALL]
        out["small"].append((sm.mean, sm.ci_low, sm.ci_high, sm.ci_high - sm.ci_low))
        out["small_plain"].append((sp.mean, sp.ci_low, sp.ci_high, sp.ci_high - sp.ci_low))
        out["two_phase"].append((e.mean, e.ci_low, e.ci_high, e.ci_high - e.ci_low))
        out["human_plain"].append((plain.mean, plain.ci_low, plain.ci_high, plain.ci_high - plain.ci_low))
        for name in strata_names:
            r = rows[name].estimate
            out[f"row:{name}"].append((r.mean, r.ci_low, r.ci_high, r.ci_high - r.ci_low))
        if not extras:
            continue
        j = estimator.estimate_frame(ScoredFrame.build(d.design, judge_values), d.design,
                                     interval=IntervalMethod.KORN_GRAUBARD)
        out["judge_plain"].append((j.mean, j.ci_low, j.ci_high, j.ci_high - j.ci_low))
        # the same estimate with only the phase-2 variance
        phase1 = ScoredFrame.build(d.design, judge_values)
        h = np.array([human_values.get(t, math.nan) for t in phase1.trace_ids])
        groups, names = lambda_groups(phase1.cell_ids, [c.stratum for c in d.design.cells], Tuning.POOLED)
        two = twophase_fit(phase1, phase1.y, h, np.ones(len(h), bool), groups, names)
        low, high = korn_graubard(two.fit.mean, two.phase2_variance, two.fit.n, e.df)
        out["no_phase1"].append((two.fit.mean, low, high, high - low))
    truths = {f"row:{name}": float(human[pop.stratum == name].mean()) for name in strata_names}
    return (float(human.mean()), float(human[pop.stratum == SMALL].mean()),
            {k: np.array(v) for k, v in out.items() if v}, truths)


def coverage(rows, truth):
    return float(np.mean((rows[:, 1] <= truth) & (truth <= rows[:, 2])))


def test_two_phase_covers_the_human_truth(runs):
    truth, small_truth, out, truths = runs
    rows = out["two_phase"]
    print("\nper stratum (30 reviews):", {k[4:]: round(coverage(out[k], t), 3) for k, t in truths.items()})
    bias_mc = (rows[:, 0].mean() - truth) / (rows[:, 0].std(ddof=1) / math.sqrt(REPS))
    widths = {k: float(v[:, 3].mean()) for k, v in out.items()}
    print(f"\ntwo-phase: truth {truth:.3f}, bias {bias_mc:+.2f} MC se, coverage {coverage(rows, truth):.3f}; "
          f"judge alone {coverage(out['judge_plain'], truth):.3f} (mean {out['judge_plain'][:, 0].mean():.3f}); "
          f"without the phase-1 variance {coverage(out['no_phase1'], truth):.3f}; "
          f"humans alone {coverage(out['human_plain'], truth):.3f}; width two-phase / humans alone "
          f"{widths['two_phase'] / widths['human_plain']:.3f}; a t interval {coverage(out['t'], truth):.3f}; "
          f"{SMALL} (~30 reviews) {coverage(out['small'], small_truth):.3f}, humans alone "
          f"{coverage(out['small_plain'], small_truth):.3f}")
    assert abs(bias_mc) < 3.0
    assert 0.93 <= coverage(rows, truth) <= 0.97
    assert coverage(out["judge_plain"], truth) < 0.5
    assert coverage(out["no_phase1"], truth) < coverage(rows, truth)
    assert 0.93 <= coverage(out["small"], small_truth) <= 0.97
    assert all(coverage(out[k], t) >= 0.93 for k, t in truths.items())  # every stratum row, not only the rare one


PLAN_HALF_WIDTH = 0.15


def test_two_phase_at_the_review_size_plan_recommends(world):
    """A pilot window judged and reviewed (30 per stratum) -> `plan`'s reviews per stratum for a
    two-phase half-width of 0.15 -> 1000 draws at those sizes: coverage 93-97% globally and for
    the rare stratum, and each stratum's mean half-width near the goal."""
    from tracestrata.plan.ledger import plan_from_design
    from tracestrata.record import Score

    pop, plans, _names, judge, human = world
    position = {tid: i for i, tid in enumerate(pop.ids.tolist())}
    pilot = draw(pop, plans, np.random.default_rng([1, 0]))
    judged = {str(pop.ids[i]) for i in pilot.scored}
    reviewed = review_subsample(pilot.design, judged, np.random.default_rng([5, 0]))
    scores = [Score(t, "judge", float(judge[position[t]])) for t in judged]
    scores += [Score(t, "human", float(human[position[t]])) for t in reviewed]
    plan = plan_from_design(pilot.design, scores, "human", "score:judge", half_width=PLAN_HALF_WIDTH).plan
    sizes = {row.stratum: row.reviews for row in plan.strata}
    truth, small_truth, out, truths = simulate(world, sizes, extras=False)
    rows = out["two_phase"]
    widths = {k[4:]: float(out[k][:, 3].mean()) / 2 for k in truths}
    covers = {k[4:]: coverage(out[k], t) for k, t in truths.items()}
    print(f"\nplan's reviews for half-width {PLAN_HALF_WIDTH}: {sizes} (total {sum(sizes.values())}); "
          f"coverage {coverage(rows, truth):.3f}, {SMALL} {coverage(out['small'], small_truth):.3f}; "
          f"per stratum coverage {({k: round(v, 3) for k, v in covers.items()})}, "
          f"mean half-width {({k: round(v, 3) for k, v in widths.items()})}")
    assert all(row.reachable for row in plan.strata)
    assert 0.93 <= coverage(rows, truth) <= 0.97
    assert 0.93 <= coverage(out["small"], small_truth) <= 0.97
    assert all(w <= PLAN_HALF_WIDTH * 1.15 for w in widths.values())
