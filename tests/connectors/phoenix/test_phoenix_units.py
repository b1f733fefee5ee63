"""Offline checks of the Phoenix connector's pure pieces: value typing, DSL, JSON parsing, settings."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from tracestrata.connectors.phoenix.judging import annotation_for_score
from tracestrata.connectors.phoenix.scores import typed_value
from tracestrata.connectors.phoenix.settings import load_settings, resolve_base_url
from tracestrata.connectors.phoenix.source import (
    dsl_condition,
    records_from_rows,
    rows_from_multipart,
)
from tracestrata.demo.phoenix_server import root_span_id, span_for_record
from tracestrata.errors import ConfigError, FatalSourceError
from tracestrata.record import Score, SourceRef, TraceRecord


@pytest.mark.parametrize(
    ("label", "score", "kind", "want"),
    [
        ("true", 1.0, None, True),
        ("False", None, None, False),
        (None, 3.5, None, 3.5),
        ("minor", None, None, "minor"),
        ("good", 0.8, None, 0.8),
        ("good", 0.8, "CATEGORICAL", "good"),
        ("good", 0.8, "CONTINUOUS", 0.8),
        (None, 1.0, "CATEGORICAL", 1.0),  # Phoenix's built-in user_feedback written as a bare score
        (None, 0.0, "BOOLEAN", False),
        (None, None, None, None),
        ("", None, None, None),
    ],
)
def test_annotation_values_are_typed_faithfully(label, score, kind, want):
    got = typed_value(label, score, kind)
    assert got == want and type(got) is type(want)


@pytest.mark.parametrize("value", [True, False, 2.5, "minor"])
def test_seeded_annotations_read_back_as_the_same_value(value):
    result = annotation_for_score(Score("t" * 32, "m", value))["result"]
    got = typed_value(result.get("label"), result.get("score"))
    assert got == value and type(got) is type(value)


def test_dsl_conditions():
    assert dsl_condition("metadata.intent", "billing") == "metadata[\"intent\"] == \"billing\""
    assert dsl_condition("metadata.a.b", 3) == "metadata[\"a\"][\"b\"] == 3"
    assert dsl_condition("metadata.refusal", True) == "metadata[\"refusal\"] == True"
    assert dsl_condition("status", "error") == "status_code == 'ERROR'"
    assert dsl_condition("metadata.x", "(missing)") == "metadata[\"x\"] is None"
    assert dsl_condition("user_id", "o'neil") == "user.id == \"o'neil\""
    with pytest.raises(FatalSourceError, match="cannot count by 'latency_ms'"):
        dsl_condition("latency_ms", 3)


def test_multipart_json_rows_map_to_records():
    document = {
        "schema": {"fields": []},
        "data": [
            {"0_context.span_id": "ab" * 8, "1_context.trace_id": "cd" * 16, "2_name": "chat",
             "3_start_time": "2026-01-05T00:00:07.113068000Z", "4_latency_ms": 12.5, "5_status_code": "ERROR",
             "6_metadata": {"intent": "tech", "gone": None, "release": "v2"}, "7_tag.tags": ["a"],
             "8_user.id": None, "9_llm.cost.total": None, "10_llm.token_count.total": 42},
        ],
    }
    body = b"--XyZ\r\nContent-Type: application/json\r\n\r\n" + orjson.dumps(document) + b"\r\n--XyZ--\r\n"
    rows = rows_from_multipart(body, "multipart/mixed; boundary=XyZ")
    (record,) = records_from_rows(rows, SourceRef("phoenix", "p"))
    assert record.id == "cd" * 16 and record.span_id == "ab" * 8
    assert record.timestamp == datetime(2026, 1, 5, 0, 0, 7, 113068, tzinfo=UTC)
    assert record.status == "error" and record.latency_ms == 12.5 and record.cost is None
    assert record.metadata == {"intent": "tech", "release": "v2", "token_count": 42}
    assert record.release == "v2" and record.tags == ("a",) and record.user_id is None
    assert rows_from_multipart(b"", "multipart/mixed; boundary=XyZ") == []


def test_seed_span_carries_what_the_mapping_reads():
    record = TraceRecord(id="ef" * 16, timestamp=datetime(2026, 1, 5, tzinfo=UTC), latency_ms=5.0, status="error",
                         metadata={"intent": "x", "nested": {"k": 1}}, release="v9", version="gpt", cost=0.5)
    span = span_for_record(record)
    assert span["context"]["span_id"] == root_span_id(record.id) and len(span["context"]["span_id"]) == 16
    assert span["attributes"]["metadata.nested.k"] == 1 and span["attributes"]["metadata.release"] == "v9"
    assert span["end_time"] == "2026-01-05T00:00:00.005000Z" and span["status_code"] == "ERROR"


def test_settings_refuse_a_key_in_the_config_and_resolve_the_url(monkeypatch):
    with pytest.raises(ConfigError, match="PHOENIX_API_KEY"):
        load_settings({"api_key": "x"})
    with pytest.raises(ConfigError, match="source.page_limit"):
        load_settings({"page_limit": 0})
    monkeypatch.delenv("PHOENIX_BASE_URL", raising=False)
    monkeypatch.setenv("PHOENIX_COLLECTOR_ENDPOINT", "http://127.0.0.1:7000/v1/traces")
    assert resolve_base_url() == "http://127.0.0.1:7000"
    monkeypatch.setenv("PHOENIX_BASE_URL", "http://127.0.0.1:6006/")
    assert load_settings({"type": "phoenix"}).base_url == "http://127.0.0.1:6006"
