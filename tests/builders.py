"""Builders shared by the tests: policies, records on disk, sample summaries, record strategies."""

from collections import defaultdict

import orjson
from hypothesis import strategies as st

from tracestrata.design import CellKind
from tracestrata.sampling.policy import parse_policy


def make_policy(target=6, multiplier=4.0, top=3, collect=4, overrides=None):
    return parse_policy(
        {
            "seed": "prop",
            "strata": [{"field": "metadata.intent", "top": top}, {"field": "latency_ms", "edges": [100, 1000]}],
            "targets": {"default": target, "overrides": overrides or {"compliance | *": target + 3}},
            "failure": {
                "multiplier": multiplier,
                "signals": [
                    {"name": "error", "field": "status", "equals": "error"},
                    {"name": "refusal", "field": "metadata.refusal", "equals": True},
                ],
            },
            "boost": [{"name": "refunds", "field": "metadata.intent", "equals": "refund", "collect": collect}],
        },
        source="test",
    )


def summarize(result):
    """{(stratum labels, kind): (population, sorted picked ids)} from a SampleResult."""
    picked = defaultdict(list)
    for s in result.selected:
        picked[s.cell].append(s.record.id)
    out = {}
    for cell in result.cells:
        labels = tuple(cell.values.values())
        kind = ("boost", cell.id.split(":", 1)[1]) if cell.kind is CellKind.BOOST else cell.kind.value
        out[(labels, kind)] = (cell.population, sorted(picked[cell.id]))
        assert len(picked[cell.id]) == cell.sampled
    return out


def write_jsonl(path, records, extra=None):
    lines = [orjson.dumps(r.to_json()) for r in records]
    for index, line in sorted((extra or {}).items()):
        lines.insert(index, line)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


PATHS = [
    "name",
    "status",
    "tags",
    "release",
    "version",
    "user_id",
    "session_id",
    "latency_ms",
    "cost",
    "metadata.intent",
    "metadata.deep.key",
    "scores.user_feedback",
    "source.backend",
    "source.project",
]


record_values = st.fixed_dictionaries(
    {
        "name": st.none() | st.text(max_size=5) | st.integers(-(10**9), 10**9),
        "status": st.sampled_from([None, "ok", "error", ""]),
        "latency_ms": st.none() | st.floats(allow_nan=False, allow_infinity=False) | st.integers(-5, 5),
        "tags": st.none() | st.lists(st.text(max_size=3), max_size=3),
        "metadata": st.none()
        | st.dictionaries(
            st.sampled_from(["intent", "deep"]),
            st.none()
            | st.booleans()
            | st.text(max_size=3)
            | st.fixed_dictionaries({"key": st.integers(-(10**9), 10**9)}),
        ),
        "scores": st.none() | st.dictionaries(st.just("user_feedback"), st.floats(0, 1) | st.booleans()),
        "release": st.none() | st.text(max_size=3),
        "source": st.none()
        | st.just("phoenix")
        | st.fixed_dictionaries({"backend": st.just("x"), "project": st.none() | st.just("p")}),
    }
)
