"""TraceRecords as column batches: how records reach the sketch (`Sketch.add_records`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from operator import attrgetter

from tracestrata.protocols import iter_chunks
from tracestrata.record import TraceRecord
from tracestrata.columns import Column
from tracestrata.policy.strata import record_column

_RECORD_ID = attrgetter("id")
BATCH_SIZE = 65_536


@dataclass(frozen=True, slots=True)
class RecordBatch:
    """A chunk of TraceRecords as a `ColumnBatch`: the payloads are the records themselves."""

    ids: list[str]
    columns: dict[str, Column]
    refs: list[TraceRecord]

    @staticmethod
    def record(ref: TraceRecord) -> TraceRecord:
        """The payload is the record (a plain function: the sketch keeps it, never the batch)."""
        return ref


def record_batches(
    records: Iterable[TraceRecord], fields: Sequence[str], batch_size: int = BATCH_SIZE
) -> Iterator[RecordBatch]:
    """`records` in batches of the columns `fields` names."""
    for chunk in iter_chunks(records, batch_size):
        yield RecordBatch(list(map(_RECORD_ID, chunk)), {path: record_column(chunk, path) for path in fields}, chunk)


__all__ = ["BATCH_SIZE", "RecordBatch", "record_batches"]
