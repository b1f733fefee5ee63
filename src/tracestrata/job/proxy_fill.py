"""Fill a proxy score on every trace of a window before it is sampled (`[scores] proxy`).

The sampler records proxy totals over *all* traces of each cell, so the proxy must be
on every trace as it streams past. A score source that can list a score name by time
range (`ScoresBetween`: Langfuse, one request per page) is read once for the window,
from its start to its end plus the settle lag (an online evaluator scores a trace after
it ran); any other (Phoenix) is asked by trace ids, a batch of traces at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import timedelta

from tracestrata.protocols import ScoreSource, ScoresBetween, TraceSource, Window, iter_chunks
from tracestrata.record import ScoreValue, TraceRecord

BATCH = 500


class ProxyFilledSource:
    """A `TraceSource` whose records carry `scores[name]` from the score source, when it has one."""

    def __init__(self, source: TraceSource, scores: ScoreSource, name: str, *, settle: timedelta) -> None:
        self.source = source
        self.scores = scores
        self.name = name
        self.settle = settle

    def iter_traces(self, window: Window, *, metadata_keys: Sequence[str] = ()) -> Iterator[TraceRecord]:
        records = self.source.iter_traces(window, metadata_keys=metadata_keys)
        if isinstance(self.scores, ScoresBetween):
            values = self.scores.scores_between(self.name, window.start, window.end + self.settle)
            for record in records:
                yield _with(record, self.name, values.get(record.id))
            return
        for chunk in iter_chunks(records, BATCH):
            found = {s.trace_id: s.value for s in self.scores.get_scores([r.id for r in chunk], [self.name])}
            for record in chunk:
                yield _with(record, self.name, found.get(record.id))


def _with(record: TraceRecord, name: str, value: ScoreValue | None) -> TraceRecord:
    if value is None or record.scores.get(name) == value:
        return record
    return replace(record, scores={**record.scores, name: value})


__all__ = ["ProxyFilledSource"]
