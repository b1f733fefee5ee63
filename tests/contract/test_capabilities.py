"""The optional capabilities of the contract (`tracestrata.protocols`): whatever fast route a
connector's trace source declares (`ColumnSource` with `CompletesRecords`, `GroupCounter`,
`Partitioned`), sampling and counting through it give what streaming its records gives.

Runs over every harness of this folder (the `harness` fixture of `test_contract.py`); a
source that declares none of them passes trivially (it has only the streaming route).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from test_contract import _records, _run_tag, _window, harness  # noqa: F401 (the fixture)

from tracestrata.protocols import ScoresBetween, TraceSource, Window
from tracestrata.record import Score, TraceRecord
from tracestrata.policy.parse import parse_policy
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


def test_scores_between_lists_what_get_scores_reads(harness) -> None:  # noqa: F811
    """A score source that lists a score name by time range (`ScoresBetween`, the proxy's fast
    route) gives each trace the value asking by trace id gives."""
    window = _window()
    tag = _run_tag()
    records, _ = _records(window, tag)
    harness.seed_traces(records[:3])
    ids = [r.id for r in records[:3]]
    now = datetime.now(UTC)
    harness.seed_scores([
        Score(ids[0], "proxy_x", 0.25, updated_at=now), Score(ids[1], "proxy_x", 0.75, updated_at=now),
        Score(ids[2], "other", 1.0, updated_at=now),
    ])
    conn = harness.connector()
    try:
        scores = conn.score_source()
        if not isinstance(scores, ScoresBetween):
            pytest.skip(f"the {conn.name} connector does not list scores by time range")
        listed = scores.scores_between("proxy_x", now - timedelta(days=1), now + timedelta(hours=1))
        by_id = {s.trace_id: s.value for s in scores.get_scores(ids, ["proxy_x"])}
    finally:
        conn.close()
    assert {k: v for k, v in listed.items() if k in ids} == by_id == {ids[0]: 0.25, ids[1]: 0.75}
