"""The sampler against a plain batch reference, plus the design's invariants as properties."""

import random
from collections import defaultdict
from datetime import UTC, datetime

import pytest
from builders import make_policy, summarize
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracestrata.design import CellKind
from tracestrata.record import TraceRecord
from tracestrata.sampling.hashing import hash_id, hash_key
from tracestrata.policy.parse import parse_policy
from tracestrata.sampling.sketch import Sketch
from tracestrata.sampling.cell_allocation import allocate_boost, allocate_stratum, largest_remainder
from tracestrata.sampling.samplers import sample_records
from tracestrata.policy.strata import fold, record_getter, top_values
from tracestrata.synthetic import generate_traces

T0 = datetime(2026, 1, 1, tzinfo=UTC)
INTENTS = ["billing", "sales", "tech", "refund", "compliance", None]


def make_record(i, intent, latency, error, refusal):
    metadata = {"refusal": refusal}
    if intent is not None:
        metadata["intent"] = intent
    return TraceRecord(
        id=f"t{i:05d}", timestamp=T0, status="error" if error else "ok", latency_ms=latency, metadata=metadata
    )


records_strategy = st.lists(
    st.tuples(
        st.sampled_from(INTENTS),
        st.none() | st.sampled_from([5.0, 150.0, 5000.0]),
        st.booleans(),
        st.booleans(),
    ),
    max_size=120,
).map(lambda rows: [make_record(i, *row) for i, row in enumerate(rows)])
policy_strategy = st.builds(
    make_policy,
    target=st.integers(0, 12),
    multiplier=st.sampled_from([1.0, 2.0, 4.0, 25.0]),
    top=st.integers(1, 6),
    collect=st.integers(1, 30),
)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------- the plain reference


def reference(records, policy, boost_collected=None):
    """The design written as directly as possible: materialize, fold, group, allocate, sort, take."""
    key = hash_key(policy.seed)
    before = boost_collected or {}
    remaining = {b.name: max(0, b.collect - before.get(b.name, 0)) for b in policy.boosts}
    raw = []
    for record in records:
        raw.append([d.labeler()(record_getter(d.field)(record)) for d in policy.strata])
    kept = []
    for i, d in enumerate(policy.strata):
        counts = defaultdict(int)
        for labels in raw:
            counts[labels[i]] += 1
        kept.append(top_values(counts, d.top) if d.top else None)
    cells = defaultdict(list)
    for record, labels in zip(records, raw, strict=True):
        final = tuple(fold(lab, k) if k is not None else lab for lab, k in zip(labels, kept, strict=True))
        boost = next(
            (
                b.name
                for b in policy.boosts
                if remaining[b.name] > 0 and b.condition.matches(record_getter(b.condition.field)(record))
            ),
            None,
        )
        failure = any(s.condition.matches(record_getter(s.condition.field)(record)) for s in policy.signals)
        kind = ("boost", boost) if boost else ("failure" if failure else "normal")
        cells[(final, kind)].append((hash_id(record.id, key), record.id))
    take = {}
    strata = sorted({labels for labels, _ in cells})
    for labels in strata:
        n_f, n_n = len(cells.get((labels, "failure"), [])), len(cells.get((labels, "normal"), []))
        k_f, k_n = allocate_stratum(policy.targets.for_stratum(" | ".join(labels)), n_f, n_n, policy.multiplier)
        take[(labels, "failure")], take[(labels, "normal")] = k_f, k_n
    for b in policy.boosts:
        keys = [(labels, ("boost", b.name)) for labels in strata if (labels, ("boost", b.name)) in cells]
        take.update(zip(keys, allocate_boost(remaining[b.name], [len(cells[k]) for k in keys]), strict=True))
    out = {}
    for cell, members in cells.items():
        out[cell] = (len(members), sorted(members)[: take[cell]])
    return out


def as_ids(ref):
    return {cell: (n, sorted(i for _, i in members)) for cell, (n, members) in ref.items()}


# ---------------------------------------------------------------- allocation


def test_largest_remainder():
    assert largest_remainder([2.5, 2.5], 5, [10, 10]) == [3, 2]
    assert largest_remainder([0.2, 0.7, 0.1], 1, [5, 5, 5]) == [0, 1, 0]
    assert largest_remainder([3.0, 3.0], 5, [1, 10]) == [1, 4]


def test_allocate_stratum_solves_the_multiplier_equation():
    assert allocate_stratum(10, 3, 4, 4.0) == (3, 4)  # everything fits
    # N_n p + N_f m p = n: 900 p + 100*4 p = 130 -> p = 0.1, failures 40, normals 90
    assert allocate_stratum(130, 100, 900, 4.0) == (40, 90)
    # m p < 1 still: 900 p + 40 p = 100 -> failures 4.26 -> 4
    assert allocate_stratum(100, 10, 900, 4.0) == (4, 96)
    # m p >= 1: 200 p + 30*4 p = 100 -> m p = 1.25, so all 30 failures, the rest normals
    assert allocate_stratum(100, 30, 200, 4.0) == (30, 70)
    assert allocate_stratum(10, 1000, 1, 4.0) == (9, 1)
    assert allocate_stratum(5, 0, 100, 4.0) == (0, 5)
    assert allocate_stratum(5, 100, 0, 4.0) == (5, 0)
    assert allocate_stratum(0, 100, 100, 4.0) == (0, 0)
    # floors: the failure cell would round to 0 but gets min(N_f, 2)
    assert allocate_stratum(10, 1, 10_000, 1.0) == (1, 9)
    assert allocate_stratum(10, 5, 10_000, 1.0) == (2, 8)


def test_allocate_boost():
    assert allocate_boost(100, [5, 7]) == [5, 7]
    assert allocate_boost(10, [90, 10]) == [8, 2]
    assert allocate_boost(10, [1000, 1, 30]) == [7, 1, 2]  # floors 2+1+2, then 5 by size
    assert allocate_boost(3, [10, 10]) == [2, 1]  # floors would need 4 > 3: pure proportional


# ---------------------------------------------------------------- properties


@SETTINGS
@given(records_strategy, policy_strategy)
def test_matches_the_plain_reference(records, policy):
    assert summarize(sample_records(records, policy)) == as_ids(reference(records, policy))


@SETTINGS
@given(records_strategy, policy_strategy, st.integers(1, 40), st.randoms(use_true_random=False))
def test_streaming_in_any_batches_and_order_equals_batch(records, policy, batch, rnd):
    whole = sample_records(records, policy)
    shuffled = list(records)
    rnd.shuffle(shuffled)
    sketch = Sketch(policy)
    sketch.add_records(shuffled, batch_size=batch)
    streamed = sketch.result()
    assert summarize(streamed) == summarize(whole)
    assert streamed.cells == whole.cells


@SETTINGS
@given(records_strategy, policy_strategy, st.randoms(use_true_random=False))
def test_merging_partitions_equals_sampling_the_union(records, policy, rnd):
    a, b = Sketch(policy), Sketch(policy)
    for record in records:
        (a if rnd.random() < 0.5 else b).add_records([record])
    merged = a.merge(b).result()
    whole = sample_records(records, policy)
    assert summarize(merged) == summarize(whole)
    assert merged.cells == whole.cells and merged.boost_collected == whole.boost_collected


@SETTINGS
@given(records_strategy, policy_strategy, st.integers(0, 10))
def test_design_invariants(records, policy, collected_before):
    result = sample_records(records, policy, boost_collected={"refunds": collected_before})
    by_stratum = defaultdict(int)
    boost_total = 0
    for cell in result.cells:
        assert 0 <= cell.sampled <= cell.population
        if cell.kind is CellKind.BOOST:
            boost_total += cell.sampled
        else:
            by_stratum[cell.stratum] += cell.sampled
    for stratum, taken in by_stratum.items():  # no cell (nor stratum) exceeds its target
        assert taken <= policy.targets.for_stratum(stratum)
    remaining = max(0, policy.boosts[0].collect - collected_before)
    assert boost_total <= remaining
    assert result.boost_collected == {"refunds": collected_before + boost_total}
    index = {c.id: c for c in result.cells}
    for s in result.selected:
        assert 0 < s.inclusion_probability <= 1
        cell = index[s.cell]
        assert s.inclusion_probability == cell.sampled / cell.population
        assert s.weight == pytest.approx(1 / s.inclusion_probability)
        assert s.failure == bool(s.signals)
    assert sum(c.population for c in result.cells) == len(records)


@SETTINGS
@given(records_strategy, policy_strategy)
def test_every_failure_taken_when_fewer_than_the_failure_share(records, policy):
    result = sample_records(records, policy)
    cells = defaultdict(dict)
    for cell in result.cells:
        cells[cell.stratum][cell.kind] = cell
    for stratum, kinds in cells.items():
        failure, normal = kinds.get(CellKind.FAILURE), kinds.get(CellKind.NORMAL)
        if failure is None:
            continue
        n = policy.targets.for_stratum(stratum)
        n_f, n_n = failure.population, normal.population if normal else 0
        m = policy.multiplier
        if n_f + n_n <= n:
            assert failure.sampled == n_f
        elif n_n and m * n / (n_n + m * n_f) >= 1 and n - n_f >= min(n_n, 2):
            assert failure.sampled == n_f


@SETTINGS
@given(records_strategy, policy_strategy)
def test_same_seed_same_sample_other_seed_other_order(records, policy):
    first, second = sample_records(records, policy), sample_records(list(reversed(records)), policy)
    assert [s.record.id for s in first.selected] == [s.record.id for s in second.selected]


def test_failures_are_oversampled_at_the_multiplier_on_synthetic_traffic():
    records = list(generate_traces(20_000, start=T0, end=datetime(2026, 1, 2, tzinfo=UTC), seed=7))
    policy = make_policy(target=200, multiplier=4.0, top=8, collect=50)
    result = sample_records(records, policy)
    cells = {c.id: c for c in result.cells}
    checked = 0
    for cell in result.cells:
        if cell.kind is not CellKind.FAILURE:
            continue
        normal = cells.get(cell.id.replace("#failure", "#normal"))
        if normal and normal.sampled >= 20 and cell.sampled < cell.population and cell.sampled >= 10:
            ratio = cell.inclusion_probability / normal.inclusion_probability
            assert ratio == pytest.approx(4.0, rel=0.25), cell.id
            checked += 1
    assert checked >= 3
    assert result.boost_collected == {"refunds": 50}
    assert sum(1 for s in result.selected if s.boost == "refunds") == 50
    assert all(s.values["metadata.intent"] == "refund" for s in result.selected if s.boost)


def test_boost_exhausted_means_back_to_normal_cells():
    records = [make_record(i, "refund", 5.0, i % 5 == 0, False) for i in range(50)]
    policy = make_policy(target=10, collect=4)
    done = sample_records(records, policy, boost_collected={"refunds": 4})
    assert {c.kind for c in done.cells} == {CellKind.FAILURE, CellKind.NORMAL}
    assert done.boost_collected == {"refunds": 4}
    active = sample_records(records, policy)
    assert [c.kind for c in active.cells] == [CellKind.BOOST]
    assert active.cells[0].sampled == 4 and active.cells[0].population == 50


def test_top_fold_uses_exact_window_frequencies_and_missing_stays():
    rnd = random.Random(3)
    records = [make_record(i, rnd.choice(INTENTS), 5.0, False, False) for i in range(400)]
    policy = make_policy(target=5, top=2, collect=1)
    result = sample_records(records, policy, boost_collected={"refunds": 1})
    intents = {c.values["metadata.intent"] for c in result.cells}
    assert "(other)" in intents and "(missing)" in intents and len(intents) == 4


def test_no_dimensions_is_one_stratum_and_design_has_units():
    policy = parse_policy({"seed": "x", "targets": {"default": 3}}, source="t")
    records = [make_record(i, None, None, False, False) for i in range(10)]
    result = sample_records(records, policy)
    assert [c.id for c in result.cells] == ["(all)#normal"]
    design = result.design(window="2026-01-01")
    assert len(design.units) == 3 and design.cells[0].id == "2026-01-01#(all)#normal"
    assert design.units[0].cell == design.cells[0].id


def test_empty_input():
    result = sample_records([], make_policy())
    assert result.selected == [] and result.cells == [] and result.boost_collected == {"refunds": 0}


def test_merge_refuses_other_policies():
    with pytest.raises(ValueError):
        Sketch(make_policy(target=3)).merge(Sketch(make_policy(target=4)))


# ---------------------------------------------------------------- the in-memory columnar path

import numpy as np  # noqa: E402

from tracestrata.sampling.samplers import sample_columns
from tracestrata.policy.strata import record_getter as _getter  # noqa: E402


def numpy_columns(records, policy):
    """The policy's columns as numpy arrays the way a dataframe would hold them."""
    out = {}
    for path in policy.fields():
        values = [_getter(path)(r) for r in records]
        if path in ("latency_ms", "scores.user_feedback"):
            out[path] = np.array([np.nan if v is None else v for v in values], dtype=float)
        elif path == "metadata.refusal":
            out[path] = np.array([bool(v) for v in values])
        else:
            out[path] = np.array(values, dtype=object)
    return out


@SETTINGS
@given(records_strategy, policy_strategy, st.integers(1, 50))
def test_columns_lists_and_numpy_give_the_record_sample(records, policy, batch):
    whole = sample_records(records, policy)
    ids = [r.id for r in records]
    lists = {path: [_getter(path)(r) for r in records] for path in policy.fields()}
    by_lists = sample_columns(ids, lists, policy, records=records, batch_size=batch)
    assert by_lists.selected == whole.selected and by_lists.cells == whole.cells
    by_numpy = sample_columns(np.array(ids), numpy_columns(records, policy), policy, batch_size=batch)
    assert [s.record.id for s in by_numpy.selected] == [s.record.id for s in whole.selected]
    assert by_numpy.cells == whole.cells


def buffer_columns(records, policy):
    """The policy's columns in Arrow's layouts: strings as offsets + bytes, the rest dictionary-encoded."""
    from tracestrata.columns import DictColumn, StringColumn

    out = {}
    for path in policy.fields():
        values = [_getter(path)(r) for r in records]
        if all(v is None or isinstance(v, str) for v in values):
            out[path] = StringColumn.from_strings(values)
        else:
            distinct = list({(type(v), v): v for v in values if v is not None}.values())
            index = {(type(v), v): i for i, v in enumerate(distinct)}
            codes = np.array([-1 if v is None else index[(type(v), v)] for v in values], dtype=np.int64)
            out[path] = DictColumn(codes, distinct)
    return out


@SETTINGS
@given(records_strategy, policy_strategy, st.integers(1, 50))
def test_buffer_columns_give_the_record_sample(records, policy, batch):
    from tracestrata.columns import StringColumn

    whole = sample_records(records, policy)
    ids = StringColumn.from_strings([r.id for r in records])
    by_buffers = sample_columns(ids, buffer_columns(records, policy), policy, batch_size=batch)
    assert [s.record.id for s in by_buffers.selected] == [s.record.id for s in whole.selected]
    assert [(s.cell, s.signals, s.inclusion_probability) for s in by_buffers.selected] == [
        (s.cell, s.signals, s.inclusion_probability) for s in whole.selected
    ]
    assert by_buffers.cells == whole.cells


@SETTINGS
@given(
    st.lists(st.none() | st.floats(-3, 3), max_size=20),
    st.sampled_from(["equals", "not_equals", "lt", "le", "gt", "ge", "exists", "in"]),
    st.integers(-2, 2),
)
def test_numpy_evaluation_matches_python_on_float_columns(values, op, operand):
    from tracestrata.policy.signals import Condition, Operator

    operand_value = {"exists": True, "in": (operand, 1.5)}.get(op, operand)
    condition = Condition("f", Operator(op), operand_value)
    array = np.array([np.nan if v is None else v for v in values], dtype=float)
    assert condition.evaluate_array(array).tolist() == condition.evaluate(values)
    ints = np.array([int(v) for v in values if v is not None], dtype=np.int64)
    assert condition.evaluate_array(ints).tolist() == condition.evaluate(ints.tolist())
    flags = np.array([v is not None and v > 0 for v in values], dtype=bool)
    assert condition.evaluate_array(flags).tolist() == condition.evaluate(flags.tolist())


def test_inclusion_frequencies_over_seeds_match_the_stated_probabilities():
    """Bottom-k on the keyed hash is a simple random sample: over many seeds every trace of a cell
    is picked with frequency k/N (checked within 4 binomial standard errors)."""
    records = [make_record(i, "billing", 5.0, i < 6, False) for i in range(30)]  # 6 failures, 24 normal
    seeds = 1500
    counts = defaultdict(int)
    pairs = defaultdict(int)
    probability = {}
    for seed in range(seeds):
        policy = parse_policy(
            {
                "seed": f"s{seed}",
                "targets": {"default": 8},
                "failure": {"multiplier": 2, "signals": [{"name": "e", "field": "status", "equals": "error"}]},
            },
            source="t",
        )
        picked = set()
        for s in sample_records(records, policy).selected:
            counts[s.record.id] += 1
            probability[s.record.id] = s.inclusion_probability
            picked.add(s.record.id)
        for a, b in (("t00010", "t00011"), ("t00012", "t00029"), ("t00020", "t00007")):
            pairs[(a, b)] += a in picked and b in picked
    assert set(probability.values()) == {3 / 6, 5 / 24}  # p = 8 / (24 + 2*6) = 2/9 -> 2.67, 5.33 -> 3 + 5
    for record in records:
        p = probability[record.id]
        sd = (p * (1 - p) / seeds) ** 0.5
        assert abs(counts[record.id] / seeds - p) < 4 * sd, record.id
    joint = 5 * 4 / (24 * 23)  # SRSWOR: both of a pair in the normal cell
    sd = (joint * (1 - joint) / seeds) ** 0.5
    for pair, n in pairs.items():
        assert abs(n / seeds - joint) < 4 * sd, pair
