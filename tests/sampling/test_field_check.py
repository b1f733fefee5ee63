"""Policy fields a window lacks: counted from what sampling keeps, named with the closest seen paths."""

from datetime import UTC, datetime

import numpy as np
import pytest
from builders import policy_data

from tracestrata.record import TraceRecord
from tracestrata.columns import DictColumn, StringColumn
from tracestrata.sampling.field_check import (
    FieldPresence,
    FieldRole,
    closest,
    has_value,
    sample_gaps,
    seen_paths,
)
from tracestrata.policy.parse import parse_policy
from tracestrata.sampling.sketch import Sketch
from tracestrata.sampling.samplers import sample_records

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def records(n, **metadata_of):
    return [
        TraceRecord(id=f"t{i}", timestamp=T0, metadata={k: f(i) for k, f in metadata_of.items() if f(i) is not None})
        for i in range(n)
    ]


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ([None, None], False),
        ([None, "a"], True),
        ([], False),
        (np.array([np.nan, np.nan]), False),
        (np.array([np.nan, 1.0]), True),
        (np.array([1, 2]), True),
        (np.array([None, None], dtype=object), False),
        (StringColumn.from_strings([None, None]), False),
        (StringColumn.from_strings([None, "x"]), True),
        (DictColumn(np.array([-1, -1]), ["a"]), False),
        (DictColumn(np.array([-1, 0]), ["a"]), True),
    ],
)
def test_has_value_reads_every_column_layout(column, expected):
    assert has_value(column) is expected


def test_closest_compares_keys_not_the_shared_head():
    seen = {"metadata.intent", "metadata.language", "metadata.escalated", "scores.intent", "status"}
    assert closest("metadata.intnet", seen) == ["metadata.intent", "scores.intent"]
    assert closest("metadata.zzz", seen) == []
    assert seen_paths(records(3, intent=str, nested=lambda i: {"a": 1})) >= {
        "metadata.intent",
        "metadata.nested",
        "metadata.nested.a",
        "status",
    }


def test_presence_of_merged_parts_is_the_presence_of_their_union():
    a, b = FieldPresence(["x", "y"]), FieldPresence(["x", "y"])
    a.observe({"x": [None], "y": [1]}, 1)
    b.observe({"x": [None], "y": [None]}, 1)
    a.merge(b)
    assert a.absent == ("x",)
    assert FieldPresence(["x"]).absent == ()  # nothing read: nothing is reported


def test_sketch_merge_and_state_keep_the_absent_fields():
    signal = {"name": "refusal", "field": "metadata.refusl", "equals": True}
    policy = parse_policy(policy_data(signals=("error", signal), strata=()), source="p")
    first, second = Sketch(policy), Sketch(policy)
    first.add_records(records(50, refusal=lambda i: False))
    second.add_records(records(50, refusal=lambda i: False)[25:])
    merged = first.merge(second)
    assert merged.result().absent == ("metadata.refusl",)
    assert Sketch.from_state(policy, merged.to_state()).result().absent == ("metadata.refusl",)
    third = Sketch(policy)
    third.add_records([TraceRecord(id="z", timestamp=T0, metadata={"refusl": True})])
    assert merged.merge(third).result().absent == ()


@pytest.mark.parametrize(("present", "flagged"), [(0, True), (4, True), (30, False)])
def test_a_strata_field_is_flagged_above_99_percent_missing(present, flagged):
    policy = parse_policy(policy_data(strata=({"field": "metadata.tier"},), signals=()), source="p")
    result = sample_records(records(1000, tier=lambda i: "gold" if i < present else None), policy)
    gaps = sample_gaps(result, policy)
    assert [(g.path, g.role, g.missing) for g in gaps] == ([("metadata.tier", FieldRole.STRATA, 1000 - present)] if flagged else [])
    if present == 4:
        assert "missing on 99.6% of the window's 1,000 traces" in gaps[0].message({"metadata.tier"})


def test_a_proxy_field_mostly_missing_is_flagged():
    data = policy_data(signals=())
    data["proxy"] = [{"field": "scores.heuristik"}]
    policy = parse_policy(data, source="p")
    rows = [TraceRecord(id=f"t{i}", timestamp=T0, metadata={"intent": "a"}, scores={"heuristic": 0.5}) for i in range(200)]
    rows[0] = TraceRecord(id="t0", timestamp=T0, metadata={"intent": "a"}, scores={"heuristik": 0.1})
    [gap] = sample_gaps(sample_records(rows, policy), policy)
    assert (gap.path, gap.role, gap.missing) == ("scores.heuristik", FieldRole.PROXY, 199)
    assert gap.message({"scores.heuristic"}).endswith("(or not a number); closest field paths seen: scores.heuristic")
