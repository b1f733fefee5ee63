"""`[[evaluator]]`: the declaration in the policy, and the design of its scores over a window."""

from datetime import UTC, datetime, timedelta

import pytest

from tracestrata.design import CellKind
from tracestrata.errors import ConfigError
from tracestrata.estimate.evaluator import STARVED_BELOW, evaluator_report
from tracestrata.record import Score
from tracestrata.evaluators.design import evaluator_design, evaluator_metadata_keys
from tracestrata.evaluators.sampling_value import sampling_value
from tracestrata.policy.evaluators import HashTarget
from tracestrata.policy.parse import load_policy, parse_policy
from tracestrata.sampling.samplers import sample_records
from tracestrata.synthetic import generate_traces, judge

START = datetime(2026, 1, 1, tzinfo=UTC)
BASE = {"seed": "ev", "strata": [{"field": "metadata.intent", "top": 6}]}
EVALUATOR = {
    "name": "correct",
    "rate": 0.3,
    "hashes": "observation",
    "filter": [{"field": "name", "equals": "chat"}, {"field": "metadata.intent", "not_equals": "billing"}],
}


def policy_with(**evaluator):
    return parse_policy({**BASE, "evaluator": [{**EVALUATOR, **evaluator}]}, source="p.toml")


@pytest.fixture(scope="module")
def records():
    return list(generate_traces(3000, start=START, end=START + timedelta(days=1), seed=3))


def test_declared_in_the_policy_toml(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text(
        'seed = "s"\n[[strata]]\nfield = "metadata.intent"\n\n'
        '[[evaluator]]\nname = "correct"\nrate = 0.05\nhashes = "trace"\n'
        '[[evaluator.filter]]\nfield = "latency_ms"\nlt = 3000\n'
        '[[evaluator.filter]]\nfield = "metadata.intent"\nin = ["tech", "sales"]\n'
    )
    policy = load_policy(path)
    (evaluator,) = policy.evaluators
    assert (evaluator.name, evaluator.rate, evaluator.hashes) == ("correct", 0.05, HashTarget.TRACE)
    assert evaluator.describe_filter() == "latency_ms lt 3000 and metadata.intent in ('tech', 'sales')"
    assert policy.evaluator("correct") is evaluator
    assert evaluator_metadata_keys(policy, evaluator) == ("intent",)


def test_an_evaluator_does_not_change_the_policy_digest():
    assert policy_with().digest == parse_policy(BASE, source="p.toml").digest


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        ({"rate": 0}, "evaluator[0].rate", "(0, 1]"),
        ({"rate": 1.5}, "evaluator[0].rate", "(0, 1]"),
        ({"rate": "5%"}, "evaluator[0].rate", "(0, 1]"),
        ({"hashes": "span"}, "evaluator[0].hashes", '"observation"'),
        ({"filter": [{"field": "name", "equals": "chat", "lt": 3}]}, "evaluator[0].filter[0]", "exactly one operator"),
        ({"filter": [{"field": "nope", "equals": 1}]}, "evaluator[0].filter[0].field", "unknown field"),
        ({"colour": "red"}, "evaluator[0].colour", "unknown key"),
    ],
)
def test_mistakes_name_the_key(change, key, words):
    with pytest.raises(ConfigError) as caught:
        policy_with(**change)
    assert caught.value.field == key and words in str(caught.value)


def test_missing_rate_and_unknown_name():
    with pytest.raises(ConfigError, match=r"\(0, 1\]"):
        parse_policy({**BASE, "evaluator": [{"name": "x", "hashes": "trace"}]}, source="p")
    with pytest.raises(ConfigError, match="no \\[\\[evaluator\\]\\] named 'other' \\(declared: correct\\)"):
        policy_with().evaluator("other")


def test_design_is_the_filtered_strata_and_exactly_the_ids_below_the_rate(records):
    policy = policy_with()
    evaluator = policy.evaluators[0]
    built = evaluator_design(records, policy, evaluator)
    design, scope = built.design, built.scope
    # the strata the sampler makes, with the same top folds over the whole window
    assert {s.stratum for s in scope.strata} == {c.stratum for c in sample_records(records, policy).cells}
    by_stratum = {s.stratum: s for s in scope.strata}
    assert by_stratum["billing"].in_filter == 0 and by_stratum["billing"].population > 0
    assert "billing" not in {c.stratum for c in design.cells}
    assert scope.population == len(records) and scope.without_id == 0
    for cell in design.cells:
        assert cell.kind is CellKind.NORMAL
        assert cell.population == by_stratum[cell.stratum].in_filter
    stratum_of = {c.stratum for c in design.cells}
    expected = {
        r.id for r in records
        if r.metadata["intent"] != "billing" and sampling_value(r.span_id) < 0.3
    }
    assert {u.trace_id for u in design.units} == expected
    assert sum(c.sampled for c in design.cells) == len(expected)
    assert all(u.attrs["stratum"] in stratum_of for u in design.units)


def test_trace_rules_hash_the_trace_id_and_traces_without_an_observation_id_are_counted(records):
    policy = policy_with(hashes="trace", filter=[])
    built = evaluator_design(records, policy, policy.evaluators[0])
    assert {u.trace_id for u in built.design.units} == {r.id for r in records if sampling_value(r.id) < 0.3}
    assert sum(c.population for c in built.design.cells) == len(records)

    from dataclasses import replace

    half = [replace(r, span_id=None) if i % 2 else r for i, r in enumerate(records)]
    observation = policy_with(filter=[])
    built = evaluator_design(half, observation, observation.evaluators[0])
    assert built.scope.without_id == len(records) // 2
    assert sum(c.population for c in built.design.cells) == len(records) - len(records) // 2


def test_repeated_trace_ids_count_once(records):
    policy = policy_with(filter=[])
    once = evaluator_design(records[:500], policy, policy.evaluators[0])
    twice = evaluator_design(records[:500] + records[:20], policy, policy.evaluators[0])
    assert once.design == twice.design


def test_report_reads_the_evaluator_scores_and_says_what_it_does_not_cover(records):
    policy = policy_with()
    built = evaluator_design(records, policy, policy.evaluators[0])
    scores = [Score(u.trace_id, "correct", judge(r)["correct"])
              for u in built.design.units for r in [next(x for x in records if x.id == u.trace_id)]]
    report = evaluator_report(built.design, built.scope, scores)
    assert report.metric == "correct"
    assert report.population == built.scope.in_filter
    codes = [w.code for w in report.warnings]
    assert "evaluator_filter" in codes and "scores_outside_sample" not in codes
    text = next(w for w in report.warnings if w.code == "evaluator_filter").message
    assert "'billing'" in text and "not covered" in text
    starved = [r.stratum for r in report.strata if r.scored < STARVED_BELOW]
    assert starved  # compliance is 0.5% of 3000 traces: a handful of scores at rate 0.3
    assert ("evaluator_starved" in codes) == bool(starved)
    for row in report.strata:
        assert row.scored == row.sampled


def test_no_strata_a_census_rate_and_an_empty_window(records):
    policy = parse_policy({"seed": "x", "evaluator": [{"name": "correct", "rate": 1, "hashes": "trace"}]},
                          source="p")
    built = evaluator_design(records[:200], policy, policy.evaluators[0])
    (cell,) = built.design.cells
    assert (cell.stratum, cell.population, cell.sampled) == ("(all)", 200, 200)
    scores = [Score(r.id, "correct", judge(r)["correct"]) for r in records[:200]]
    report = evaluator_report(built.design, built.scope, scores)
    truth = sum(s.value for s in scores) / 200
    assert report.estimate.mean == truth and report.estimate.ci_low == report.estimate.ci_high == truth
    assert not [w for w in report.warnings if w.code.startswith("evaluator_")]

    empty = evaluator_design([], policy, policy.evaluators[0])
    assert empty.design.cells == () and empty.scope.population == 0
    report = evaluator_report(empty.design, empty.scope, [])
    assert [w.code for w in report.warnings] == ["no_scores"]


def test_scores_the_evaluator_would_not_have_picked_are_ignored_and_explained(records):
    policy = policy_with()
    built = evaluator_design(records, policy, policy.evaluators[0])
    picked = {u.trace_id for u in built.design.units}
    backfill = [r for r in records if r.id not in picked][:7]  # e.g. "Evaluate" on rows chosen in the UI
    scores = [Score(t, "correct", True) for t in picked] + [Score(r.id, "correct", False) for r in backfill]
    report = evaluator_report(built.design, built.scope, scores)
    assert report.estimate.mean == 1.0
    hint = next(w for w in report.warnings if w.code == "evaluator_unpicked_scores")
    assert hint.details["count"] == 7 and "backfill" in hint.message


@pytest.mark.parametrize("hashes", ["observation", "trace"])
def test_a_column_source_gives_the_design_the_records_give(records, tmp_path, hashes):
    from builders import write_jsonl

    from tracestrata.connectors.files.source import FilesTraceSource
    from tracestrata.protocols import ColumnSource
    from tracestrata.evaluators.design import source_evaluator_design

    policy = policy_with(hashes=hashes, filter=[{"field": "latency_ms", "lt": 2000},
                                                {"field": "metadata.intent", "not_equals": "billing"}])
    source = FilesTraceSource(write_jsonl(tmp_path / "t.jsonl", records + records[:30]))
    assert isinstance(source, ColumnSource)
    from_columns = source_evaluator_design(source, policy, policy.evaluators[0])
    from_records = evaluator_design(records, policy, policy.evaluators[0])
    assert from_columns.design == from_records.design and from_columns.scope == from_records.scope
