from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracestrata.errors import InputError
from tracestrata.record import (
    Score,
    SourceRef,
    TraceRecord,
    format_timestamp,
    parse_timestamp,
)


def make(**overrides):
    base = dict(
        id="t1",
        timestamp=datetime(2026, 11, 23, 12, 0, tzinfo=UTC),
        name="chat",
        status="error",
        latency_ms=1200.5,
        cost=0.01,
        tags=("prod",),
        metadata={"intent": "billing", "nested": {"a": 1}},
        scores={"user_feedback": 0.0, "ok": True, "label": "bad"},
        user_id="u",
        session_id="s",
        release="v1",
        version="m",
        span_id="sp",
        source=SourceRef("phoenix", "demo"),
    )
    base.update(overrides)
    return TraceRecord(**base)


def test_json_round_trip():
    record = make()
    assert TraceRecord.from_json(record.to_json()) == record


def test_timestamps_are_utc_with_z():
    assert format_timestamp(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05Z"
    plus_two = datetime(2026, 1, 2, 5, 4, 5, 7, tzinfo=timezone(timedelta(hours=2)))
    assert format_timestamp(plus_two) == "2026-01-02T03:04:05.000007Z"
    assert parse_timestamp("2026-01-02T03:04:05") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_timestamp("2026-01-02T03:04:05Z").tzinfo is UTC


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"id": ""}, "id"),
        ({"id": 3}, "id"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"status": "failed"}, "status"),
        ({"latency_ms": "slow"}, "latency_ms"),
        ({"tags": "prod"}, "tags"),
        ({"metadata": [1]}, "metadata"),
        ({"scores": {"x": [1]}}, "scores.x"),
    ],
)
def test_bad_fields_are_named(patch, field):
    data = make().to_json() | patch
    with pytest.raises(InputError) as err:
        TraceRecord.from_json(data, path="traces.jsonl", line=7)
    assert err.value.field == field
    assert str(err.value).startswith(f"traces.jsonl:7: {field}: expected")


def test_missing_timestamp_is_named():
    data = make().to_json()
    del data["timestamp"]
    with pytest.raises(InputError, match="timestamp"):
        TraceRecord.from_json(data)


def test_minimal_record_defaults():
    record = TraceRecord.from_json({"id": "a", "timestamp": "2026-11-23T00:00:00Z"})
    assert record.status == "ok" and record.tags == () and record.metadata == {} and record.source.backend == "files"


@given(st.one_of(st.floats(min_value=-1e12, max_value=1e12), st.booleans(), st.text(min_size=1)))
def test_score_values_keep_their_type(value):
    score = Score.from_json({"trace_id": "t", "name": "n", "value": value})
    assert type(score.value) is type(value) and score.value == value
    assert Score.from_json(score.to_json()) == score


@pytest.mark.parametrize("value", [1e300, -1.7e308, 2**64 * 1e6, 10**400, float("nan"), float("inf")])
def test_scores_past_the_documented_range_are_one_line(value):
    with pytest.raises(InputError, match="finite number within"):
        Score.from_json({"trace_id": "t", "name": "n", "value": value}, path="s.jsonl", line=3)


def test_integer_scores_become_floats_and_bad_scores_are_named():
    assert Score.from_json({"trace_id": "t", "name": "n", "value": 3}).value == 3.0
    with pytest.raises(InputError, match="value"):
        Score.from_json({"trace_id": "t", "name": "n", "value": None}, path="s.jsonl", line=2)
    with pytest.raises(InputError, match="trace_id"):
        Score.from_json({"name": "n", "value": 1})
