"""`Sketch.to_state` / `from_state`: plain data that round-trips, and whose merge is the union."""

import pickle
import random
from datetime import UTC, datetime

import msgspec
import orjson
import pytest
from builders import make_policy, summarize

from tracestrata.record import TraceRecord
from tracestrata.sampling.sketch import Sketch
from tracestrata.sampling.samplers import sample_records

T0 = datetime(2026, 1, 1, tzinfo=UTC)
INTENTS = ["billing", "refund", "compliance", "tech", "zürich-ß", None]


def records(n, seed=3):
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        metadata = {"refusal": rnd.random() < 0.1}
        intent = rnd.choice(INTENTS)
        if intent is not None:
            metadata["intent"] = intent
        latency = rnd.choice([None, 5.0, 100.0, 999.9, 1000.0, 4000.0])
        status = "error" if rnd.random() < 0.1 else "ok"
        out.append(TraceRecord(id=f"τ-{i:04d}", timestamp=T0, status=status, latency_ms=latency, metadata=metadata))
    return out


def sketch_of(policy, part):
    sketch = Sketch(policy)
    rows = [r.to_json() for r in part]
    sketch.add_raw(rows, [orjson.dumps(row) for row in rows])
    return sketch


def through_the_wire(sketch):
    """What a Spark executor sends: the state as MessagePack bytes (no pickle)."""
    return msgspec.msgpack.decode(msgspec.msgpack.encode(sketch.to_state()))


def from_bytes(payload):
    return TraceRecord.from_json(orjson.loads(payload))


@pytest.mark.parametrize("parts", [1, 2, 5])
def test_states_of_parts_merge_into_the_sample_of_the_union(parts):
    policy = make_policy(target=5, top=3, collect=6)
    traces = records(600)
    rnd = random.Random(parts)
    split = [[] for _ in range(parts)]
    for record in traces:
        split[rnd.randrange(parts)].append(record)
    states = [through_the_wire(sketch_of(policy, part)) for part in split]
    merged = Sketch.from_state(policy, states[0])
    for state in states[1:]:
        merged = merged.merge(Sketch.from_state(policy, state))
    whole = sample_records(traces, policy)
    result = merged.result(from_bytes)
    assert summarize(result) == summarize(whole)
    assert result.cells == whole.cells and result.boost_collected == whole.boost_collected
    assert result.population == whole.population == len(traces)
    assert [s.record for s in result.selected] == [s.record for s in whole.selected]


def test_round_trip_keeps_every_group_exactly():
    policy = make_policy()
    sketch = sketch_of(policy, records(300))
    again = Sketch.from_state(policy, through_the_wire(sketch))
    assert again.to_state() == sketch.to_state()
    assert pickle.loads(pickle.dumps(sketch)).to_state() == sketch.to_state()


def test_a_restored_sketch_keeps_sampling():
    policy = make_policy()
    traces = records(400)
    first = Sketch.from_state(policy, through_the_wire(sketch_of(policy, traces[:150])))
    rows = [r.to_json() for r in traces[150:]]
    first.add_raw(rows, [orjson.dumps(row) for row in rows])
    assert summarize(first.result(from_bytes)) == summarize(sample_records(traces, policy))


def test_a_state_of_another_policy_or_format_is_refused():
    state = sketch_of(make_policy(target=3), records(50)).to_state()
    with pytest.raises(ValueError, match="another policy"):
        Sketch.from_state(make_policy(target=4), state)
    with pytest.raises(ValueError, match="format"):
        Sketch.from_state(make_policy(target=3), {**state, "format": 99})
