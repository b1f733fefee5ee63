"""Sample traces in one streaming pass: from records, from columns, or from a source's column batches.

Each entry point feeds one `Sketch` (`tracestrata.sampling.sketch`, which explains the
design) and asks it for the result.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime

from tracestrata.protocols import ColumnBatch
from tracestrata.record import TraceRecord
from tracestrata.columns import Column, picker
from tracestrata.policy.model import Policy
from tracestrata.sampling.sample_result import SampleResult
from tracestrata.sampling.record_batches import record_batches
from tracestrata.sampling.sketch import Sketch


def sample_records(
    records: Iterable[TraceRecord],
    policy: Policy,
    *,
    boost_collected: Mapping[str, int] | None = None,
) -> SampleResult:
    """Sample an iterable of records in one streaming pass (memory bounded by the targets)."""
    return _sample(record_batches(records, policy.fields()), policy, boost_collected)


def sample_columns(
    ids: Sequence[str],
    columns: Mapping[str, Column],
    policy: Policy,
    *,
    boost_collected: Mapping[str, int] | None = None,
    records: Sequence[TraceRecord] | None = None,
    records_of: Callable[[list[int]], list[TraceRecord]] | None = None,
    batch_size: int = 1 << 20,
) -> SampleResult:
    """In-memory columnar sampling: `columns[path]` for every path in `policy.fields()`.

    Columns are lists of JSON-like values (normalized like `TraceRecord.from_json`)
    or numpy arrays (NaN in a float array means missing). `records[i]`, if given,
    is row i's record; `records_of(rows)`, if given, makes the records of a cell's
    selected rows in one call; otherwise each selected trace carries a stub record
    holding only its id. Same sample as `sample_records` on the same traces.
    """
    sketch = Sketch(policy, boost_collected=boost_collected)
    for start in range(0, len(ids), batch_size):
        stop = min(len(ids), start + batch_size)
        if start == 0 and stop == len(ids):
            sketch.add_columns(ids, columns, range(stop))
        else:
            part = {path: columns[path][start:stop] for path in sketch.fields}
            sketch.add_columns(ids[start:stop], part, range(start, stop))
    if records is not None:
        return sketch.result(records.__getitem__)
    if records_of is not None:
        return sketch.result_of_many(records_of)  # type: ignore[arg-type]  # the payloads are row numbers
    pick_ids = picker(ids)
    return sketch.result_of_many(lambda rows: _stub_records(list(map(str, pick_ids(rows)))))  # type: ignore[arg-type]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _stub_records(ids: list[str]) -> list[TraceRecord]:
    """The records `sample_columns` returns when it was given no records: the id only."""
    return [TraceRecord(id=i, timestamp=_EPOCH) for i in ids]


def sample_column_batches(
    batches: Iterable[ColumnBatch],
    policy: Policy,
    *,
    boost_collected: Mapping[str, int] | None = None,
    progress: Callable[[ColumnBatch], None] | None = None,
) -> SampleResult:
    """The CLI's path: a source already extracted the policy's fields (`policy.fields()`)."""
    return _sample(batches, policy, boost_collected, progress, pause_gc=True)


def _sample(
    batches: Iterable[ColumnBatch],
    policy: Policy,
    boost_collected: Mapping[str, int] | None,
    progress: Callable[[ColumnBatch], None] | None = None,
    *,
    pause_gc: bool = False,
) -> SampleResult:
    sketch = Sketch(policy, boost_collected=boost_collected)
    with gc_paused() if pause_gc else contextlib.nullcontext():
        sketch.add_column_batches(batches, progress=progress)
    return sketch.result()  # the batches' records (`add_column_batches` keeps their function)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while decoding: decoded JSON holds no cycles, and
    collections triggered by millions of fresh dicts cost ~40% of the parse time (measured)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


__all__ = ["gc_paused", "sample_column_batches", "sample_columns", "sample_records"]
