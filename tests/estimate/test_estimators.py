"""The stratified estimator: hand-checked values, missing-at-random, lonely and empty cells."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracestrata.design import Cell, CellKind, Design, Unit
from tracestrata.errors import EstimationError
from tracestrata.estimate.estimators import (
    Estimator,
    LonelyCell,
    ScoredFrame,
    StratifiedEstimator,
    domain_fit,
    naive_estimate,
)
from tracestrata.estimate.intervals import IntervalMethod


def design_of(spec: dict[str, tuple[int, list[float | None]]]) -> tuple[Design, dict[str, float]]:
    """spec: cell id -> (N, values of the sampled traces; None = sampled but not scored)."""
    cells, units, values = [], [], {}
    for cid, (big_n, ys) in spec.items():
        kind = CellKind.FAILURE if cid.endswith("f") else CellKind.NORMAL
        cells.append(Cell(cid, cid[:-1], {"intent": cid[:-1]}, kind, big_n, len(ys)))
        for j, y in enumerate(ys):
            units.append(Unit(f"{cid}{j}", cid, {"release": "v1" if j % 2 else "v2"}))
            if y is not None:
                values[f"{cid}{j}"] = y
    return Design(tuple(cells), tuple(units)), values


def test_hand_checked_mean_and_variance():
    # mean = (100·2.5 + 10·11)/110; var = (100/110)²·0.96·(5/3)/4 + (10/110)²·0.8·2/2
    design, values = design_of({"an": (100, [1, 2, 3, 4]), "af": (10, [10, 12])})
    est = StratifiedEstimator().estimate(design, values)
    assert est.mean == pytest.approx(360 / 110)
    var = (100 / 110) ** 2 * 0.96 * (5 / 3) / 4 + (10 / 110) ** 2 * 0.8 * 2 / 2
    assert est.se == pytest.approx(math.sqrt(var))
    assert est.df == 4 and est.n_scored == 6 and est.method is IntervalMethod.T
    assert est.population == 110 and est.covered_share == 1.0
    assert isinstance(StratifiedEstimator(), Estimator)


def test_unscored_sampled_traces_are_missing_at_random_within_cell():
    # the weight uses m_c (scored), not k_c (sampled): unscored traces change nothing
    a, va = design_of({"an": (100, [1, 2, 3, 4]), "af": (10, [10, 12])})
    b, vb = design_of({"an": (100, [1, 2, None, 3, 4, None]), "af": (10, [None, 10, 12])})
    ea, eb = StratifiedEstimator().estimate(a, va), StratifiedEstimator().estimate(b, vb)
    assert (ea.mean, ea.se, ea.n_scored) == pytest.approx((eb.mean, eb.se, eb.n_scored))


def test_census_cell_adds_no_variance():
    design, values = design_of({"an": (100, [1, 2, 3, 4]), "af": (2, [10, 12])})
    est = StratifiedEstimator().estimate(design, values)
    var = (100 / 102) ** 2 * 0.96 * (5 / 3) / 4
    assert est.se == pytest.approx(math.sqrt(var))


def test_lonely_cell_policies():
    design, values = design_of({"an": (100, [1, 2, 3, 4]), "af": (10, [10, None])})
    base = (100 / 110) ** 2 * 0.96 * (5 / 3) / 4
    mean = (250 + 100) / 110
    z = 10 * (10 - mean) / 110  # the lonely trace's influence value
    adjust = StratifiedEstimator(lonely=LonelyCell.ADJUST).estimate(design, values)
    certainty = StratifiedEstimator(lonely=LonelyCell.CERTAINTY).estimate(design, values)
    assert adjust.lonely_cells == ("af",) == certainty.lonely_cells
    assert certainty.se == pytest.approx(math.sqrt(base))
    assert adjust.se == pytest.approx(math.sqrt(base + 0.9 * z * z))
    with pytest.raises(EstimationError, match="single score") as info:
        StratifiedEstimator(lonely=LonelyCell.ERROR).estimate(design, values)
    assert info.value.field == "af"


def test_lonely_census_cell_is_fine_under_error():
    design, values = design_of({"an": (100, [1, 2, 3, 4]), "af": (1, [10])})
    est = StratifiedEstimator(lonely=LonelyCell.ERROR).estimate(design, values)
    assert est.lonely_cells == ()


def test_cell_without_scores_is_dropped_and_reported():
    design, values = design_of({"an": (100, [1, 2, 3, 4]), "af": (25, [None, None])})
    est = StratifiedEstimator().estimate(design, values)
    assert est.mean == pytest.approx(2.5)
    assert est.empty_cells == ("af",)
    assert est.population == 100 and est.population_total == 125
    assert est.covered_share == pytest.approx(0.8)


def test_rates_get_korn_graubard_and_zero_rate_is_handled():
    design, values = design_of({"an": (1000, [0.0] * 30), "af": (40, [0.0] * 10)})
    est = StratifiedEstimator().estimate(design, values)
    assert est.method is IntervalMethod.KORN_GRAUBARD
    assert est.mean == 0.0 and est.se == 0.0
    assert est.ci_low == 0.0 and 0.0 < est.ci_high < 0.15


def test_no_scores_at_all():
    design, _ = design_of({"an": (100, [None, None])})
    est = StratifiedEstimator().estimate(design, {})
    assert math.isnan(est.mean) and est.n_scored == 0
    assert (est.ci_low, est.ci_high) == (0.0, 1.0)


def test_domain_of_whole_cells_equals_estimate_on_those_cells_alone():
    full, values = design_of({"an": (100, [1, 2, 3, 4]), "af": (10, [10, 12]), "bn": (50, [5, 6, 7])})
    alone, _ = design_of({"an": (100, [1, 2, 3, 4]), "af": (10, [10, 12])})
    dom = StratifiedEstimator().estimate(full, values, cells={"an", "af"})
    ref = StratifiedEstimator().estimate(alone, {k: v for k, v in values.items() if k[0] == "a"})
    assert (dom.mean, dom.se, dom.df) == pytest.approx((ref.mean, ref.se, ref.df))
    assert dom.population_total == 110


def test_contrast_of_a_group_with_itself_is_zero():
    design, values = design_of({"an": (100, [1, 2, 3, 4]), "af": (10, [10, 12])})
    frame = ScoredFrame.build(design, values)
    ids = set(values)
    delta, se, low, high, _ = StratifiedEstimator().contrast(frame, ids, ids)
    assert delta == 0.0 and se == 0.0


def test_unknown_cell_and_overfull_cell_are_errors():
    design, values = design_of({"an": (100, [1, 2])})
    bad = Design(design.cells, design.units + (Unit("x", "nope"),))
    with pytest.raises(EstimationError, match="unknown cell"):
        StratifiedEstimator().estimate(bad, {**values, "x": 1.0})
    over = Design((Cell("an", "a", {}, CellKind.NORMAL, 1, 2),), design.units)
    with pytest.raises(EstimationError, match="population is 1"):
        StratifiedEstimator().estimate(over, values)


def test_naive_estimate():
    rate = naive_estimate([1.0, 0.0, 0.0, 0.0])
    assert rate.mean == 0.25 and rate.method is IntervalMethod.WILSON
    mean = naive_estimate([1.0, 2.0, 3.0])
    assert mean.mean == 2.0 and mean.method is IntervalMethod.T and mean.se == pytest.approx(1 / math.sqrt(3))
    assert naive_estimate([]).n_scored == 0


cells_strategy = st.lists(
    st.tuples(st.integers(min_value=1, max_value=500), st.integers(min_value=0, max_value=30)),
    min_size=1,
    max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(cells_strategy, st.integers(min_value=0, max_value=2**32 - 1))
def test_weights_sum_to_covered_population(spec, seed):
    import random

    rng = random.Random(seed)
    built = {}
    for i, (big_n, m) in enumerate(spec):
        m = min(m, big_n)
        built[f"c{i}n"] = (big_n, [rng.random() for _ in range(m)])
    design, values = design_of(built)
    frame = ScoredFrame.build(design, values)
    covered = sum(big_n for big_n, ys in built.values() if ys)
    assert frame.weight.sum() == pytest.approx(covered)
    fit = domain_fit(frame, frame.mask())
    assert fit.population == pytest.approx(covered)
    if values:
        est = StratifiedEstimator().estimate(design, values)
        assert est.se >= 0.0 and min(values.values()) - 1e-9 <= est.mean <= max(values.values()) + 1e-9


# One shared suite every `Estimator` must pass (as scikit-learn's estimator checks):
# a future difference/PPI estimator is added to ESTIMATORS and inherits these.
ESTIMATORS = [StratifiedEstimator(), StratifiedEstimator(lonely=LonelyCell.CERTAINTY),
              StratifiedEstimator(interval=IntervalMethod.T)]
SHARED = {"an": (300, [1.0, 4.0, 2.5, 3.0, None]), "af": (12, [0.5, 1.5, 1.0]), "bn": (80, [2.0, 2.0, 5.0])}


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=repr)
def test_shared_census_is_exact(estimator):
    design, values = design_of({"an": (3, [1.0, 2.0, 6.0]), "bn": (2, [4.0, 2.0])})
    est = estimator.estimate(design, values)
    assert est.mean == pytest.approx(3.0) and est.se == 0.0


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=repr)
def test_shared_constant_values(estimator):
    design, values = design_of(SHARED)
    est = estimator.estimate(design, {k: 2.5 for k in values})
    assert est.mean == pytest.approx(2.5) and est.se == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=repr)
def test_shared_affine_equivariance_and_unit_order(estimator):
    design, values = design_of(SHARED)
    base = estimator.estimate(design, values)
    shifted = estimator.estimate(design, {k: 3.0 * v - 1.0 for k, v in values.items()})
    assert shifted.mean == pytest.approx(3.0 * base.mean - 1.0)
    assert shifted.se == pytest.approx(3.0 * base.se)
    reordered = Design(tuple(reversed(design.cells)), tuple(reversed(design.units)))
    again = estimator.estimate(reordered, values)
    assert (again.mean, again.se, again.ci_low, again.ci_high) == pytest.approx(
        (base.mean, base.se, base.ci_low, base.ci_high))


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=repr)
def test_shared_interval_contains_the_estimate_and_narrows_with_confidence(estimator):
    design, values = design_of(SHARED)
    wide = estimator.estimate(design, values, confidence=0.99)
    narrow = estimator.estimate(design, values, confidence=0.8)
    assert wide.ci_low <= narrow.ci_low <= narrow.mean <= narrow.ci_high <= wide.ci_high


def test_stratum_wilson_is_capped_when_a_heavy_cell_agrees_unanimously():
    # the heavy normal cell is 50/50 correct: no variance there; the effective n must not explode
    design, values = design_of({"an": (2900, [1.0] * 50), "af": (60, [1.0, 0.0, 0.0, 1.0, 0.0])})
    est = StratifiedEstimator(interval=IntervalMethod.WILSON_EFFECTIVE).estimate(design, values)
    n, population = 55, 2960
    cap = n / (1 - n / population)
    from tracestrata.estimate.intervals import wilson

    assert (est.ci_low, est.ci_high) == pytest.approx(wilson(est.mean, cap))
    assert est.ci_low < 0.95
