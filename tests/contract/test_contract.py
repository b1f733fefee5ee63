"""The connector contract: every connector passes the same checks.

Parameterized over every `harness_*.py` module in this folder (see docs/design.md for
the harness interface). A harness may `pytest.skip` in `make_harness()` when its
backend is not available.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tracestrata.protocols import (
    Connector,
    SampleItem,
    SampleSink,
    ScoreSource,
    SinkKind,
    TraceSource,
    Window,
    item_id_for,
)
from tracestrata.record import Score, SourceRef, TraceRecord

HARNESSES = sorted(p.stem for p in Path(__file__).parent.glob("harness_*.py"))


@pytest.fixture(params=HARNESSES)
def harness(request: pytest.FixtureRequest) -> Iterator[Any]:
    module = importlib.import_module(request.param)
    made = module.make_harness()
    try:
        yield made
    finally:
        close = getattr(made, "close", None)
        if close is not None:
            close()


def _run_tag() -> str:
    return uuid.uuid4().hex[:8]


def _window() -> Window:
    # a recent, whole-minute window: backends with retention limits still accept it
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    return Window(end - timedelta(hours=1), end)


def _records(window: Window, tag: str) -> tuple[list[TraceRecord], set[str]]:
    """Traces inside the window (including exactly at its start) and outside it (including exactly at its end)."""
    span = window.end - window.start
    inside: list[TraceRecord] = []
    for i in range(23):
        at = window.start + span * (i / 23)
        inside.append(
            TraceRecord(
                id=f"{tag}{i:024x}",
                timestamp=at,
                name="chat",
                status="error" if i % 5 == 0 else "ok",
                latency_ms=100.0 + i,
                tags=("contract",),
                metadata={"intent": ["billing", "tech", "refund"][i % 3], "n": i},
                source=SourceRef("contract"),
            )
        )
    outside = [
        TraceRecord(id=f"{tag}{900 + i:024x}", timestamp=at, name="chat", metadata={"intent": "billing"})
        for i, at in enumerate(
            (window.start - timedelta(seconds=1), window.end, window.end + timedelta(minutes=5))
        )
    ]
    return inside + outside, {r.id for r in inside}


def test_connector_shape(harness: Any) -> None:
    conn = harness.connector()
    try:
        assert isinstance(conn, Connector)
        assert isinstance(conn.trace_source(), TraceSource)
        assert isinstance(conn.sample_sink(SinkKind.DATASET, f"contract-{_run_tag()}"), SampleSink)
        assert isinstance(conn.score_source(), ScoreSource)
        assert isinstance(conn.name, str) and conn.name
    finally:
        conn.close()


def test_every_trace_in_window_exactly_once_half_open(harness: Any) -> None:
    window = _window()
    tag = _run_tag()
    records, inside = _records(window, tag)
    harness.seed_traces(records)
    conn = harness.connector()
    try:
        got = [r for r in conn.trace_source().iter_traces(window, metadata_keys=("intent", "n")) if r.id.startswith(tag)]
    finally:
        conn.close()
    ids = [r.id for r in got]
    assert len(ids) == len(set(ids)), "a trace came back twice (pagination overlap?)"
    assert set(ids) == inside, "window must be [start, end): start included, end excluded"
    by_id = {r.id: r for r in records}
    for record in got:
        assert isinstance(record, TraceRecord)
        assert record.timestamp.tzinfo is not None and window.contains(record.timestamp)
        seeded = by_id[record.id]
        assert record.metadata.get("intent") == seeded.metadata["intent"]
        assert record.status == seeded.status
        assert not any(key in record.metadata for key in ("input", "output")), "metadata only, no bodies"


def _items(window: Window, sink: str, n: int, tag: str) -> list[SampleItem]:
    out = []
    for i in range(n):
        record = TraceRecord(id=f"{tag}{i:024x}", timestamp=window.start + timedelta(minutes=i), metadata={"intent": "x"})
        out.append(
            SampleItem(
                item_id=item_id_for(sink, window, record.id),
                record=record,
                stratum="x",
                values={"metadata.intent": "x"},
                failure=i % 2 == 0,
                signals=("error",) if i % 2 == 0 else (),
                inclusion_probability=0.25,
                weight=4.0,
                window=window,
                run="contract",
            )
        )
    return out


def test_sink_upserts_by_item_id(harness: Any) -> None:
    window = _window()
    name = f"contract-{_run_tag()}"
    items = _items(window, name, 5, _run_tag())
    conn = harness.connector()
    try:
        sink = conn.sample_sink(SinkKind.DATASET, name)
        first = sink.write(items[:3])
        again = sink.write(items[:3])
        sink.write(items[2:])
        written = sink.written_ids()
    finally:
        conn.close()
    assert first.created == 3
    assert again.created == 0
    assert {i.item_id for i in items} <= written
    assert len([i for i in written if i in {x.item_id for x in items}]) == 5


def test_sink_resumes_after_a_crash(harness: Any) -> None:
    """A run that died after a partial write: a fresh connector sees what was written and completes it."""
    window = _window()
    name = f"contract-{_run_tag()}"
    items = _items(window, name, 8, _run_tag())
    conn = harness.connector()
    try:
        conn.sample_sink(SinkKind.DATASET, name).write(items[:3])
    finally:
        pass  # no close(): the "crashed" process never cleans up
    fresh = harness.connector()
    try:
        sink = fresh.sample_sink(SinkKind.DATASET, name)
        done = sink.written_ids()
        assert {i.item_id for i in items[:3]} <= done
        sink.write([i for i in items if i.item_id not in done])
        sink.write(items)  # a resumed run that re-sends everything still leaves one of each
        final = sink.written_ids()
    finally:
        fresh.close()
    ours = {i.item_id for i in items}
    assert ours <= final
    assert len(ours & final) == 8


def test_scores_round_trip_with_their_types(harness: Any) -> None:
    window = _window()
    tag = _run_tag()
    records, _ = _records(window, tag)
    harness.seed_traces(records[:4])
    ids = [r.id for r in records[:4]]
    seeded = [
        Score(ids[0], "correct", True),
        Score(ids[1], "correct", False),
        Score(ids[0], "quality", 4.5),
        Score(ids[1], "quality", 2.0),
        Score(ids[2], "verdict", "minor"),
        Score(ids[3], "verdict", "pass"),
        Score(ids[3], "unrelated", 1.0),
    ]
    harness.seed_scores(seeded)
    conn = harness.connector()
    try:
        got = list(conn.score_source().get_scores(ids + [f"{tag}-unknown"], ["correct", "quality", "verdict"]))
    finally:
        conn.close()
    found = {(s.trace_id, s.name): s.value for s in got}
    assert found == {(s.trace_id, s.name): s.value for s in seeded if s.name != "unrelated"}
    for score in got:
        expected = {"correct": bool, "quality": float, "verdict": str}[score.name]
        assert type(score.value) is expected, f"{score.name}: {score.value!r} is not a {expected.__name__}"


def test_judge_scores_are_written_once_and_read_back_typed(harness: Any) -> None:
    """A connector the judge runner can use (`JudgeBackend`) finds the sampled traces' bodies and
    writes scores that its own score source reads back, typed; writing them again leaves one of each."""
    from tracestrata.protocols import JudgeBackend, JudgedScore, score_id_for

    window = _window()
    tag = _run_tag()
    records, _ = _records(window, tag)
    harness.seed_traces(records[:3])
    conn = harness.connector()
    try:
        if not isinstance(conn, JudgeBackend):
            pytest.skip(f"the {conn.name} connector does not run judges")
        items = [
            SampleItem(item_id_for("judge", window, r.id), r, "s", {}, False, (), 0.25, 4.0, window=window, run="contract")
            for r in records[:3]
        ]
        bodies = conn.body_fetcher().fetch_bodies(items)
        assert set(bodies) == {r.id for r in records[:3]}
        values: list[Any] = [True, 3.5, "minor"]
        scores = [
            JudgedScore(score_id_for("contract-judge", item.trace_id, f"judged_{i}"), item, f"judged_{i}", value,
                        "contract-judge", reason="because")
            for i, (item, value) in enumerate(zip(items, values, strict=True))
        ]
        writer = conn.score_writer()
        writer.write_scores(scores)
        writer.write_scores(scores)  # a retried write upserts
        got = list(conn.score_source().get_scores([r.id for r in records[:3]], [s.name for s in scores]))
    finally:
        conn.close()
    assert sorted((s.trace_id, s.name, s.value) for s in got) == sorted((s.trace_id, s.name, s.value) for s in scores)
    assert [type(s.value) for s in sorted(got, key=lambda s: s.name)] == [bool, float, str]
