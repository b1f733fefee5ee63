"""Reusing a platform evaluator's scores: bias, coverage and width against a known truth.

One fixed population of 26,000 traces in 5 strata, a rate metric (`correct`) whose truth
differs by stratum; an evaluator with rate 5% whose filter excludes the `excluded`
stratum (the one with the worst rate, so extrapolating to it would show as bias). Each
replication draws the evaluator's Bernoulli(5%) sample inside the filter, builds the
design `tracestrata.evaluators.design` builds (cells = strata ∩ filter,
population = the filtered traces, sampled = the realised n_h) and runs the real report
(`evaluator_report` -> `build_report`). Numbers are descriptive: the truth is this
population's rate (inside the filter), with the finite-population correction.

For the global estimate (Korn–Graubard) and every covered stratum's row (Wilson on the
effective n), including the rare one (600 traces, ~30 scores): mean error within 2
Monte Carlo SEs, 95% intervals cover in 93–97% of the replications, and the mean width
is close to 2 × 1.96 × the empirical SD of the estimates. The Bernoulli draw stands in
for the SHA-256 sampling value, which `tests/evaluators/test_evaluator_sampling.py` shows
uniform; fed the real sampling values of the population's ids, this construction gives
the report `evaluator_design` builds from the same traces as records (the last test).
Run with `-s` to see the numbers.
"""

from __future__ import annotations

import math

from datetime import UTC, datetime

import numpy as np
import pytest

from tracestrata.design import Cell, CellKind, Design, Unit, cell_id
from tracestrata.estimate.evaluator import EvaluatorScope, StratumScope, evaluator_report
from tracestrata.record import Score, TraceRecord
from tracestrata.evaluators.design import evaluator_design
from tracestrata.evaluators.sampling_value import sampling_values
from tracestrata.policy.parse import parse_policy

REPS = 1000
RATE = 0.05
STRATA = {  # stratum: (traces, true rate of `correct`)
    "billing": (12_000, 0.90),
    "tech": (6_000, 0.72),
    "sales": (3_400, 0.81),
    "compliance": (600, 0.55),  # the rare one: ~30 scores a replication
    "excluded": (4_000, 0.20),  # outside the evaluator's filter
}
FILTERED_OUT = "excluded"
Z = 1.959963984540054


@pytest.fixture(scope="module")
def population():
    rng = np.random.default_rng(19)
    names = list(STRATA)
    stratum = np.concatenate([np.full(n, i) for i, (n, _) in enumerate(STRATA.values())])
    y = np.concatenate([rng.random(n) < p for n, p in STRATA.values()])  # a fixed finite population
    ids = [f"trace-{i:06d}" for i in range(len(y))]
    in_filter = stratum != names.index(FILTERED_OUT)
    return names, stratum, y, ids, in_filter


def one_replication(population, rng):
    """The evaluator's sample of one replication (a Bernoulli draw) as the design the report reads."""
    return report_for(population, rng.random(len(population[2])))


def report_for(population, values):
    """The report when the evaluator picks the filtered traces whose sampling value is below RATE."""
    names, stratum, y, ids, in_filter = population
    picked = np.flatnonzero(in_filter & (values < RATE))
    kept = [h for h, name in enumerate(names) if name != FILTERED_OUT]
    sizes = np.bincount(stratum[in_filter], minlength=len(names))
    drawn = np.bincount(stratum[picked], minlength=len(names))
    cells = tuple(Cell(cell_id(names[h], CellKind.NORMAL), names[h], {"metadata.intent": names[h]}, CellKind.NORMAL,
                       int(sizes[h]), int(drawn[h])) for h in kept)
    units = tuple(Unit(ids[i], cells[kept.index(int(stratum[i]))].id) for i in picked.tolist())
    scores = [Score(ids[i], "correct", bool(y[i])) for i in picked.tolist()]
    scope = EvaluatorScope(
        "correct", RATE, "observation", "metadata.intent not_equals 'excluded'", len(y),
        tuple(StratumScope(name, n, 0 if name == FILTERED_OUT else n) for name, (n, _) in STRATA.items()),
    )
    return evaluator_report(Design(cells, units), scope, scores)


@pytest.fixture(scope="module")
def runs(population):
    rows = {"global": []} | {name: [] for name in STRATA if name != FILTERED_OUT}
    warned = []
    for rep in range(REPS):
        report = one_replication(population, np.random.default_rng([2019, rep]))
        e = report.estimate
        rows["global"].append((e.mean, e.ci_low, e.ci_high))
        for row in report.strata:
            rows[row.stratum].append((row.estimate.mean, row.estimate.ci_low, row.estimate.ci_high))
        warned.append({w.code for w in report.warnings})
    return rows, warned


def truths(population):
    names, stratum, y, _, in_filter = population
    out = {"global": float(y[in_filter].mean())}
    out |= {name: float(y[stratum == h].mean()) for h, name in enumerate(names) if name != FILTERED_OUT}
    return out


def summary(estimates, truth):
    est = np.array([e[0] for e in estimates])
    low = np.array([e[1] for e in estimates])
    high = np.array([e[2] for e in estimates])
    sd = float(est.std(ddof=1))
    return {
        "bias": float(est.mean() - truth),
        "mc_se": sd / math.sqrt(len(est)),
        "coverage": float(np.mean((low <= truth) & (truth <= high))),
        "width_ratio": float(np.mean(high - low)) / (2 * Z * sd),
    }


def test_unbiased_with_nominal_coverage_and_honest_width(population, runs):
    rows, _ = runs
    truth = truths(population)
    for scope, estimates in rows.items():
        assert len(estimates) == REPS, scope  # no replication left a covered stratum without scores
        s = summary(estimates, truth[scope])
        print(f"{scope:>10}: truth {truth[scope]:.4f} bias {s['bias']:+.5f} (MC SE {s['mc_se']:.5f}) "
              f"coverage {s['coverage']:.3f} width/(2·1.96·SD) {s['width_ratio']:.3f}")
        assert abs(s["bias"]) < 2 * s["mc_se"], (scope, s)
        assert 0.93 <= s["coverage"] <= 0.97, (scope, s)
        assert 0.9 <= s["width_ratio"] <= 1.2, (scope, s)


def test_the_estimand_is_the_filtered_population(population, runs):
    rows, warned = runs
    names, stratum, y, _, _ = population
    whole = float(y.mean())
    filtered = truths(population)["global"]
    mean = float(np.mean([e[0] for e in rows["global"]]))
    assert abs(mean - filtered) < abs(mean - whole) / 10  # it estimates the filtered traces, not all of them
    assert all("evaluator_filter" in codes for codes in warned)
    assert FILTERED_OUT not in rows


def test_the_simulated_design_is_the_one_the_pipeline_builds(population):
    # The same population as trace records, through `evaluator_design` with the real hash: the same report
    # as the simulation's construction fed with the same sampling values.
    names, stratum, y, ids, _ = population
    start = datetime(2026, 1, 1, tzinfo=UTC)
    records = [TraceRecord(tid, start, metadata={"intent": names[h]}) for tid, h in zip(ids, stratum.tolist())]
    policy = parse_policy({"seed": "sim", "strata": [{"field": "metadata.intent"}], "evaluator": [
        {"name": "correct", "rate": RATE, "hashes": "trace",
         "filter": [{"field": "metadata.intent", "not_equals": FILTERED_OUT}]}]}, source="sim")
    built = evaluator_design(records, policy, policy.evaluators[0])
    scores = [Score(u.trace_id, "correct", bool(y[int(u.trace_id.split("-")[1])])) for u in built.design.units]
    piped = evaluator_report(built.design, built.scope, scores)
    simulated = report_for(population, sampling_values(ids))
    def numbers(report):  # equal up to the order of float sums
        rows = [(r.stratum, r.population, r.sampled, r.scored, *numbers_of(r.estimate)) for r in report.strata]
        return [*numbers_of(report.estimate), report.population, rows]

    def numbers_of(e):
        return e.mean, e.se, e.ci_low, e.ci_high, e.n_scored

    assert numbers(piped)[:-1] == pytest.approx(numbers(simulated)[:-1], rel=1e-12)
    for a, b in zip(numbers(piped)[-1], numbers(simulated)[-1], strict=True):
        assert a[:4] == b[:4] and a[4:] == pytest.approx(b[4:], rel=1e-12)
