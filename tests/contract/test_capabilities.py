"""The optional capabilities of the contract (`tracestrata.protocols`): whatever fast route a
connector's trace source declares (`ColumnSource` with `CompletesRecords`, `GroupCounter`,
`Partitioned`), sampling and counting through it give what streaming its records gives.

Runs over every harness of this folder (the `harness` fixture of `test_contract.py`); a
source that declares none of them passes trivially (it has only the streaming route).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

from test_contract import _records, _run_tag, _window, harness  # noqa: F401 (the fixture)

from tracestrata.protocols import TraceSource, Window
from tracestrata.record import TraceRecord
from tracestrata.sampling.policy import parse_policy
from tracestrata.sampling.sources import count_source, sample_source

POLICY = parse_policy(
    {
        "seed": "contract",
        "strata": [{"field": "metadata.intent"}, {"field": "latency_ms", "edges": [105, 115]}],
        "targets": {"default": 3},
        "failure": {"multiplier": 2, "signals": [{"name": "error", "field": "status", "equals": "error"}]},
    },
    source="contract",
)


class Streamed:
    """Only the records of a source: no capability but `TraceSource` (the reference route)."""

    def __init__(self, source: TraceSource) -> None:
        self.source = source

    def iter_traces(self, window: Window, *, metadata_keys: Sequence[str] = ()) -> Iterator[TraceRecord]:
        return self.source.iter_traces(window, metadata_keys=metadata_keys)


def _seeded(harness, tag: str) -> tuple[Window, TraceSource, object]:  # noqa: F811
    """The contract's traces, each with a rate field in [0, 1] (`metadata.helpful`)."""
    window = _window()
    records, _ = _records(window, tag)
    harness.seed_traces([replace(r, metadata={**r.metadata, "helpful": i % 4 / 4}) for i, r in enumerate(records)])
    conn = harness.connector()
    return window, conn.trace_source(), conn


def test_every_route_samples_as_streaming_does(harness) -> None:  # noqa: F811
    tag = _run_tag()
    window, source, conn = _seeded(harness, tag)
    try:
        fast = sample_source(source, POLICY, window, jobs=2)
        slow = sample_source(Streamed(source), POLICY, window)
    finally:
        conn.close()  # type: ignore[attr-defined]
    assert any(s.record.id.startswith(tag) for s in fast.selected)
    assert sorted(s.record.id for s in fast.selected) == sorted(s.record.id for s in slow.selected)
    by_id = {s.record.id: s.record for s in slow.selected}
    for chosen in fast.selected:  # full records, not the stand-ins a column scan carries
        assert chosen.record == by_id[chosen.record.id]


def test_every_route_counts_as_streaming_does(harness) -> None:  # noqa: F811
    tag = _run_tag()
    window, source, conn = _seeded(harness, tag)
    try:
        fast = count_source(source, POLICY, window, rate_field="metadata.helpful")
        slow = count_source(Streamed(source), POLICY, window, rate_field="metadata.helpful")
    finally:
        conn.close()  # type: ignore[attr-defined]
    assert fast == slow
    assert sum(c.population for c in fast) >= 23 and sum(c.rate_trials for c in fast) >= 23
