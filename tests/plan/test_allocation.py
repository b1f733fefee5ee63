from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracestrata.errors import ConfigError
from tracestrata.estimate.intervals import wilson
from tracestrata.plan.allocation import AllocationMethod, plan_allocation, StratumInput
from tracestrata.plan.budget import trim_to_budget
from tracestrata.plan.neyman import allocate_proportional, global_half_width, neyman_allocation
from tracestrata.plan.rates import CONSERVATIVE_RATE, observed_rate, usable_rate
from tracestrata.plan.wilson import failure_split, FailureSplit, wilson_half_width, wilson_target

Z95 = 1.959963984540054


def test_wilson_half_width_pinned_by_hand() -> None:
    # n=100, p=0.1, z=1.96: z*sqrt(p(1-p)n + z^2/4) / (n + z^2)
    expected = Z95 * math.sqrt(0.09 * 100 + Z95**2 / 4) / (100 + Z95**2)
    assert wilson_half_width(100, 0.1) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.0596, abs=1e-4)


def test_half_width_is_half_the_wilson_interval() -> None:
    low, high = wilson(30 / 200, 200)
    assert wilson_half_width(200, 0.15) == pytest.approx((high - low) / 2, rel=1e-12)


def test_finite_population_correction() -> None:
    assert wilson_half_width(50, 0.2, population=50) == 0.0
    assert wilson_half_width(50, 0.2, population=100) < wilson_half_width(50, 0.2)
    # n_eff = n (N-1)/(N-n): the same width as an infinite-population sample of n_eff
    assert wilson_half_width(50, 0.2, population=100) == pytest.approx(
        Z95 * math.sqrt(0.16 * 99 + Z95**2 / 4) / (99 + Z95**2)
    )
    with pytest.raises(ValueError):
        wilson_half_width(101, 0.2, population=100)


@pytest.mark.parametrize("p", [0.01, 0.05, 0.2, 0.5, 0.93])
@pytest.mark.parametrize("h", [0.02, 0.05, 0.1])
@pytest.mark.parametrize("population", [None, 40, 1000, 10**6])
def test_wilson_target_is_the_smallest_n(p: float, h: float, population: int | None) -> None:
    n = wilson_target(h, p, population=population)
    assert n >= 1
    if population is not None:
        assert n <= population
    assert wilson_half_width(n, p, population=population) <= h
    assert wilson_half_width(n - 1, p, population=population) > h


def test_wilson_target_textbook_values() -> None:
    # Wald would say 1.96^2 * 0.25 / 0.05^2 = 385; Wilson at p-hat = 0.5 needs a little less
    assert wilson_target(0.05, 0.5) == 381
    assert wilson_target(0.05, 0.05) == 83
    assert wilson_target(0.05, 0.05, population=100) == 46
    assert wilson_target(0.05, 0.5, confidence=0.99) > wilson_target(0.05, 0.5)


def test_without_fpc_a_small_population_is_taken_whole() -> None:
    assert wilson_target(0.01, 0.5, population=30) == 30
    assert wilson_target(0.05, 0.5, population=0) == 0


def test_degenerate_rates_become_conservative() -> None:
    assert usable_rate(0.0) == CONSERVATIVE_RATE
    assert usable_rate(1.0) == CONSERVATIVE_RATE
    assert wilson_target(0.05, 0.0) == wilson_target(0.05, 0.5)
    with pytest.raises(ConfigError):
        usable_rate(1.5)
    with pytest.raises(ConfigError):
        wilson_target(0.0, 0.1)


def test_observed_rate() -> None:
    assert observed_rate(5, 100) == 0.05
    _, high = wilson(0.0, 1000)
    assert observed_rate(0, 1000) == high
    assert 0 < observed_rate(0, 1000) < 0.005
    assert observed_rate(1000, 1000) == wilson(1.0, 1000)[0]
    assert observed_rate(0, 0) == CONSERVATIVE_RATE


def test_trim_cuts_the_long_tail_first() -> None:
    targets = {"big": 300, "mid": 200, "small": 150, "tiny": 80}
    populations = {"big": 10**6, "mid": 10**5, "small": 2000, "tiny": 90}
    out = trim_to_budget(targets, populations, 600, floor=30)
    assert sum(out.values()) == 600
    # 130 over: tiny goes to its floor (-50), small gives the remaining 80; mid and big untouched
    assert out == {"big": 300, "mid": 200, "small": 70, "tiny": 30}


def test_trim_not_binding_and_floor_errors() -> None:
    targets = {"a": 100, "b": 10}
    assert trim_to_budget(targets, {"a": 1000, "b": 10}, 500) == targets
    # floor of a stratum smaller than the floor is the stratum itself
    assert trim_to_budget(targets, {"a": 1000, "b": 10}, 40, floor=30) == {"a": 30, "b": 10}
    with pytest.raises(ConfigError, match="smaller than the floors"):
        trim_to_budget(targets, {"a": 1000, "b": 10}, 39, floor=30)


def test_neyman_proportional_to_n_times_s() -> None:
    populations = {"a": 9000, "b": 1000}
    rates = {"a": 0.1, "b": 0.5}
    out = neyman_allocation(populations, rates, 100)
    wa, wb = 9000 * 0.3, 1000 * 0.5
    assert out["a"] + out["b"] == 100
    assert out["a"] == round(100 * wa / (wa + wb))


def test_neyman_caps_and_redistributes() -> None:
    populations = {"a": 100_000, "b": 20, "c": 50_000}
    rates = {"a": 0.2, "b": 0.5, "c": 0.2}
    out = neyman_allocation(populations, rates, 5000, floor=0)
    assert out["b"] <= 20
    assert sum(out.values()) == 5000
    assert out["a"] == pytest.approx(2 * out["c"], abs=2)
    # everything fits: take every stratum whole
    assert neyman_allocation({"a": 10, "b": 5}, {"a": 0.1, "b": 0.1}, 100) == {"a": 10, "b": 5}


def test_neyman_floors() -> None:
    out = neyman_allocation({"a": 10**6, "b": 500}, {"a": 0.3, "b": 0.01}, 200, floor=30)
    assert out == {"a": 170, "b": 30}
    with pytest.raises(ConfigError):
        neyman_allocation({"a": 10**6, "b": 500}, {"a": 0.3, "b": 0.01}, 50, floor=30)


STRATA = [
    StratumInput("billing", 350_000, 0.05),
    StratumInput("tech", 200_000, 0.12),
    StratumInput("refund", 50_000, 0.08),
    StratumInput("compliance", 5_000, 0.15),
    StratumInput("rare", 12, 0.2),
    StratumInput("empty", 0, 0.1),
]


def test_plan_wilson_meets_the_goal_everywhere() -> None:
    plan = plan_allocation(STRATA, half_width=0.05)
    by = {s.stratum: s for s in plan.strata}
    assert by["empty"].target == 0 and by["empty"].half_width is None
    assert by["rare"].target <= 12
    for s in plan.strata:
        if s.population:
            assert s.half_width is not None and s.half_width <= 0.05
            assert not s.trimmed
    assert plan.total == sum(s.target for s in plan.strata)
    assert sum(s.share for s in plan.strata) == pytest.approx(1.0)
    assert [s.stratum for s in plan.strata] == [s.stratum for s in STRATA]


def test_plan_wilson_under_budget_trims_the_tail() -> None:
    full = plan_allocation(STRATA, half_width=0.05)
    budget = full.total - 100
    plan = plan_allocation(STRATA, half_width=0.05, budget=budget, floor=20)
    by = {s.stratum: s for s in plan.strata}
    assert plan.total == budget
    assert by["billing"].target == {s.stratum: s for s in full.strata}["billing"].target
    assert (
        by["compliance"].trimmed and by["compliance"].target < {s.stratum: s for s in full.strata}["compliance"].target
    )
    assert by["rare"].target == 12  # already below the floor: left alone
    assert by["compliance"].half_width is not None and by["compliance"].half_width > 0.05


def test_plan_neyman_without_budget_meets_the_global_goal() -> None:
    plan = plan_allocation(STRATA, method=AllocationMethod.NEYMAN, half_width=0.01, floor=10)
    assert plan.global_half_width is not None and plan.global_half_width <= 0.01
    populations = {s.stratum: s.population for s in STRATA}
    rates = {s.stratum: s.rate for s in STRATA}
    smaller = neyman_allocation(populations, rates, plan.total - 1, floor=10)
    width = global_half_width(populations, rates, smaller)
    assert width is not None and width > 0.01


def test_plan_neyman_with_budget_and_errors() -> None:
    plan = plan_allocation(STRATA, method=AllocationMethod.NEYMAN, budget=1000, floor=10)
    assert plan.total == 1000
    assert all(s.target >= min(10, s.population) for s in plan.strata)
    with pytest.raises(ConfigError, match="floors"):
        plan_allocation(STRATA, method=AllocationMethod.NEYMAN, budget=30, floor=10)
    with pytest.raises(ConfigError, match="confidence"):
        plan_allocation(STRATA, confidence=1.0)
    with pytest.raises(ConfigError, match="half-width"):
        plan_allocation(STRATA, half_width=0.7)


def test_plan_all_empty() -> None:
    plan = plan_allocation([StratumInput("a", 0, 0.1)], budget=10)
    assert plan.total == 0 and plan.global_half_width is None


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=3),
        st.tuples(st.floats(0, 100), st.integers(0, 50), st.integers(0, 500)),
        min_size=1,
        max_size=8,
    ),
    st.integers(0, 3000),
)
def test_allocate_proportional_respects_bounds_and_total(spec: dict[str, tuple[float, int, int]], total: int) -> None:
    weights = {k: w for k, (w, _, _) in spec.items()}
    lower = {k: min(lo, hi) for k, (_, lo, hi) in spec.items()}
    upper = {k: hi for k, (_, _, hi) in spec.items()}
    if total < sum(lower.values()):
        with pytest.raises(ConfigError):
            allocate_proportional(weights, total, lower, upper)
        return
    out = allocate_proportional(weights, total, lower, upper)
    assert sum(out.values()) == min(total, sum(upper.values()))
    for k, n in out.items():
        assert lower[k] <= n <= upper[k]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 10**6), st.floats(0, 1)), min_size=1, max_size=10),
    st.floats(0.01, 0.2),
    st.integers(0, 50),
    st.booleans(),
)
def test_plan_invariants(rows: list[tuple[int, float]], h: float, floor: int, fpc: bool) -> None:
    strata = [StratumInput(f"s{i}", n, p) for i, (n, p) in enumerate(rows)]
    plan = plan_allocation(strata, half_width=h, floor=floor, fpc=fpc)
    for s in plan.strata:
        assert 0 <= s.target <= s.population
        if s.population and s.target < s.population:
            assert s.half_width is not None and s.half_width <= h + 1e-12
    budget = plan.total // 2
    floors = sum(min(floor, s.target) for s in plan.strata)
    if budget >= floors:
        trimmed = plan_allocation(strata, half_width=h, floor=floor, fpc=fpc, budget=budget)
        assert trimmed.total == budget
        for s, t in zip(plan.strata, trimmed.strata, strict=True):
            assert t.target <= s.target
            assert t.target >= min(floor, s.target)


@pytest.mark.parametrize(
    ("population", "p", "h"), [(5000, 0.05, 0.05), (800, 0.2, 0.05), (100_000, 0.01, 0.02), (300, 0.5, 0.08)]
)
def test_planned_half_width_is_what_a_sample_delivers_on_average(population: int, p: float, h: float) -> None:
    """Simulation: draw the planned n without replacement from a population with rate p; the
    Wilson half-width (with the FPC) the sample actually gets averages at (or just under) h."""
    import numpy as np

    n = wilson_target(h, p, population=population)
    failures = round(p * population)
    draws = np.random.default_rng(7).hypergeometric(failures, population - failures, n, size=3000)
    realized = np.array([wilson_half_width(n, x / n, population=population) for x in draws])
    assert 0.93 * h <= realized.mean() <= 1.005 * h


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 10**6), st.integers(0, 500)), min_size=1, max_size=12),
    st.integers(0, 60),
    st.floats(0, 1),
)
def test_trim_touches_a_stratum_only_after_every_smaller_one_is_at_its_floor(
    rows: list[tuple[int, int]], floor: int, fraction: float
) -> None:
    populations = {f"s{i}": n for i, (n, _) in enumerate(rows)}
    targets = {f"s{i}": min(t, n) for i, (n, t) in enumerate(rows)}
    floors = {k: min(floor, t) for k, t in targets.items()}
    budget = sum(floors.values()) + round(fraction * (sum(targets.values()) - sum(floors.values())))
    out = trim_to_budget(targets, populations, budget, floor=floor)
    assert sum(out.values()) == min(budget, sum(targets.values()))
    order = sorted(targets, key=lambda k: (populations[k], k))
    cut = [k for k in order if out[k] < targets[k]]
    for k in cut[:-1]:
        assert out[k] == floors[k]  # every cut stratum but the last is at its floor
    if cut:
        later = order[order.index(cut[-1]) + 1 :]
        assert all(out[k] == targets[k] for k in later)  # bigger strata untouched


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 10**5), st.floats(0.001, 0.999)), min_size=1, max_size=10),
    st.integers(0, 5000),
)
def test_neyman_is_proportional_away_from_its_bounds(rows: list[tuple[int, float]], total: int) -> None:
    populations = {f"s{i}": n for i, (n, _) in enumerate(rows)}
    rates = {f"s{i}": p for i, (_, p) in enumerate(rows)}
    out = neyman_allocation(populations, rates, total)
    assert sum(out.values()) == min(total, sum(populations.values()))
    free = [k for k in out if 0 < out[k] < populations[k]]
    weight = {k: populations[k] * math.sqrt(rates[k] * (1 - rates[k])) for k in out}
    for a in free:
        for b in free:
            # n_a / w_a and n_b / w_b agree up to the rounding of one unit each
            assert out[a] <= weight[a] * (out[b] + 1) / weight[b] + 1 + 1e-9


# ---------------------------------------------------------------- failure oversampling (design effect)


def test_design_effect_of_the_failure_split_is_kishs():
    # 5% failures drawn 4x as often, far from the population size: Kish's deff of unequal weights
    share, m = 0.05, 4.0
    split = FailureSplit(1_000_000, 50_000, m)
    assert split.design_effect(2000) == pytest.approx((1 - share + m * share) * (1 - share + share / m), rel=2e-3)
    assert split.effective_n(0, fpc=True) == 0.0
    assert split.effective_n(1_000_000, fpc=True) == math.inf  # everything drawn: no error left
    assert split.effective_n(1_000_000, fpc=False) == pytest.approx(1_000_000)


def test_no_split_without_oversampling_or_without_both_cells():
    assert failure_split(100, 10, 1.0) is None
    assert failure_split(100, 0, 4.0) is None
    assert failure_split(100, 100, 4.0) is None
    assert failure_split(100, 10, 4.0) is not None


@pytest.mark.parametrize(("population", "failures", "n", "fpc"), [(400, 40, 120, True), (5000, 100, 300, False)])
def test_variance_factor_is_the_variance_of_the_reweighted_estimate(population, failures, n, fpc):
    """Simulated: draw each cell's sample (hypergeometric), reweight the cells; same rate in both."""
    import numpy as np

    from tracestrata.sampling.cell_allocation import allocate_stratum

    rng = np.random.default_rng(3)
    rate = 0.3
    split = FailureSplit(population, failures, 4.0)
    k_f, k_n = allocate_stratum(n, failures, population - failures, 4.0)
    estimates = np.zeros(40_000)
    for size, k in ((failures, k_f), (population - failures, k_n)):
        good = round(rate * size)
        if fpc:
            hits = rng.hypergeometric(good, size - good, k, size=estimates.size)
        else:  # with replacement: the no-FPC variance
            hits = rng.binomial(k, good / size, size=estimates.size)
        estimates += size / population * hits / k
    p = (round(rate * failures) + round(rate * (population - failures))) / population
    cell_p = [round(rate * failures) / failures, round(rate * (population - failures)) / (population - failures)]
    assert cell_p[0] == pytest.approx(cell_p[1], abs=0.01) and p == pytest.approx(rate, abs=0.01)
    expected = rate * (1 - rate) * split.variance_factor(n, fpc=fpc)
    assert estimates.var() == pytest.approx(expected, rel=0.05)


def test_plan_sizes_for_the_oversampled_design_and_meets_the_goal():
    srs = plan_allocation([StratumInput("a", 50_000, 0.2, 2_500)], half_width=0.03)
    over = plan_allocation([StratumInput("a", 50_000, 0.2, 2_500)], half_width=0.03, multiplier=4.0)
    (plain,), (stratum,) = srs.strata, over.strata
    assert plain.design_effect == 1.0 and stratum.design_effect > 1.05
    assert stratum.target > plain.target * 1.05
    assert stratum.half_width <= 0.03
    one_less = wilson_half_width(stratum.target - 5, 0.2, population=50_000, split=FailureSplit(50_000, 2_500, 4.0))
    assert one_less > 0.03  # (close to) the smallest such target
    neyman = plan_allocation(
        [StratumInput("a", 50_000, 0.2, 2_500), StratumInput("b", 10_000, 0.1, 50)],
        method=AllocationMethod.NEYMAN,
        half_width=0.01,
        multiplier=4.0,
    )
    assert neyman.global_half_width <= 0.01
    with pytest.raises(ConfigError, match="multiplier"):
        plan_allocation([StratumInput("a", 10, 0.2)], multiplier=0.5)
