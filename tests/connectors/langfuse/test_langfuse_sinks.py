"""Dataset and annotation-queue sinks against the fake: upserts, exactly-once queue items, crashes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tracestrata.errors import FatalSourceError, RetriableSourceError
from tracestrata.io.retry import RetryPolicy
from tracestrata.protocols import SampleItem, SinkKind, Window, item_id_for
from tracestrata.record import TraceRecord

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WINDOW = Window(START, START + timedelta(hours=1))


def items(sink: str, n: int, *, offset: int = 0, weight: float = 4.0) -> list[SampleItem]:
    out = []
    for i in range(offset, offset + n):
        rec = TraceRecord(
            id=f"{i:032x}", timestamp=START + timedelta(minutes=i), span_id=f"{i:016x}", metadata={"intent": "tech"}
        )
        out.append(
            SampleItem(
                item_id=item_id_for(sink, WINDOW, rec.id), record=rec, stratum="tech",
                values={"metadata.intent": "tech"}, failure=i % 2 == 0, signals=("error",) if i % 2 == 0 else (),
                inclusion_probability=1 / weight, weight=weight, window=WINDOW, run="run-1",
            )
        )
    return out


# -- dataset -----------------------------------------------------------------------------------


def test_dataset_is_created_once_and_items_carry_the_design(fake, connect) -> None:
    batch = items("judge-day", 4)
    result = connect().sample_sink(SinkKind.DATASET, "judge-day").write(batch)
    assert (result.created, result.updated, result.unchanged) == (4, 0, 0)
    stored = {i["id"]: i for i in fake.dataset_items("judge-day")}
    assert set(stored) == {i.item_id for i in batch}
    for item in batch:
        row = stored[item.item_id]
        assert row["sourceTraceId"] == item.trace_id
        assert row["sourceObservationId"] == item.record.span_id
        assert row["metadata"] == item.metadata()
        assert row["metadata"]["weight"] == 4.0 and row["metadata"]["stratum"] == "tech"
        assert row["input"] is None and row["expectedOutput"] is None  # no bodies unless asked
    # a second connector reuses the dataset by name
    connect().sample_sink(SinkKind.DATASET, "judge-day").write(items("judge-day", 1, offset=10))
    assert fake.count_requests("/api/public/v2/datasets", "POST") == 1


def test_dataset_rewrite_is_a_noop_and_a_change_is_an_upsert(fake, connect) -> None:
    batch = items("ds", 3)
    connect().sample_sink(SinkKind.DATASET, "ds").write(batch)
    posts = fake.count_requests("/api/public/dataset-items", "POST")
    again = connect().sample_sink(SinkKind.DATASET, "ds").write(batch)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert fake.count_requests("/api/public/dataset-items", "POST") == posts  # nothing sent
    changed = items("ds", 3, weight=8.0)
    result = connect().sample_sink(SinkKind.DATASET, "ds").write(changed)
    assert result.updated == 3
    assert len(fake.dataset_items("ds")) == 3
    assert {i["metadata"]["weight"] for i in fake.dataset_items("ds")} == {8.0}


def test_written_ids_of_a_new_dataset_is_empty_and_creates_nothing(fake, connect) -> None:
    sink = connect().sample_sink(SinkKind.DATASET, "not-yet")
    assert sink.written_ids() == set()
    assert fake.datasets() == []
    sink.write(items("not-yet", 2))
    assert len(sink.written_ids()) == 2


def test_written_ids_pages_through_the_dataset(fake, connect) -> None:
    batch = items("big", 230)
    connect().sample_sink(SinkKind.DATASET, "big").write(batch)
    assert connect().sample_sink(SinkKind.DATASET, "big").written_ids() == {i.item_id for i in batch}


def test_bodies_only_when_asked_and_only_for_sampled_traces(fake, connect) -> None:
    batch = items("with-io", 3)
    fake.add_traces([i.record for i in batch] + [i.record for i in items("other", 5, offset=50)])
    connect(include_bodies=True).sample_sink(SinkKind.DATASET, "with-io").write(batch)
    rows = {i["sourceTraceId"]: i for i in fake.dataset_items("with-io")}
    for item in batch:
        assert rows[item.trace_id]["input"] == f"question for {item.trace_id}"
        assert rows[item.trace_id]["expectedOutput"] == f"answer for {item.trace_id}"
    io_reads = [q for m, p, q in fake.requests if p == "/api/public/v2/observations"]
    assert len(io_reads) == 3
    assert all(q["fields"] == ["io"] and q["traceId"][0] in rows for q in io_reads)


def test_dataset_write_retries_through_faults_without_duplicates(fake, connect, sleeps) -> None:
    fake.inject("503", path="/api/public/dataset-items", count=1)
    fake.inject("drop_after", path="/api/public/dataset-items", count=1)
    connect().sample_sink(SinkKind.DATASET, "flaky").write(items("flaky", 3))
    assert len(fake.dataset_items("flaky")) == 3  # the upsert on id absorbs the replayed write
    assert len(sleeps) >= 2


# -- annotation queue --------------------------------------------------------------------------


def test_written_ids_of_a_new_queue_is_empty_and_creates_nothing(fake, connect) -> None:
    sink = connect().sample_sink(SinkKind.QUEUE, "later")
    assert sink.written_ids() == set()
    assert fake.queues() == [] and fake.score_configs() == []
    sink.write(items("later", 2))
    assert sink.written_ids() == {i.item_id for i in items("later", 2)}


def test_queue_and_score_config_are_created_when_missing(fake, connect) -> None:
    connect(score_config="correct").sample_sink(SinkKind.QUEUE, "review").write(items("review", 2))
    (config,) = fake.score_configs()
    assert (config["name"], config["dataType"]) == ("correct", "BOOLEAN")
    (queue,) = fake.queues()
    assert queue["name"] == "review" and queue["scoreConfigIds"] == [config["id"]]
    assert {i["objectType"] for i in fake.queue_items("review")} == {"TRACE"}


def test_existing_queue_and_named_score_config_are_reused(fake, connect) -> None:
    conn = connect(score_config="quality", score_config_type="NUMERIC")
    conn.sample_sink(SinkKind.QUEUE, "review").write(items("review", 1))
    connect(score_config="quality").sample_sink(SinkKind.QUEUE, "review").write(items("review", 1, offset=1))
    assert len(fake.queues()) == 1 and len(fake.score_configs()) == 1
    assert fake.count_requests("/api/public/annotation-queues", "POST") == 1


def test_queue_items_exactly_once_across_reruns(fake, connect, tmp_path) -> None:
    journal = tmp_path / "journal.jsonl"
    batch = items("review", 6)
    first = connect(queue_journal_path=str(journal)).sample_sink(SinkKind.QUEUE, "review").write(batch[:4])
    assert first.created == 4
    rerun = connect(queue_journal_path=str(journal)).sample_sink(SinkKind.QUEUE, "review")
    assert rerun.written_ids() == {i.item_id for i in batch[:4]}
    result = rerun.write(batch)
    assert (result.created, result.unchanged) == (2, 4)
    queued = [i["objectId"] for i in fake.queue_items("review")]
    assert sorted(queued) == sorted(i.trace_id for i in batch)  # one row per trace, never two


def test_queue_item_committed_but_response_lost_is_not_duplicated(fake, connect, sleeps) -> None:
    """The crash case: the POST lands, the connection drops before the answer; the retry must look first."""
    batch = items("review", 3)
    sink = connect().sample_sink(SinkKind.QUEUE, "review")
    fake.inject("drop_after", path=f"/api/public/annotation-queues/{sink.queue_id}/items", method="POST", count=2)
    result = sink.write(batch)
    assert result.created == 3
    queued = [i["objectId"] for i in fake.queue_items("review")]
    assert sorted(queued) == sorted(i.trace_id for i in batch)


def test_queue_item_5xx_before_commit_is_retried(fake, connect, sleeps) -> None:
    sink = connect().sample_sink(SinkKind.QUEUE, "review")
    sink.queue_id
    fake.inject("500", path=f"/api/public/annotation-queues/{sink.queue_id}/items", count=2)
    sink.write(items("review", 2))
    assert len(fake.queue_items("review")) == 2
    assert len(sleeps) == 2


def test_crash_between_writes_then_resume(fake, connect, tmp_path) -> None:
    """A run dies mid-batch (retry budget spent); the next run completes it, one row per trace."""
    journal = str(tmp_path / "journal.jsonl")
    batch = items("review", 5)
    sink = connect(queue_journal_path=journal, retry_policy=RetryPolicy(attempts=1)).sample_sink(SinkKind.QUEUE, "review")
    sink.queue_id
    sink.write(batch[:2])
    fake.inject("drop_after", path=f"/api/public/annotation-queues/{sink.queue_id}/items", method="POST", count=1)
    with pytest.raises(RetriableSourceError):
        sink.write(batch[2:])  # the third item lands, the process "dies" without knowing
    resumed = connect(queue_journal_path=journal).sample_sink(SinkKind.QUEUE, "review")
    done = resumed.written_ids()
    assert {i.item_id for i in batch[:2]} <= done
    resumed.write([i for i in batch if i.item_id not in done])
    queued = [i["objectId"] for i in fake.queue_items("review")]
    assert sorted(queued) == sorted(i.trace_id for i in batch)


def test_hobby_plan_queue_limit_is_one_clear_line(connect, fake) -> None:
    fake.max_queues = 1
    connect().sample_sink(SinkKind.QUEUE, "first").write(items("first", 1))
    with pytest.raises(FatalSourceError) as caught:
        connect().sample_sink(SinkKind.QUEUE, "second").write(items("second", 1))
    message = str(caught.value)
    assert "\n" not in message
    assert "405" in message and "'second'" in message and "'first'" in message and "one" in message
    assert caught.value.field == "sink.queue"
