"""Score read-back: typed values, batching of trace ids, every cursor page."""

from __future__ import annotations

import math

from tracestrata.record import Score


def tid(i: int) -> str:
    return f"{i:032x}"


def test_values_keep_their_type(fake, connect) -> None:
    seeded = [
        Score(tid(1), "correct", True),
        Score(tid(2), "correct", False),
        Score(tid(1), "quality", 4.5),
        Score(tid(2), "quality", 2.0),
        Score(tid(3), "verdict", "minor"),
        Score(tid(3), "other", 1.0),
        Score(tid(9), "correct", True),  # not asked for
    ]
    fake.add_scores(seeded)
    got = list(connect().score_source().get_scores([tid(1), tid(2), tid(3)], ["correct", "quality", "verdict"]))
    assert {(s.trace_id, s.name): s.value for s in got} == {
        (tid(1), "correct"): True,
        (tid(2), "correct"): False,
        (tid(1), "quality"): 4.5,
        (tid(2), "quality"): 2.0,
        (tid(3), "verdict"): "minor",
    }
    types = {s.name: type(s.value) for s in got}
    assert types == {"correct": bool, "quality": float, "verdict": str}
    assert all(s.updated_at is not None and s.updated_at.tzinfo is not None for s in got)


def test_observation_level_scores_map_to_their_trace(fake, connect) -> None:
    fake.add_scores([Score(tid(4), "correct", True)], observation_level=True)
    (got,) = connect().score_source().get_scores([tid(4)], ["correct"])
    assert (got.trace_id, got.value) == (tid(4), True)


def test_trace_ids_are_batched_and_every_page_is_read(fake, connect) -> None:
    ids = [tid(i) for i in range(35)]
    fake.add_scores([Score(t, "quality", float(k)) for t in ids for k in range(8)])  # 280 scores
    got = list(connect(trace_ids_per_request=10).score_source().get_scores(ids, ["quality"]))
    assert {s.trace_id: s.value for s in got} == {t: 7.0 for t in ids}  # every page read: the newest of 8 wins
    assert len(got) == 35
    requests = [q for m, p, q in fake.requests if p == "/api/public/v3/scores"]
    batches = [len(q["traceId"][0].split(",")) for q in requests if "cursor" not in q]
    assert batches == [10, 10, 10, 5]
    assert all(q["limit"] == ["100"] and q["name"] == ["quality"] for q in requests)
    # 80 scores per 10-id batch: one page of 100 each; the 5-id batch: 40
    assert len(requests) == 4
    many = list(connect(trace_ids_per_request=50).score_source().get_scores(ids, ["quality"]))
    assert len(many) == 35
    assert len([q for m, p, q in fake.requests if p == "/api/public/v3/scores"]) == 4 + math.ceil(280 / 100)


def test_nothing_asked_means_no_request(fake, connect) -> None:
    assert list(connect().score_source().get_scores([], ["correct"])) == []
    assert list(connect().score_source().get_scores([tid(1)], [])) == []
    assert fake.requests == []


def test_a_proxy_for_a_window_is_read_by_time_range_one_request_per_page(fake, connect) -> None:
    from datetime import UTC, datetime, timedelta

    start = datetime(2026, 3, 1, tzinfo=UTC)
    end = start + timedelta(hours=1)
    inside = [Score(tid(i), "heuristic", i / 250, updated_at=start + timedelta(seconds=10 * i)) for i in range(250)]
    outside = [
        Score(tid(900), "heuristic", 1.0, updated_at=end),  # toTimestamp is exclusive
        Score(tid(901), "heuristic", 1.0, updated_at=start - timedelta(seconds=1)),
        Score(tid(3), "other", 5.0, updated_at=start + timedelta(seconds=5)),
    ]
    fake.add_scores([*inside, *outside])
    before = fake.count_requests("/api/public/v3/scores")
    got = connect().score_source().scores_between("heuristic", start, end)
    assert got == {s.trace_id: s.value for s in inside}
    assert fake.count_requests("/api/public/v3/scores") - before == 3  # 250 scores, pages of 100


def _label(name: str = "correct_human", kind: str = "boolean", **extra):
    from tracestrata.protocols import HumanLabel, LabelKind

    return HumanLabel(name, LabelKind(kind), **extra)


def test_a_label_set_in_an_annotation_queue_is_read_back_and_the_newest_wins(fake, connect) -> None:
    from datetime import UTC, datetime, timedelta

    from tracestrata.protocols import SinkKind

    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    connector = connect()
    connector.ensure_labels([_label()])
    connector.sample_sink(SinkKind.QUEUE, "review").queue_id  # the queue sync creates on its first write
    fake.add_scores([Score(tid(1), "correct_human", True, updated_at=t0)])  # an API score, older
    fake.add_scores(
        [Score(tid(1), "correct_human", False, updated_at=t0 + timedelta(minutes=1)),
         Score(tid(2), "correct_human", True, updated_at=t0)],
        source="ANNOTATION", queue_name="review", author="reviewer-1",
    )
    fake.add_scores([Score(tid(2), "correct_human", False, updated_at=t0 - timedelta(minutes=1))])  # older API
    got = {s.trace_id: s.value for s in connector.score_source().get_scores([tid(1), tid(2)], ["correct_human"])}
    assert got == {tid(1): False, tid(2): True}
    requests = [q for m, p, q in fake.requests if p == "/api/public/v3/scores"]
    assert all("source" not in q for q in requests)  # every source: API, EVAL and ANNOTATION
    # what the fake stored is what the server would: the reviewer's score names its queue and config
    queue = next(q for q in fake.queues() if q["name"] == "review")
    (config,) = [c for c in fake.score_configs() if c["id"] in queue["scoreConfigIds"]]
    assert config["name"] == "correct_human"
    annotated = [r for r in fake._scores if r["source"] == "ANNOTATION"]
    assert {(r["queueId"], r["configId"], r["authorUserId"]) for r in annotated} == {(queue["id"], config["id"], "reviewer-1")}


def test_the_queues_score_configs_match_the_declared_labels(fake, connect) -> None:
    from tracestrata.protocols import SinkKind

    labels = [
        _label(),
        _label("verdict_human", "categorical", values=(("pass", 2.0), ("minor", 1.0), ("fail", 0.0))),
        _label("quality_human", "continuous", lower=1.0, upper=5.0, description="1 (bad) to 5 (great)"),
    ]
    connector = connect()
    assert connector.ensure_labels(labels) == ["correct_human", "verdict_human", "quality_human"]
    assert connect().ensure_labels(labels) == []  # present: nothing created again
    sink = connector.sample_sink(SinkKind.QUEUE, "review-labels")
    sink.queue_id
    assert sink.score_config_names() == ["correct_human", "verdict_human", "quality_human"]
    by_name = {c["name"]: c for c in fake.score_configs()}
    assert by_name["correct_human"]["dataType"] == "BOOLEAN"
    assert by_name["verdict_human"]["dataType"] == "CATEGORICAL"
    assert [(c["label"], c["value"]) for c in by_name["verdict_human"]["categories"]] == [
        ("pass", 2.0), ("minor", 1.0), ("fail", 0.0)]
    quality = by_name["quality_human"]
    assert (quality["dataType"], quality["minValue"], quality["maxValue"]) == ("NUMERIC", 1.0, 5.0)
    assert quality["description"] == "1 (bad) to 5 (great)"
