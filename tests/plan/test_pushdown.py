"""Pushdown counting must agree with counting the pulled records, or refuse with a reason."""

from collections import Counter
from datetime import UTC, datetime

import pytest

from tracestrata.protocols import Window
from tracestrata.record import TraceRecord
from tracestrata.sampling.counting import count_strata
from tracestrata.policy.parse import parse_policy
from tracestrata.plan.pushdown import CountUnavailable, count_strata_pushdown
from tracestrata.policy.strata import record_getter
from tracestrata.synthetic import generate_traces

WINDOW = Window(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC))
RECORDS = list(generate_traces(3000, start=WINDOW.start, end=WINDOW.end, seed=5))


class EqualityCounter:
    """Counts by string equality over records, like a backend's filter; counts its queries."""

    def __init__(self, records, groupable=("release", "version", "name")):
        self.records = records
        self.groupable = groupable
        self.queries = 0

    def _value(self, record, field):
        value = record_getter(field)(record)
        return None if value is None else str(value)

    def count(self, window, where):
        self.queries += 1
        return sum(
            1
            for r in self.records
            if window.contains(r.timestamp) and all(self._value(r, f) == v for f, v in where.items())
        )


class GroupingCounter(EqualityCounter):
    def count_by(self, request):
        window, field = request.window, request.by
        if field not in self.groupable:
            raise NotImplementedError(f"cannot group by {field}")
        self.queries += 1
        counts = Counter(self._value(r, field) or "(missing)" for r in self.records if window.contains(r.timestamp))
        return dict(counts)


def policy(strata, **extra):
    return parse_policy({"seed": "s", "strata": strata, **extra}, source="test")


def by_key(counts):
    return {c.stratum: c.population for c in counts}


def test_listed_values_count_exactly_and_the_rest_goes_to_other():
    pol = policy([{"field": "metadata.intent", "values": ["billing", "compliance", "refund"]}])
    counter = EqualityCounter(RECORDS)
    pushed = by_key(count_strata_pushdown(counter, WINDOW, pol))
    pulled = by_key(count_strata(RECORDS, pol, raw=False))
    assert pushed == pulled
    assert counter.queries == 4  # the total + one per value


def test_grouped_top_folds_like_the_sampler():
    pol = policy([{"field": "version", "top": 1}])
    counter = GroupingCounter(RECORDS)
    assert by_key(count_strata_pushdown(counter, WINDOW, pol)) == by_key(count_strata(RECORDS, pol, raw=False))
    assert counter.queries == 2  # the total + one grouped query


def test_crossed_dimensions_grouped_and_listed():
    pol = policy([{"field": "release"}, {"field": "metadata.intent", "values": ["compliance", "tech"]}])
    counts = by_key(count_strata_pushdown(GroupingCounter(RECORDS), WINDOW, pol))
    pulled = by_key(count_strata(RECORDS, pol, raw=False))
    for key, n in counts.items():
        if "(other)" not in key:
            assert pulled[key] == n
    assert sum(counts.values()) == len(RECORDS)


def test_no_dimension_is_one_stratum():
    assert by_key(count_strata_pushdown(EqualityCounter(RECORDS), WINDOW, policy([]))) == {"(all)": 3000}


@pytest.mark.parametrize(
    ("strata", "reason"),
    [
        ([{"field": "latency_ms", "edges": [1000]}], "edges"),
        ([{"field": "metadata.intent", "top": 3}], "values"),
    ],
)
def test_what_cannot_be_pushed_down_says_why(strata, reason):
    with pytest.raises(CountUnavailable, match=reason):
        count_strata_pushdown(GroupingCounter(RECORDS), WINDOW, policy(strata))


def test_backend_refusal_becomes_count_unavailable():
    class Refusing(EqualityCounter):
        def count(self, window, where):
            raise NotImplementedError("metadata keys cannot be filtered")

    with pytest.raises(CountUnavailable, match="metadata keys"):
        count_strata_pushdown(Refusing(RECORDS), WINDOW, policy([{"field": "metadata.intent", "values": ["a"]}]))


def test_too_many_combinations_is_refused_before_any_count():
    pol = policy([{"field": "user_id", "values": [f"u{i}" for i in range(30)]},
                  {"field": "session_id", "values": [f"s{i}" for i in range(30)]}])
    counter = EqualityCounter([TraceRecord(id="x", timestamp=WINDOW.start)])
    with pytest.raises(CountUnavailable, match="900 value combinations"):
        count_strata_pushdown(counter, WINDOW, pol)
    assert counter.queries == 1


class BatchingCounter(EqualityCounter):
    """A backend that answers several count requests in one round trip (`CountsMany`)."""

    def count_many(self, requests):
        self.queries += 1
        return [sum(1 for r in self.records if request.window.contains(r.timestamp)
                    and all(self._value(r, f) == v for f, v in request.where.items())) for request in requests]


def test_a_backend_that_counts_many_at_once_is_found_by_its_protocol():
    from tracestrata.protocols import CountsByField, CountsMany

    pol = policy([{"field": "metadata.intent", "values": ["billing", "compliance", "refund"]}])
    one_by_one, batching = EqualityCounter(RECORDS), BatchingCounter(RECORDS)
    assert not isinstance(one_by_one, CountsMany) and isinstance(batching, CountsMany)
    assert not isinstance(batching, CountsByField) and isinstance(GroupingCounter(RECORDS), CountsByField)
    assert by_key(count_strata_pushdown(batching, WINDOW, pol)) == by_key(count_strata_pushdown(one_by_one, WINDOW, pol))
    assert batching.queries == 2 and one_by_one.queries == 4  # the total, then the values: in one request or one each
