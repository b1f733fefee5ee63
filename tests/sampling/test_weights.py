"""`[sampling] weight`: priority sampling inside each cell on the keyed hash (tracestrata.sampling.weights)."""

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from tracestrata.errors import ConfigError
from tracestrata.record import TraceRecord
from tracestrata.sampling.hashing import hash_id, hash_ids, hash_key
from tracestrata.policy.parse import load_policy, parse_policy
from tracestrata.sampling.sketch import Sketch
from tracestrata.sampling.samplers import sample_records
from tracestrata.policy.weight_spec import DEFAULT_FLOOR, WeightSpec
from tracestrata.estimate.floor_choice import FIRST_WINDOW_FLOOR
from tracestrata.sampling.weights import key_rank, rank_keys, uniforms
from tracestrata.synthetic import generate_traces

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WEIGHTED = Path(__file__).resolve().parents[2] / "examples" / "policies" / "weighted.toml"


def policy(weight="proxy_uncertainty:scores.heuristic", **extra):
    table = {
        "seed": "w", "strata": [{"field": "metadata.intent"}], "targets": {"default": 20},
        "failure": {"multiplier": 4, "signals": [{"name": "error", "field": "status", "equals": "error"}]},
        "sampling": {"weight": weight, **extra},
    }
    return parse_policy(table, source="t")


def records(n=3000, seed=5):
    out = list(generate_traces(n, start=T0, end=T0 + timedelta(hours=6), seed=seed, heuristic=True))
    edges = [None, 0.0, 1.0, 1.5, -0.2, 0.5]  # missing, certain, out of range: the floor; 0.5: the largest size
    for i in range(0, len(out), 97):
        scores = dict(out[i].scores)
        value = edges[(i // 97) % len(edges)]
        if value is None:
            scores.pop("heuristic", None)
        else:
            scores["heuristic"] = value
        out[i] = replace(out[i], scores=scores)
    return out


def test_the_policy_reads_a_weight_and_a_floor():
    p = policy(floor=0.1)
    assert p.weight == WeightSpec("scores.heuristic", True, 0.1)
    assert "scores.heuristic" in p.fields()
    assert policy("cost").weight == WeightSpec("cost", False, DEFAULT_FLOOR, auto=True)  # "auto" by default
    assert policy().weight == WeightSpec("scores.heuristic", True, 0.25, auto=True)  # the first-window rule
    assert policy().to_json()["sampling"] == {"weight": "proxy_uncertainty:scores.heuristic", "floor": "auto"}
    plain = parse_policy({"seed": "w"}, source="t")
    assert plain.weight is None and "sampling" not in plain.to_json()  # older digests are unchanged
    assert policy().digest != policy(floor=0.1).digest
    assert load_policy(WEIGHTED).weight == WeightSpec("scores.heuristic", True, 0.05)


@pytest.mark.parametrize(
    ("body", "key", "message"),
    [
        ('weight = "proxy_uncertainty:nope.x"', "sampling.weight", "unknown field 'nope'"),
        ('weight = "scores.heuristic"\nfloor = 0', "sampling.floor", "expected a number > 0"),
        ('weight = 3', "sampling.weight", "expected a non-empty string"),
        ('weight = "cost"\nfloar = 1', "sampling.floar", "unknown key"),
        ("floor = 0.1", "sampling.floor", "a floor needs a weight"),
        ('weight = "cost"\nfloor = "automatic"', "sampling.floor", 'or "auto"'),
        ('weight = "expr: __import__(\'os\').system(\'x\')"', "sampling.weight", "not an allowed function call"),
        ('weight = "expr: scores.heuristic.__class__"', "sampling.weight", "not a field path"),
        ('weight = "expr: exp(scores.heuristic)"', "sampling.weight", "only sqrt, abs, min, max, clip"),
        ('weight = "expr: scores.a + metadata.b"', "sampling.weight", "names exactly one field"),
        ('weight = "expr: 2 * 3"', "sampling.weight", "names none"),
        ('weight = "expr: scores.a if scores.a > 0 else 1"', "sampling.weight", "not allowed in a weight expression"),
        ('weight = "expr: scores.a[0]"', "sampling.weight", "not allowed"),
        ('weight = "expr: \'x\' * scores.a"', "sampling.weight", "not allowed"),
        ('weight = "expr: sqrt(scores.a, 2)"', "sampling.weight", "sqrt takes 1 arguments"),
        ('weight = "expr: (scores.a"', "sampling.weight", "not an expression"),
        ('weight = "expr: "', "sampling.weight", "an empty expression"),
        # hostile sizes and nesting: one line each, never a RecursionError (an "internal error", exit 1)
        (f'weight = "expr: {"-" * 900}scores.a"', "sampling.weight", "nested deeper than 32 operations"),
        (f'weight = "expr: {"+".join(["scores.a"] * 100)}"', "sampling.weight", "nested deeper than 32"),
        (f'weight = "expr: {"(" * 300}scores.a{")" * 300}"', "sampling.weight", "not an expression"),
        (f'weight = "expr: {"sqrt(" * 40}scores.a{")" * 40}"', "sampling.weight", "nested deeper than 32"),
        (f'weight = "expr: {"+".join(["scores.a"] * 12000)}"', "sampling.weight", "at most 1,000 characters"),
        ('weight = "expr: (lambda x: x)(scores.a)"', "sampling.weight", "not an allowed function call"),
        ('weight = "expr: [x for x in scores.a]"', "sampling.weight", "not allowed in a weight expression"),
        ('weight = "expr: 10**10**10"', "sampling.weight", "names none"),
        ('weight = "expr: scores.a + \u2605"', "sampling.weight", "not an expression"),
        ('weight = "expr: metadata.\ufb01eld * 2"', "sampling.weight", "NFKC-normalised"),
    ],
)
def test_a_bad_sampling_key_is_one_line_naming_file_line_and_key(tmp_path, body, key, message):
    path = tmp_path / "p.toml"
    path.write_text(f'seed = "s"\n\n[sampling]\n{body}\n')
    with pytest.raises(ConfigError) as info:
        load_policy(path)
    text = str(info.value)
    assert str(path) in text and key in text and message in text and "\n" not in text and len(text) < 600
    assert info.value.line is not None and info.value.line >= 4


def test_sizes_fall_back_to_the_floor_never_to_zero():
    spec = WeightSpec("scores.heuristic", True, 0.05)
    sizes = spec.sizes([0.5, 0.0, 1.0, None, 1.5, -1.0, "x", True, 0.1, math.nan])
    assert sizes.tolist() == pytest.approx([0.5, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.3, 0.05])
    raw = WeightSpec("cost", False, 0.05).sizes(np.array([2.0, 0.0, -3.0, np.inf, np.nan]))
    assert raw.tolist() == [2.0, 0.05, 0.05, 0.05, 0.05]


def test_rank_keys_are_exact_and_ordered_as_the_ranks():
    key = hash_key("k")
    ids = [f"id-{i}" for i in range(2000)]
    hashes = hash_ids(ids, key)
    u = uniforms(hashes)
    assert u.min() > 0 and u.max() <= 1
    assert all(u[i] == ((hash_id(t, key) >> 11) + 1) / 2**53 for i, t in enumerate(ids[:50]))  # exact
    sizes = np.linspace(0.05, 0.5, len(ids))
    keys = rank_keys(hashes, sizes)
    ranks = u / sizes
    assert (np.argsort(keys, kind="stable") == np.argsort(ranks, kind="stable")).all()
    assert all(key_rank(k) == r for k, r in zip(keys[:50], ranks[:50], strict=True))


def brute_force(recs, p):
    """Per cell: the k smallest u/w (ties by id), and pi = min(1, w * tau) with tau the (k+1)-th rank."""
    key = hash_key(p.seed)
    spec = p.weight
    result = sample_records(recs, p)
    by_cell = {}
    for s in result.selected:
        by_cell.setdefault(s.cell, []).append(s)
    for cell in result.cells:
        members = [r for r in recs if _cell_of(r, p) == cell.id]
        assert len(members) == cell.population
        w = spec.sizes([r.scores.get("heuristic") for r in members])
        u = np.array([((hash_id(r.id, key) >> 11) + 1) / 2**53 for r in members])
        order = sorted(range(len(members)), key=lambda i: (u[i] / w[i], members[i].id))
        k = cell.sampled
        tau = u[order[k]] / w[order[k]] if k < len(members) else None
        chosen = {members[i].id: (min(1.0, w[i] * tau) if tau is not None else 1.0, w[i]) for i in order[:k]}
        got = {s.record.id: (s.inclusion_probability, s.size) for s in by_cell.get(cell.id, [])}
        assert got == chosen, cell.id
    return result


def _cell_of(record, p):
    intent = record.metadata.get("intent") or "(missing)"
    return f"{intent}#{'failure' if record.status == 'error' else 'normal'}"


def test_each_cell_keeps_its_smallest_ranks_with_pi_min_1_w_tau():
    p = policy()
    result = brute_force(records(), p)
    probs = [s.inclusion_probability for s in result.selected]
    assert all(0 < q <= 1 for q in probs) and len(set(probs)) > len(result.cells)  # unequal inside cells
    assert all(s.weight == 1.0 / s.inclusion_probability for s in result.selected)
    line = result.selected[0].to_json()
    assert line["size"] == result.selected[0].size
    design = result.design()
    assert all(u.probability == s.inclusion_probability for u, s in zip(design.units, result.selected, strict=True))


def test_uncertain_traces_are_judged_more_often():
    result = sample_records(records(20000, seed=8), policy())
    sizes = np.array([s.size for s in result.selected])
    # the heuristic is uniform-ish in [0, 1]: under SRS a third of the traces have size > 0.45
    assert (sizes > 0.45).mean() > 0.5


def test_batches_partitions_and_state_give_the_same_sample():
    p = policy()
    recs = records()
    whole = sample_records(recs, p)
    a, b = Sketch(p), Sketch(p)
    a.add_records(recs[::2], batch_size=100)
    b.add_records(recs[1::2], batch_size=333)
    merged = Sketch.from_state(p, a.to_state()).merge(Sketch.from_state(p, b.to_state())).result()
    assert [(s.record.id, s.inclusion_probability, s.size) for s in merged.selected] == [
        (s.record.id, s.inclusion_probability, s.size) for s in whole.selected
    ]
    assert [c.to_json() for c in merged.cells] == [c.to_json() for c in whole.cells]


def test_a_cell_that_takes_everything_has_pi_one():
    recs = records(200)
    result = sample_records(recs, replace(policy(), targets=replace(policy().targets, default=10_000)))
    assert result.selected and all(s.inclusion_probability == 1.0 for s in result.selected)


def test_a_numeric_field_weight():
    p = policy("latency_ms", floor=1.0)
    result = sample_records(records(), p)
    assert all(s.size == max(1.0, s.record.latency_ms or 0.0) for s in result.selected)
    slow = np.array([s.record.latency_ms for s in result.selected])
    every = np.array([r.latency_ms for r in records()])
    assert np.median(slow) > np.median(every)  # probability proportional to size


def test_unweighted_policies_keep_k_over_n():
    p = replace(policy(), weight=None)
    result = sample_records(records(), p)
    cells = {c.id: c for c in result.cells}
    assert all(s.size is None and "size" not in s.to_json() for s in result.selected)
    assert all(s.inclusion_probability == cells[s.cell].sampled / cells[s.cell].population for s in result.selected)
    assert all(u.probability is None for u in result.design().units)


def test_a_trace_record_without_the_field_is_sampled_at_the_floor():
    recs = [TraceRecord(id=f"t{i}", timestamp=T0) for i in range(50)]
    result = sample_records(recs, policy())
    assert {s.size for s in result.selected} == {FIRST_WINDOW_FLOOR}  # floor = "auto" without history


def test_a_weight_on_another_scale_than_the_floor_warns_once_with_the_share_floored():
    """`weight = "cost"` (dollars, nearly always < 0.15): every trace gets the default floor and the
    draw is equal-probability: one warning line naming the share; a floor on the field's scale: none."""
    from tracestrata.sampling.field_check import sample_warnings
    from tracestrata.sampling.weights import floor_warning

    recs = [replace(r, cost=0.001 + 0.01 * (i % 7)) for i, r in enumerate(records())]
    p = policy("cost")
    result = sample_records(recs, p)
    warnings = sample_warnings(result, p)
    assert list(warnings) == ["cost"]
    assert "100% of the sampled traces of" in warnings["cost"] and "sized by the floor 0.15" in warnings["cost"]
    assert "\n" not in warnings["cost"]
    assert sample_warnings(result, p, skip=("cost",)) == {}  # the sync job says it once
    scaled = policy("cost", floor=0.001)
    assert "cost" not in sample_warnings(sample_records(recs, scaled), scaled)
    assert "cost" not in sample_warnings(sample_records(records(), policy()), policy())  # an informative weight
    spec = WeightSpec("cost")
    assert floor_warning(spec, [("a", 0.15)] * 9) is None  # too few sampled traces to read a share
    assert floor_warning(spec, [("a", 0.15)] * 9 + [("a", 0.3)]) is None  # 90% is not beyond 90%
    assert "90.9% of the sampled traces of 1 of 1 cells" in floor_warning(spec, [("a", 0.15)] * 10 + [("a", 0.3)])
    assert floor_warning(WeightSpec("scores.p", True), [("a", 0.15)] * 20 + [("a", 0.3)]) is None  # by design
    # proxy_uncertainty: of a field that is not a probability: every size is the floor, the weighting did nothing
    latency = policy("proxy_uncertainty:latency_ms")
    line = sample_warnings(sample_records(records(), latency), latency)["latency_ms"]
    assert "every sampled trace of" in line and "needs a probability in [0, 1]" in line and "\n" not in line
    assert "scores.heuristic" not in sample_warnings(sample_records(records(), policy()), policy())
    assert floor_warning(WeightSpec("scores.p", True, 0.5), [("a", 0.5)] * 20) is None  # equal probability on purpose
    # floor = "auto": the first window (the first-window floor) warns and says auto will choose; a chosen floor
    # (equal probability at the top of the sizes, say) is not a scale mistake
    auto = policy("cost").weight
    assert auto.auto and 'keep floor = "auto"' in floor_warning(auto, [("a", 0.15)] * 20)
    assert floor_warning(auto.with_floor(0.07), [("a", 0.07)] * 20) is None


def test_an_expression_weight_is_evaluated_vectorised_as_python_would():
    spec = policy("expr: sqrt(scores.heuristic * (1 - scores.heuristic)) + 0.1").weight
    assert spec.field == "scores.heuristic" and spec.text.startswith("expr: sqrt(")
    assert "scores.heuristic" in policy(spec.text).fields()  # every path reads the field it names
    p = [0.5, 0.0, 1.0, None, 1.5, "x", 0.2]
    sizes = spec.with_floor(0.05).sizes(p)
    expected = [math.sqrt(0.25) + 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, math.sqrt(0.16) + 0.1]  # sqrt(<0): the floor
    assert sizes.tolist() == expected  # bit for bit: the same IEEE operations
    clip = policy("expr: clip(abs(scores.x - 0.5) ** 2, 0.01, max(0.2, -scores.x, 0.1)) / 2").weight
    assert clip.with_floor(0.001).sizes(np.array([0.5, 0.0, 1.0])).tolist() == [0.005, 0.1, 0.1]
    assert policy(spec.text).digest == policy(spec.text).digest != policy().digest


def test_a_multi_line_expression_is_one_line_in_the_policy_and_its_messages():
    spec = policy("expr: sqrt(scores.x *\n    (1 - scores.x))\t+ 0.1").weight
    assert spec.text == "expr: sqrt(scores.x * (1 - scores.x)) + 0.1"
    assert spec == policy("expr: sqrt(scores.x * (1 - scores.x)) + 0.1").weight


def test_huge_constants_and_exponents_give_the_floor_not_an_error():
    """`10**400` is an int no float holds (it raised OverflowError: an internal error); it is inf,
    as `1e400` is. Exponents are float powers, never Python ints (no `10**10**10` computed)."""
    for text in ["scores.x * 1" + "0" * 400, "scores.x * 1e400", "scores.x ** 10**10**10 + 10**10**10"]:
        spec = policy(f"expr: {text}", floor=0.05).weight
        assert spec.sizes([0.5, 2.0, None]).tolist() == [0.05, 0.05, 0.05]


def test_an_expression_weight_pickles_as_its_text():
    import pickle

    spec = policy("expr: max(scores.heuristic, 0.2) ** 0.5").weight
    again = pickle.loads(pickle.dumps(spec))
    assert again == spec and again.sizes([0.04, 0.81]).tolist() == spec.sizes([0.04, 0.81]).tolist()


@pytest.mark.parametrize("floor", [1e-310, 5e-324, 1e-13, 1e300])
def test_a_floor_outside_the_range_of_normal_ranks_is_refused(tmp_path, floor):
    """A floor of 1e-310 made u/w overflow to inf: the cell's threshold was inf and every sampled
    trace got pi = 1 (a biased estimate, silently)."""
    path = tmp_path / "p.toml"
    path.write_text(f'seed = "s"\n\n[sampling]\nweight = "cost"\nfloor = {floor!r}\n')
    with pytest.raises(ConfigError, match=r"sampling\.floor: expected a number > 0 .*from 1e-12 to 1e\+250"):
        load_policy(path)


def test_hostile_sizes_keep_every_rank_finite_and_every_pi_positive():
    """Sizes as large as a double allows, and an auto floor chosen from tiny values, keep the ranks
    normal doubles: the cell's threshold is finite and > 0, so 0 < pi <= 1 and HT is exact in expectation."""
    spec = WeightSpec("cost", False, 0.05)
    sizes = spec.sizes(np.array([1e308, 1e200, np.inf, -np.inf, np.nan, 0.0, 1.0]))
    assert sizes.tolist() == [1e250, 1e200, 0.05, 0.05, 0.05, 0.05, 1.0]
    assert spec.with_floor(1e-310).floor == 1e-12 and spec.with_floor(1e300).floor == 1e250
    hashes = hash_ids([f"t{i}" for i in range(2000)], hash_key("k"))
    for w in (np.full(2000, 1e-12), np.full(2000, 1e250), np.where(np.arange(2000) % 2, 1e250, 1e-12)):
        ranks = uniforms(hashes) / w
        assert np.isfinite(ranks).all() and (ranks > np.finfo(float).tiny).all()
