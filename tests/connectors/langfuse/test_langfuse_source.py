"""Trace source and stratum counter against the contract-validated fake."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from tracestrata.connectors.langfuse import CountNotSupported, LangfuseConnector, LangfuseTraceSource
from tracestrata.errors import FatalSourceError
from tracestrata.protocols import CountsByField, FieldCountRequest, StratumCounter, Window
from tracestrata.record import SourceRef, TraceRecord

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WINDOW = Window(START, START + timedelta(hours=1))


def record(i: int, **changes: object) -> TraceRecord:
    base = TraceRecord(
        id=f"{i:032x}",
        timestamp=START + timedelta(seconds=10 * i),
        name="chat" if i % 2 else "search",
        status="error" if i % 5 == 0 else "ok",
        latency_ms=250.0 + i,
        cost=0.001 * i,
        tags=("prod", f"t{i % 3}"),
        metadata={"intent": ["billing", "tech", "refund"][i % 3], "persona": "pro"},
        user_id=f"user-{i}",
        session_id=f"session-{i // 4}",
        release="v42" if i % 2 else "v41",
        version="gpt-4o",
        span_id=f"{i:016x}",
    )
    return TraceRecord(**{**{f: getattr(base, f) for f in base.__slots__}, **changes})  # type: ignore[arg-type]


def test_maps_every_field_of_the_root_observation(fake, connect) -> None:
    seeded = [record(i) for i in range(12)]
    fake.add_traces(seeded, children=2)
    got = {r.id: r for r in connect().trace_source().iter_traces(WINDOW, metadata_keys=["intent"])}
    assert set(got) == {r.id for r in seeded}
    for want in seeded:
        have = got[want.id]
        assert have.timestamp == want.timestamp and have.timestamp.tzinfo is not None
        assert have.name == want.name
        assert have.status == want.status
        assert have.latency_ms == pytest.approx(want.latency_ms)
        assert have.cost == pytest.approx(want.cost)
        assert have.tags == want.tags
        assert dict(have.metadata) == dict(want.metadata)
        assert (have.user_id, have.session_id, have.release, have.version) == (
            want.user_id, want.session_id, want.release, want.version,
        )
        assert have.span_id == want.span_id  # root observation id links dataset items back
        assert have.source == SourceRef("langfuse", "fake-project")
        assert have.scores == {}


def test_project_option_names_the_source(fake, connect) -> None:
    fake.add_traces([record(1)])
    (got,) = connect(project="prod-eu").trace_source().iter_traces(WINDOW)
    assert got.source == SourceRef("langfuse", "prod-eu")


def test_every_page_exactly_once_and_one_request_per_page(fake, connect) -> None:
    seeded = [record(i) for i in range(53)]
    fake.add_traces(seeded, children=1)
    conn = connect(page_size=7)
    ids = [r.id for r in conn.trace_source().iter_traces(WINDOW)]
    assert sorted(ids) == sorted(r.id for r in seeded)
    assert len(ids) == len(set(ids))
    assert fake.count_requests("/api/public/v2/observations") == math.ceil(53 / 7)
    (_, _, first), *_ = [q for q in fake.requests if q[1] == "/api/public/v2/observations"]
    assert first["isRootObservation"] == ["true"]
    assert first["limit"] == ["7"]
    assert set(first["fields"][0].split(",")) >= {"basic", "metadata", "trace_context"}
    assert "io" not in first["fields"][0]


def test_window_is_half_open(fake, connect) -> None:
    at_start = record(1, timestamp=WINDOW.start)
    before = record(2, timestamp=WINDOW.start - timedelta(milliseconds=1))
    last_in = record(3, timestamp=WINDOW.end - timedelta(milliseconds=1))
    at_end = record(4, timestamp=WINDOW.end)
    fake.add_traces([at_start, before, last_in, at_end])
    ids = {r.id for r in connect().trace_source().iter_traces(WINDOW)}
    assert ids == {at_start.id, last_in.id}


def test_long_metadata_is_expanded_only_for_the_policy_keys(fake, connect) -> None:
    long_text = "x" * 450
    fake.add_traces([record(1, metadata={"intent": long_text, "note": long_text})])
    (got,) = connect().trace_source().iter_traces(WINDOW, metadata_keys=["intent"])
    assert got.metadata["intent"] == long_text
    assert len(got.metadata["note"]) == 200  # the server truncates what we did not ask for
    (_, _, query), *_ = [q for q in fake.requests if q[1] == "/api/public/v2/observations"]
    assert query["expandMetadata"] == ["intent"]


def test_nested_policy_keys_expand_their_top_level_key(fake, connect) -> None:
    fake.add_traces([record(1)])
    list(connect().trace_source().iter_traces(WINDOW, metadata_keys=["customer.tier", "intent"]))
    (_, _, query), *_ = [q for q in fake.requests if q[1] == "/api/public/v2/observations"]
    assert query["expandMetadata"] == ["customer,intent"]


def test_environment_filter(fake, connect) -> None:
    fake.add_traces([record(1), record(2)], environment="production")
    fake.add_traces([record(3)], environment="staging")
    ids = {r.id for r in connect(environment="production").trace_source().iter_traces(WINDOW)}
    assert ids == {record(1).id, record(2).id}
    ids = {r.id for r in connect(environment=["production", "staging"]).trace_source().iter_traces(WINDOW)}
    assert len(ids) == 3


def test_a_trace_with_two_root_observations_comes_back_once(fake, connect) -> None:
    fake.add_traces([record(1), record(1, span_id="ffffffffffffffff", timestamp=START + timedelta(minutes=5))])
    got = list(connect().trace_source().iter_traces(WINDOW))
    assert [r.id for r in got] == [record(1).id]
    assert got[0].span_id == record(1).span_id


def test_a_repeated_cursor_is_an_error_not_a_loop(fake, connect, monkeypatch) -> None:
    fake.add_traces([record(i) for i in range(5)])
    original = fake.op_observations_getMany
    first: list[str] = []

    def stuck(**kwargs):
        out = original(**kwargs)
        first.append(out["meta"]["cursor"])
        out["meta"]["cursor"] = first[0]  # a server bug: the same page again and again
        return out

    monkeypatch.setattr(fake, "op_observations_getMany", stuck)
    with pytest.raises(FatalSourceError, match="repeated cursor"):
        list(connect(page_size=2).trace_source().iter_traces(WINDOW))


def counter_of(connector: LangfuseConnector) -> LangfuseTraceSource:
    """What `plan` counts with: the connector's trace source, when it declares `StratumCounter`."""
    source = connector.trace_source()
    assert isinstance(source, StratumCounter)
    return source


def test_count_through_the_metrics_api(fake, connect) -> None:
    seeded = [record(i) for i in range(30)]
    fake.add_traces(seeded, children=1)
    counter = counter_of(connect())
    assert counter.count(WINDOW, {}) == 30
    assert counter.count(WINDOW, {"name": "chat"}) == sum(r.name == "chat" for r in seeded)
    assert counter.count(WINDOW, {"release": "v41", "status": "error"}) == sum(
        r.release == "v41" and r.status == "error" for r in seeded
    )
    assert counter.count(WINDOW, {"status": "ok"}) == sum(r.status == "ok" for r in seeded)
    assert counter.count(WINDOW, {"tags": "t1"}) == sum("t1" in r.tags for r in seeded)
    assert fake.count_requests("/api/public/v2/metrics") == 5


def test_count_signals_a_pull_for_metadata_keys(fake, connect) -> None:
    counter = counter_of(connect())
    with pytest.raises(CountNotSupported, match="metadata.intent"):
        counter.count(WINDOW, {"metadata.intent": "billing"})
    with pytest.raises(NotImplementedError):
        counter.count(WINDOW, {"latency_ms": 3})
    assert fake.requests == []  # decided before any request


def test_count_by_groups_in_one_query(fake, connect) -> None:
    seeded = [record(i) for i in range(30)] + [record(99, release=None)]
    fake.add_traces(seeded, children=1)
    counter = counter_of(connect())
    assert isinstance(counter, CountsByField)
    by_release = counter.count_by(FieldCountRequest(WINDOW, "release"))
    assert by_release == {"v41": 15, "v42": 15, "(missing)": 1}
    by_status = counter.count_by(FieldCountRequest(WINDOW, "status", {"name": "chat"}))
    chats = [r for r in seeded if r.name == "chat"]
    assert by_status == {
        "error": sum(r.status == "error" for r in chats), "ok": sum(r.status == "ok" for r in chats),
    }
    assert fake.count_requests("/api/public/v2/metrics") == 2
    for field in ("tags", "metadata.intent", "latency_ms"):
        try:
            counter.count_by(FieldCountRequest(WINDOW, field))
        except NotImplementedError:
            continue
        raise AssertionError(f"{field} should not be groupable")
