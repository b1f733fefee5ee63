"""`plan_window`, the pure half of planning a sync window: no state store, the same plan every time."""

from datetime import UTC, datetime, timedelta

from builders import policy_data

from tracestrata.job.window_plan import plan_window, run_id_for
from tracestrata.protocols import SinkKind, Window
from tracestrata.policy.parse import parse_policy
from tracestrata.sampling.samplers import sample_records
from tracestrata.synthetic import generate_traces

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = Window(T0, T0 + timedelta(days=1))
SINKS = [(SinkKind.DATASET, "d"), (SinkKind.QUEUE, "q")]


def plan(policy, result):
    return plan_window(result, WINDOW, policy, source="src", series=2, new_series=False, sinks=SINKS, share=None)


def test_the_plan_holds_every_sampled_trace_once_per_sink_and_the_same_ids_every_time():
    policy = parse_policy(policy_data("wp", default=20), source="test")
    result = sample_records(generate_traces(2000, start=WINDOW.start, end=WINDOW.end, seed=3), policy)
    first, again = plan(policy, result), plan(policy, result)
    assert first == again and first.row.run_id == run_id_for("src", WINDOW, policy.digest)
    assert first.population == result.population == first.row.counts["traces"] == 2000
    assert [t for t, _, _ in first.sampled] == [p.record.id for p in result.selected]
    assert len(first.items) == 2 * len(result.selected) and len({i.item_id for i in first.items}) == len(first.items)
    assert first.row.counts["selected"] == len(result.selected) and first.row.series == 2


def test_with_review_the_queue_gets_the_review_subsample_first_in_draw_order():
    policy = parse_policy({**policy_data("wp", default=20), "review": {"target": 3}}, source="test")
    result = sample_records(generate_traces(2000, start=WINDOW.start, end=WINDOW.end, seed=3), policy)
    items = plan(policy, result).items
    queue = [i for i in items if i.sink_kind == SinkKind.QUEUE.value]
    assert queue and {i.trace_id for i in queue} == {p.record.id for p in result.selected if p.review}
    assert items[: len(queue)] == queue
