"""What runs on a Spark executor: one partition's Arrow batches into one sketch, sent back as bytes.

Each partition of the projected DataFrame (see `tracestrata.spark.projection`) arrives
as Arrow record batches through `mapInArrow`. Its rows go into a `Sketch` exactly as the
files path feeds its column batches: the same normalization of each field (`status`
null -> "ok", `tags` null -> [], ...), the same window rule (`start <= timestamp < end`),
the same hashes. Only candidates that can still enter a cell's bottom-k build their
record's JSON (the payload), so the state a partition returns is bounded by the targets,
never by the data.

The state travels as MessagePack (`Sketch.to_state`), and two states merge into the state
of the union (`merge_outcomes`), so any partitioning and any reduce tree give one sample.
A bad row (no trace id, no timestamp) does not raise on the executor: the partition
returns the reason, and the driver raises one `InputError` with it.

A trace id repeated in two partitions would be counted twice by their sketches, so the
driver first finds the ids that occur more than once (a `GROUP BY` of the ids alone,
nothing more when there are none) and where each first occurs in the window in source
order (`first_occurrences`, rows of those ids only); the partitions then drop every other
occurrence (`PartitionTask.first`). Source order is the files path's: by file name, then
by row, which `SourceOrder` reads from the file and split Spark read each row from (after
a shuffle, the DataFrame's own order, partition by partition).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import date
from decimal import Decimal
from typing import TypeAlias

import msgspec
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from tracestrata.errors import InputError
from tracestrata.protocols import Window
from tracestrata.record import EPOCH_SECONDS, STATUSES, TEXT_FIELDS, TraceRecord, format_timestamp, parse_timestamp
from tracestrata.columns import rows_not_in
from tracestrata.sampling.frames import Column, arrow_column, arrow_field_column
from tracestrata.policy.model import Policy
from tracestrata.sampling.sketch import Sketch
from tracestrata.policy.strata import normalize_top

ArrowPyValue: TypeAlias = (
    "str | int | float | bool | bytes | datetime | date | Decimal | None"
    " | list[ArrowPyValue] | tuple[str, ArrowPyValue] | dict[str, ArrowPyValue]"
)
"""A value of `pyarrow`'s `to_pylist()`: a struct as a dict, a map as a list of (key, value) pairs."""

ID = "id"
TIMESTAMP = "timestamp"
RECORD_PREFIX = "record_"  # a record field's column, kept for the selected traces' JSON
FILE, BLOCK = "source_file", "source_block"  # where a row was read (`project(..., source_order=True)`)
STATE_SCHEMA = "state binary, error string"
FIRST_SCHEMA = "id string, file string, block long, part long, pos long, task long"
_MICROS = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PartitionTask:
    """Everything a partition needs (pickled once per task by Spark)."""

    policy: Policy
    window: Window | None
    boost_collected: dict[str, int]
    first: dict[str, Position] | None = None  # a repeated id -> where it first occurs in the window


Position = tuple[str, int, int, int, int]  # (file, split start, partition, row, partition): ordered as the source is


class SourceOrder:
    """The position of each row of one partition in source order, batch after batch.

    A file split reaches one partition whole and in order, so (file, split start, row
    within the split) orders rows as reading the files one after the other does, whatever
    the partitioning. Rows not read from a file (after a shuffle: file "", split -1) are
    ordered by partition, then row. The partition comes last too: a DataFrame holding the
    same file's rows twice (`df.union(df)`) has two rows at one place of the file, and the
    partition tells them apart.
    """

    def __init__(self, partition: int) -> None:
        self.partition = partition
        self._last: tuple[str, int] | None = None
        self._count = 0

    def rows(self, batch: pa.RecordBatch) -> np.ndarray:
        """Each row's number within its split (the batch's rows continue the previous batch's)."""
        n = batch.num_rows
        if n == 0:
            return np.empty(0, dtype=np.int64)
        files, blocks = batch.column(FILE), batch.column(BLOCK)
        change = np.ones(n, dtype=bool)
        if n > 1:
            change[1:] = pc.fill_null(
                pc.or_(pc.not_equal(files[1:], files[:-1]), pc.not_equal(blocks[1:], blocks[:-1])), True
            ).to_numpy(zero_copy_only=False)
        change[0] = self._last != (files[0].as_py(), blocks[0].as_py())
        index = np.arange(n, dtype=np.int64)
        start = np.maximum.accumulate(np.where(change, index, 0))
        rows = index - start
        if not change[0]:
            rows[start == 0] += self._count
        self._last, self._count = (files[-1].as_py(), blocks[-1].as_py()), int(rows[-1]) + 1
        return rows

    def position(self, batch: pa.RecordBatch, rows: np.ndarray, i: int) -> Position:
        file, block = batch.column(FILE)[i].as_py() or "", batch.column(BLOCK)[i].as_py()
        block = -1 if block is None else int(block)
        return (file, block, 0 if file else self.partition, int(rows[i]), self.partition)


def _partition_number() -> int:
    from pyspark import TaskContext

    context = TaskContext.get()
    return context.partitionId() if context is not None else 0


def first_occurrences(window: Window | None, repeated: frozenset[str], batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """`mapInArrow` function: the position of every row of a `repeated` id in the window.

    Rows that `sketch_partition` refuses (no id, no timestamp) are left to it to report.
    """
    order = SourceOrder(_partition_number())
    value_set = pa.array(sorted(repeated), type=pa.string())
    out: dict[str, list[str | int]] = {"id": [], "file": [], "block": [], "part": [], "pos": [], "task": []}
    for batch in batches:
        rows = order.rows(batch)
        ids = batch.column(ID)
        if not (pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type)):
            continue
        hits = np.flatnonzero(pc.fill_null(pc.is_in(ids, value_set=value_set), False).to_numpy(zero_copy_only=False))
        if len(hits) == 0:
            continue
        picked = batch.take(pa.array(hits, type=pa.int64()))
        try:
            kept = _in_window(picked, window)
        except InputError:
            continue
        for j in np.flatnonzero(kept):
            for name, value in zip(out, (ids[int(hits[j])].as_py(), *order.position(batch, rows, int(hits[j]))), strict=True):
                out[name].append(value)
    yield pa.RecordBatch.from_pydict(out, schema=pa.schema(
        [("id", pa.string()), ("file", pa.string()), ("block", pa.int64()), ("part", pa.int64()), ("pos", pa.int64()),
         ("task", pa.int64())]
    ))


def _later_occurrences(task: PartitionTask, order: SourceOrder, batch: pa.RecordBatch) -> np.ndarray | None:
    """The rows of a repeated id other than its first occurrence in the window (None: no such row)."""
    assert task.first is not None
    rows = order.rows(batch)
    ids = batch.column(ID)
    if not (pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type)):
        return None
    value_set = pa.array(sorted(task.first), type=ids.type)
    hits = np.flatnonzero(pc.fill_null(pc.is_in(ids, value_set=value_set), False).to_numpy(zero_copy_only=False))
    drop = [int(i) for i in hits if order.position(batch, rows, int(i)) != task.first[ids[int(i)].as_py()]]
    if not drop:
        return None
    mask = np.zeros(batch.num_rows, dtype=bool)
    mask[drop] = True
    return mask


def sketch_partition(task: PartitionTask, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """`mapInArrow` function: every batch of the partition into one sketch; one row out."""
    sketch = Sketch(task.policy, boost_collected=task.boost_collected)
    fields = sketch.fields
    order = SourceOrder(_partition_number()) if task.first else None
    error = None
    try:
        for batch in batches:
            later = _later_occurrences(task, order, batch) if order is not None else None
            batch = _kept_rows(batch, task.window, drop=later)
            if batch.num_rows == 0:
                continue
            ids = arrow_column(batch.column(ID))
            columns = {path: core_column(path, batch.column(field_column(i))) for i, path in enumerate(fields)}
            status = columns.get("status")
            if status is None and RECORD_PREFIX + "status" in batch.schema.names:  # checked if the policy reads it or not
                status = core_column("status", batch.column(RECORD_PREFIX + "status"))
            if status is not None and (wrong := rows_not_in(status, STATUSES)) is not None:
                row = int(np.argmax(wrong))
                got = status[row]
                raise InputError(f"trace {ids[row]!r}: expected 'ok' or 'error', got {got!r}", field="status")
            sketch.add_columns(ids, columns, RecordRows(batch))
    except InputError as exc:
        error = str(exc)
    state = None if error else encode_state(sketch)
    yield pa.RecordBatch.from_pydict(
        {"state": [state], "error": [error]}, schema=pa.schema([("state", pa.binary()), ("error", pa.string())])
    )


def field_column(index: int) -> str:
    """The projection's name of the policy's field number `index` (names without dots: Spark
    would read a dot as a struct access)."""
    return f"field_{index}"


def encode_state(sketch: Sketch) -> bytes:
    return msgspec.msgpack.encode(sketch.to_state())


def decode_state(policy: Policy, state: bytes) -> Sketch:
    return Sketch.from_state(policy, msgspec.msgpack.decode(state))


Outcome = tuple[bytes | None, str | None]  # (encoded sketch state, error)


def merge_outcomes(policy: Policy, a: Outcome, b: Outcome) -> Outcome:
    """Two partitions' outcomes as one: the merged state, or the first error."""
    if a[1] is not None:
        return a
    if b[1] is not None:
        return b
    if a[0] is None or b[0] is None:  # pragma: no cover - a state is None only with an error
        return a if b[0] is None else b
    return encode_state(decode_state(policy, a[0]).merge(decode_state(policy, b[0]))), None


def record_of(payload: bytes) -> TraceRecord:
    """A selected trace's record from its payload (the record's JSON)."""
    return TraceRecord.from_json(orjson.loads(payload))


# ---------------------------------------------------------------- columns


def core_column(path: str, array: pa.Array | pa.ChunkedArray) -> Column | list[ArrowPyValue]:
    """An Arrow column of field `path` as the core reads it, normalized like `TraceRecord.from_json`."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    head = path.partition(".")[0]
    text = pa.types.is_string(array.type) or pa.types.is_large_string(array.type)
    if head == "status" and text:
        return arrow_field_column(_or_default(array, "ok"))
    if path == "source.backend" and text:
        return arrow_field_column(_or_default(array, "files"))
    if head == "source" and path == "source.backend":
        return ["files" if v in (None, "") else str(v) for v in array.to_pylist()]
    if head in ("status", "tags") or (head in TEXT_FIELDS and not text):
        return normalize_top(head, array.to_pylist())
    return arrow_field_column(array)


def _or_default(array: pa.Array, default: str) -> pa.Array:
    """Null or empty text -> `default` (what `value or default` gives in Python)."""
    empty = pc.fill_null(pc.equal(array, ""), True)
    return pc.if_else(empty, pa.scalar(default, array.type), array)


# ---------------------------------------------------------------- rows: checks and window


def _kept_rows(batch: pa.RecordBatch, window: Window | None, *, drop: np.ndarray | None = None) -> pa.RecordBatch:
    """The batch without the rows outside the window (nor those of `drop`); `InputError` for a
    row without id or timestamp."""
    ids = batch.column(ID)
    if not (pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type)):
        raise InputError(f"the trace id column must hold strings, it holds {ids.type}", field=ID)
    missing = pc.or_kleene(pc.is_null(ids), pc.fill_null(pc.equal(ids, ""), False))
    if pc.any(missing).as_py():
        raise InputError(f"{pc.sum(missing.cast(pa.int64())).as_py()} rows have no trace id (null or empty)", field=ID)
    stamps = batch.column(TIMESTAMP)
    if stamps.null_count:
        first = ids.filter(pc.is_null(stamps))[0].as_py()
        raise InputError(f"trace {first!r}: expected an ISO 8601 timestamp (missing)", field=TIMESTAMP)
    if window is None and drop is None:
        if not (pa.types.is_timestamp(stamps.type) or pa.types.is_date(stamps.type)):
            # read as the files path reads every line, window or not: epoch milliseconds and
            # text it refuses (a time zone name, "... UTC") are refused here too
            epoch_micros(stamps, ids)
        return batch
    keep = _in_window(batch, window)
    if drop is not None:
        keep &= ~drop
    return batch if keep.all() else batch.filter(pa.array(keep))


def _in_window(batch: pa.RecordBatch, window: Window | None) -> np.ndarray:
    """Which rows have `window.start <= timestamp < window.end` (all, without a window)."""
    if window is None:
        return np.ones(batch.num_rows, dtype=bool)
    micros = epoch_micros(batch.column(TIMESTAMP), batch.column(ID))
    return (micros >= _micros(window.start)) & (micros < _micros(window.end))


def epoch_micros(stamps: pa.Array, ids: pa.Array) -> np.ndarray:
    """Each timestamp as microseconds since the epoch (UTC; naive means UTC, numbers are seconds)."""
    kind = stamps.type
    if pa.types.is_timestamp(kind):
        return pc.cast(stamps, pa.timestamp("us", kind.tz), safe=False).view(pa.int64()).to_numpy(zero_copy_only=False)
    if pa.types.is_date(kind):
        return pc.cast(stamps, pa.timestamp("us")).view(pa.int64()).to_numpy(zero_copy_only=False)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        seconds = stamps.cast(pa.float64()).to_numpy(zero_copy_only=False)
        wrong = ~((seconds >= EPOCH_SECONDS[0]) & (seconds < EPOCH_SECONDS[1]))
        if wrong.any():
            row = int(np.argmax(wrong))
            raise InputError(
                f"trace {ids[row].as_py()!r}: expected epoch seconds in the years 1-9999, got {stamps[row].as_py()!r} "
                "(milliseconds?)", field=TIMESTAMP,
            )
        return np.round(seconds * _MICROS).astype(np.int64)
    out = np.empty(len(stamps), dtype=np.int64)
    for i, value in enumerate(stamps.to_pylist()):
        try:
            out[i] = _micros(parse_timestamp(value))
        except (TypeError, ValueError, OverflowError):
            raise InputError(
                f"trace {ids[i].as_py()!r}: expected an ISO 8601 timestamp, got {value!r}", field=TIMESTAMP
            ) from None
    return out


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


# ---------------------------------------------------------------- payloads


class RecordRows(Sequence[bytes]):
    """The payloads of a batch: row i's record JSON, built only for the rows the sketch keeps.

    `pick(rows)` builds them in one Arrow `take`; the sketch calls it with the candidates
    of each batch only.
    """

    def __init__(self, batch: pa.RecordBatch) -> None:
        self.batch = batch
        self.names = [n for n in batch.schema.names if n.startswith(RECORD_PREFIX)]

    def __len__(self) -> int:
        return self.batch.num_rows

    def __getitem__(self, i: int | slice) -> bytes | list[bytes]:  # type: ignore[override]
        if isinstance(i, slice):  # pragma: no cover - the sketch picks rows, never slices
            return self.pick(list(range(len(self)))[i])
        return self.pick([i])[0]

    def pick(self, rows: Sequence[int]) -> list[bytes]:
        if not rows:
            return []
        picked = self.batch.select([ID, TIMESTAMP, *self.names]).take(pa.array(rows, type=pa.int64()))
        return [record_json(row) for row in picked.to_pylist()]


def record_json(row: dict[str, ArrowPyValue]) -> bytes:
    """One row's record JSON (validated as `TraceRecord.from_json` does); nulls are left out."""
    data: dict[str, ArrowPyValue] = {}
    for name, value in row.items():
        if isinstance(value, str) and name.removeprefix(RECORD_PREFIX) in ("metadata", "scores", "tags"):
            try:  # JSON text, as exports without a nested schema carry it
                value = orjson.loads(value)
            except orjson.JSONDecodeError:
                pass  # left as text: `TraceRecord.from_json` says what is wrong with it
        value = _plain(value)
        if value is not None:
            data[name.removeprefix(RECORD_PREFIX)] = value
    data[ID], data[TIMESTAMP] = row[ID], _stamp(row[TIMESTAMP])
    return orjson.dumps(TraceRecord.from_json(data).to_json())


def _stamp(value: ArrowPyValue) -> ArrowPyValue:
    return format_timestamp(value) if isinstance(value, datetime) else value


def _plain(value: ArrowPyValue) -> ArrowPyValue:
    """Arrow's Python values as JSON: a map (list of pairs) or struct as an object without nulls."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        if value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
            return {k: _plain(v) for k, v in value if v is not None}
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return format_timestamp(value)
    return value


__all__ = [
    "BLOCK",
    "FILE",
    "FIRST_SCHEMA",
    "STATE_SCHEMA",
    "Position",
    "SourceOrder",
    "first_occurrences",
    "PartitionTask",
    "core_column",
    "decode_state",
    "encode_state",
    "merge_outcomes",
    "record_of",
    "sketch_partition",
]
