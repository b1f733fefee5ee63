"""Bias and coverage of the stratified estimator against a known truth, by simulation.

One fixed synthetic population (7 strata, compliance at 0.44% of volume, failures
at ~5% and judged far worse, multiplier 4, 10% of sampled traces never judged);
REPS independent draws of the design. For the global rate (`correct`, Korn–Graubard)
and the global mean (`quality`, t interval): mean error within 2 Monte Carlo SEs of
0, 95% intervals cover the truth in 93–97% of draws. The per-stratum Wilson interval
of the small compliance stratum covers at its nominal rate. The seed's
`reweighted_mean` is biased on the same draws. Run with `-s` to see the numbers.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from seed_baseline import reweighted_mean
from sim_design import draw, make_population, plan_cells

from tracestrata.estimate.estimators import ScoredFrame, StratifiedEstimator
from tracestrata.estimate.intervals import IntervalMethod

REPS = 1000
TARGET = 60
SMALL = "compliance"


@pytest.fixture(scope="module")
def runs():
    pop = make_population()
    plans = plan_cells(pop, TARGET)
    share = {s: float(np.mean(pop.stratum == s)) for s in set(pop.stratum.tolist())}
    estimator = StratifiedEstimator()
    strata_cells = {s: {p.id for p in plans if p.stratum == s} for s in sorted({p.stratum for p in plans})}
    rows = {k: [] for k in ("correct", "quality", "seed_correct", "seed_quality",
                            "delta_correct", "delta_quality", "rare_kg", "rare_kg_truncated", "rare_wald")}
    rare = rare_metric(pop)
    for rep in range(REPS):
        d = draw(pop, plans, np.random.default_rng([2026, rep]))
        groups = {g: {u.trace_id for u in d.design.units if u.attrs["release"] == g} for g in ("v41", "v42")}
        for metric in ("correct", "quality"):
            values = {str(pop.ids[i]): float(getattr(pop, metric)[i]) for i in d.scored}
            frame = ScoredFrame.build(d.design, values)
            est = estimator.estimate_frame(frame, d.design)
            rows[metric].append((est.mean, est.ci_low, est.ci_high, est.method))
            delta, _, low, high, _ = estimator.contrast(frame, groups["v41"], groups["v42"])
            rows[f"delta_{metric}"].append((delta, low, high))
            seed = reweighted_mean(d.scored, lambda i, metric=metric: float(getattr(pop, metric)[i]), share,
                                   lambda i: str(pop.stratum[i]))
            rows[f"seed_{metric}"].append(seed)
            if metric == "correct":
                for stratum, cells in strata_cells.items():
                    row = estimator.estimate_frame(frame, d.design, cells=cells,
                                                   interval=IntervalMethod.WILSON_EFFECTIVE)
                    rows.setdefault(f"stratum:{stratum}", []).append((row.mean, row.ci_low, row.ci_high))
        values = {str(pop.ids[i]): float(rare[i]) for i in d.scored}
        frame = ScoredFrame.build(d.design, values)
        for key, method in (("rare_kg", IntervalMethod.KORN_GRAUBARD),
                            ("rare_kg_truncated", IntervalMethod.KORN_GRAUBARD_TRUNCATED)):
            est = estimator.estimate_frame(frame, d.design, interval=method)
            rows[key].append((est.mean, est.ci_low, est.ci_high))
        z = 1.959963984540054
        rows["rare_wald"].append((est.mean, est.mean - z * est.se, est.mean + z * est.se))
    return pop, rows


def rare_metric(pop):
    """A rare rate (~1.8%): the judge's lowest quality scores."""
    return (pop.quality < 1.5).astype(float)


def summary(estimates, truth):
    est = np.array([e[0] for e in estimates])
    covered = np.array([e[1] <= truth <= e[2] for e in estimates])
    mc_se = est.std(ddof=1) / math.sqrt(len(est))
    return float(est.mean() - truth), float(mc_se), float(covered.mean())


def assert_unbiased_and_covers(estimates, truth, label):
    """Mean error within 2 Monte Carlo SEs of 0 and 95% intervals covering in 93-97% of draws."""
    bias, mc_se, coverage = summary(estimates, truth)
    print(f"\n{label}: truth={truth:+.5f} bias={bias:+.5f} (MC se {mc_se:.5f}, {bias / mc_se:+.2f} se) "
          f"coverage={coverage:.3f} reps={len(estimates)}")
    assert abs(bias) <= 2 * mc_se
    assert 0.93 <= coverage <= 0.97


@pytest.mark.parametrize("metric", ["correct", "quality"])
def test_global_estimate_unbiased_and_covers(runs, metric):
    pop, rows = runs
    assert_unbiased_and_covers(rows[metric], pop.truth(metric), f"{metric} ({rows[metric][0][3].value})")


@pytest.mark.parametrize("metric", ["correct", "quality"])
def test_release_delta_unbiased_and_covers(runs, metric):
    """--compare: the v42 − v41 delta (domains inside the cells, joint linearization)."""
    pop, rows = runs
    y = getattr(pop, metric)
    truth = float(y[pop.release == "v42"].mean() - y[pop.release == "v41"].mean())
    assert_unbiased_and_covers(rows[f"delta_{metric}"], truth, f"release delta on {metric}")


def test_small_stratum_wilson_covers_at_nominal_rate(runs):
    pop, rows = runs
    label = f"{SMALL} stratum ({np.mean(pop.stratum == SMALL):.2%} of volume), Wilson effective n"
    assert_unbiased_and_covers(rows[f"stratum:{SMALL}"], pop.stratum_truth("correct", SMALL), label)


@pytest.mark.parametrize("metric", ["correct", "quality"])
def test_seed_reweighted_mean_is_biased(runs, metric):
    pop, rows = runs
    truth = pop.truth(metric)
    seed = np.array(rows[f"seed_{metric}"])
    bias = float(seed.mean() - truth)
    mc_se = float(seed.std(ddof=1) / math.sqrt(len(seed)))
    ours_bias, _, _ = summary(rows[metric], truth)
    print(f"\nseed reweighted_mean on {metric}: bias={bias:+.5f} ({bias / mc_se:+.1f} MC se) vs ours {ours_bias:+.5f}")
    assert abs(bias) > 10 * mc_se
    assert abs(bias) > 5 * abs(ours_bias)


def test_rare_rate_korn_graubard_keeps_coverage_where_wald_does_not(runs):
    """A 1.8% rate. Measured over the 1000 draws: Korn–Graubard as R computes it 0.931,
    truncated at a design effect of 1: 0.965, Wald 0.881. The gates below were set
    after measuring, with margin: R's KG holds near nominal (a little under, as its
    variance estimate is noisy for rare events); Wald clearly does not."""
    pop, rows = runs
    truth = float(rare_metric(pop).mean())
    kg = summary(rows["rare_kg"], truth)
    truncated = summary(rows["rare_kg_truncated"], truth)
    wald = summary(rows["rare_wald"], truth)
    print(f"\nrare rate {truth:.4f}: bias={kg[0]:+.5f} ({kg[0] / kg[1]:+.2f} MC se); coverage Korn–Graubard "
          f"{kg[2]:.3f}, truncated {truncated[2]:.3f}, Wald {wald[2]:.3f}")
    assert abs(kg[0]) <= 2 * kg[1]
    assert kg[2] >= 0.92
    assert 0.93 <= truncated[2] <= 0.98
    assert wald[2] < kg[2] - 0.03


def test_every_stratum_wilson_covers(runs):
    """Per-stratum Wilson on the effective n, capped at n/(1 − f). Measured 0.947–0.968
    over the 7 strata (gates set after measuring, with margin). Without the cap,
    smalltalk (97% correct outside its 2% failures: its normal cell is often 50/50
    correct, so no variance) covered only 0.79."""
    pop, rows = runs
    coverages = {}
    for key, estimates in rows.items():
        if key.startswith("stratum:"):
            stratum = key.split(":", 1)[1]
            coverages[stratum] = summary(estimates, pop.stratum_truth("correct", stratum))[2]
    print("\nper-stratum Wilson coverage: " + ", ".join(f"{s} {c:.3f}" for s, c in coverages.items()))
    assert len(coverages) == 7
    assert all(0.93 <= c <= 0.98 for c in coverages.values()), coverages
