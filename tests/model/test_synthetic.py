from collections import Counter
from datetime import UTC, datetime

from tracestrata.synthetic import generate_traces, is_failure, judge, population_truth

START = datetime(2026, 11, 23, tzinfo=UTC)
END = datetime(2026, 11, 24, tzinfo=UTC)


def test_same_seed_same_traffic_and_window_respected():
    a = list(generate_traces(500, start=START, end=END, seed=3))
    b = list(generate_traces(500, start=START, end=END, seed=3))
    assert a == b
    assert all(START <= r.timestamp < END for r in a)
    assert [r.timestamp for r in a] == sorted(r.timestamp for r in a)
    assert len({r.id for r in a}) == 500


def test_traffic_has_the_shape_the_demo_needs():
    records = list(generate_traces(40_000, start=START, end=END, seed=1))
    intents = Counter(r.metadata["intent"] for r in records)
    assert 0.003 < intents["compliance"] / len(records) < 0.008
    failure_rate = sum(map(is_failure, records)) / len(records)
    assert 0.02 < failure_rate < 0.08
    failed = [judge(r)["correct"] for r in records if is_failure(r)]
    fine = [judge(r)["correct"] for r in records if not is_failure(r)]
    assert sum(failed) / len(failed) < 0.5 < sum(fine) / len(fine)


def test_judge_is_deterministic_and_truth_is_its_mean():
    records = list(generate_traces(300, start=START, end=END))
    assert [judge(r) for r in records] == [judge(r) for r in records]
    rate = population_truth(records, "correct")
    assert rate == sum(judge(r)["correct"] for r in records) / 300
    labels = population_truth(records, "verdict")
    assert abs(sum(labels.values()) - 1) < 1e-12
