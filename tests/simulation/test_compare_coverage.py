"""Coverage of `report --compare` rate deltas at small n, by simulation against a known truth.

The population of `sim_design` (7 strata, failures oversampled x4, 10% of sampled
traces never judged) with a small target per stratum (14, then 60), so each release
has about 5 (then 24) judged traces per stratum. For every stratum and the whole population the report's
v42 − v41 delta of `correct` (Newcombe's hybrid score on the groups' Wilson /
Korn–Graubard intervals) must cover the finite-population truth near the nominal 95%
and stay inside [−100, +100] pp; the t interval on the linearization it replaced is
measured beside it. Run with `-s` to see the numbers.
"""

from __future__ import annotations

import numpy as np
import pytest
from sim_design import draw, make_population, plan_cells

from tracestrata.design import ALL
from tracestrata.estimate.estimators import ScoredFrame, StratifiedEstimator
from tracestrata.estimate.report import build_report
from tracestrata.record import Score

REPS = 500


@pytest.fixture(scope="module", params=[14, 60], ids=["5-per-group", "24-per-group"])
def runs(request):
    pop = make_population(n=20_000, seed=11)
    plans = plan_cells(pop, request.param)
    strata_cells = {s: {p.id for p in plans if p.stratum == s} for s in sorted({p.stratum for p in plans})}
    estimator = StratifiedEstimator()
    rows: dict[str, list[tuple[float, float, float, float, float, int, bool]]] = {}
    for rep in range(REPS):
        d = draw(pop, plans, np.random.default_rng([11, rep]))
        scores = [Score(str(pop.ids[i]), "correct", bool(pop.correct[i])) for i in d.scored]
        comparison = build_report(d.design, scores, "correct", compare="release").comparison
        assert comparison is not None and (comparison.a, comparison.b) == ("v41", "v42")
        frame = ScoredFrame.build(d.design, {s.trace_id: float(s.value) for s in scores})
        groups = {g: {u.trace_id for u in d.design.units if u.attrs["release"] == g} for g in ("v41", "v42")}
        for delta in (comparison.overall, *comparison.strata):
            cells = None if delta.scope == ALL else strata_cells[delta.scope]
            _, _, t_low, t_high, _ = estimator.contrast(frame, groups["v41"], groups["v42"], cells=cells)
            n = min(delta.a.n_scored, delta.b.n_scored)
            rows.setdefault(delta.scope, []).append(
                (delta.delta, delta.ci_low, delta.ci_high, t_low, t_high, n, delta.significant))
    return pop, rows


def truth(pop, scope: str) -> float:
    inside = np.ones(len(pop.ids), bool) if scope == ALL else pop.stratum == scope
    y = pop.correct
    return float(y[inside & (pop.release == "v42")].mean() - y[inside & (pop.release == "v41")].mean())


def test_rate_deltas_cover_at_small_n_and_stay_in_range(runs):
    pop, rows = runs
    print()
    small_total = covered_total = 0
    for scope, draws in rows.items():
        arr = np.array([r[:6] for r in draws if not np.isnan(r[1])])
        true = truth(pop, scope)
        newcombe = float(np.mean((arr[:, 1] <= true) & (true <= arr[:, 2])))
        t = float(np.mean((arr[:, 3] <= true) & (true <= arr[:, 4])))
        outside = float(np.mean((arr[:, 3] < -1) | (arr[:, 4] > 1)))
        print(f"{scope:>12}: truth {true * 100:+6.1f} pp, judged per group median {np.median(arr[:, 5]):4.0f}; "
              f"coverage Newcombe {newcombe:.3f}, t {t:.3f} (t outside ±100 pp in {outside:.1%}); "
              f"draws {len(arr)}")
        assert np.all(arr[:, 1] >= -1.0) and np.all(arr[:, 2] <= 1.0)
        assert np.all(arr[:, 2] - arr[:, 1] > 0.0)  # never a point: no stratum is a census here
        assert newcombe >= 0.92, scope
        if scope != ALL:
            small_total += len(arr)
            covered_total += int(round(newcombe * len(arr)))
    pooled = covered_total / small_total
    print(f"pooled over strata: Newcombe coverage {pooled:.3f}")
    assert 0.93 <= pooled <= 0.985


def test_small_strata_are_never_flagged(runs):
    _, rows = runs
    flagged_small = sum(1 for draws in rows.values() for r in draws if r[5] < 10 and r[6])
    assert flagged_small == 0
