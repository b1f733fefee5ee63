"""Field paths, value labels, numeric buckets, `top` folding."""

from datetime import UTC, datetime

import pytest
from builders import PATHS, record_values
from hypothesis import given, settings

from tracestrata.record import SourceRef, TraceRecord
from tracestrata.policy.strata import (
    MISSING,
    OTHER,
    Dimension,
    bucket_label,
    bucket_labels,
    check_path,
    fold,
    raw_column,
    raw_getter,
    record_getter,
    stratum_key,
    top_values,
    value_label,
)


def test_bucket_labels_are_readable():
    assert bucket_labels([1000, 3000, 10000]) == ("<1000", "1000–3000", "3000–10000", ">=10000")
    assert bucket_labels([0.5]) == ("<0.5", ">=0.5")
    edges, labels = (1000.0, 3000.0), bucket_labels([1000, 3000])
    assert [bucket_label(v, edges, labels) for v in (5, 1000, 2999.9, 3000, 1e9)] == [
        "<1000",
        "1000–3000",
        "1000–3000",
        ">=3000",
        ">=3000",
    ]
    assert bucket_label(None, edges, labels) == MISSING
    assert bucket_label("fast", edges, labels) == MISSING
    assert bucket_label(True, edges, labels) == MISSING
    assert bucket_label(float("nan"), edges, labels) == MISSING


def test_value_labels():
    assert value_label(None) == MISSING and value_label("") == MISSING and value_label([]) == MISSING
    assert value_label("refund") == "refund"
    assert value_label(True) == "true" and value_label(False) == "false"
    assert value_label(1000.0) == "1000" and value_label(2.5) == "2.5" and value_label(3) == "3"
    assert value_label(["prod", "refund"]) == "prod,refund"
    assert value_label({"b": 1, "a": 2}) == '{"a":2,"b":1}'


def test_top_keeps_most_frequent_ties_by_value_and_never_folds_missing():
    counts = {"a": 5, "b": 3, "c": 3, "d": 1, MISSING: 100}
    assert top_values(counts, 2) == frozenset({"a", "b"})
    kept = top_values(counts, 2)
    assert [fold(v, kept) for v in ("a", "c", "d", MISSING)] == ["a", OTHER, OTHER, MISSING]


def test_values_list_folds_the_rest():
    labeler = Dimension("release", values=("v41", "v42")).labeler()
    assert [labeler(v) for v in ("v41", "v43", None)] == ["v41", OTHER, MISSING]


def test_stratum_key_and_paths():
    assert stratum_key(["compliance", "<1000"]) == "compliance | <1000"
    for path in PATHS:
        assert check_path(path) is None, path
    assert "unknown field" in check_path("intent")
    assert "no sub-fields" in check_path("status.x")
    assert check_path("metadata") == "expected 'metadata.<key>'"
    assert check_path("metadata..x") is not None


@settings(deadline=None)
@given(record_values)
def test_raw_json_reads_like_the_record(data):
    """The fast path reads decoded JSON; it must see exactly what TraceRecord.from_json gives."""
    data = {k: v for k, v in data.items() if v is not None} | {"id": "t1", "timestamp": "2026-01-01T00:00:00Z"}
    record = TraceRecord.from_json(data)
    for path in PATHS:
        assert raw_getter(path)(data) == record_getter(path)(record), path
        assert raw_column([data], path) == [record_getter(path)(record)], path


def test_record_getter_reads_source():
    record = TraceRecord("t", datetime(2026, 1, 1, tzinfo=UTC), source=SourceRef("phoenix", "demo"))
    assert record_getter("source.backend")(record) == "phoenix"
    assert record_getter("source.project")(record) == "demo"
    assert record_getter("metadata.intent")(record) is None


@pytest.mark.parametrize("bad", [[1, 2], "text", 5])
def test_raw_column_treats_non_object_metadata_as_missing(bad):
    assert raw_column([{"metadata": bad}, {"metadata": {"intent": "x"}}], "metadata.intent") == [None, "x"]


@settings(deadline=None)
@given(record_values)
def test_record_column_equals_record_getter(data):
    from tracestrata.policy.strata import record_column

    data = {k: v for k, v in data.items() if v is not None} | {"id": "t1", "timestamp": "2026-01-01T00:00:00Z"}
    record = TraceRecord.from_json(data)
    for path in PATHS:
        assert record_column([record, record], path) == [record_getter(path)(record)] * 2, path
