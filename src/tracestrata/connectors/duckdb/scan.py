"""The sampling scan: one DuckDB query whose Arrow batches carry the ids and the policy's fields
as the sketch reads them (`Sketch.add_column_batches`), and on Parquet where each row was read.

A text field with at most `VOCABULARY_MAX` values comes as one byte a row: its values are
listed first (`SELECT DISTINCT`, cheap on Parquet's dictionary pages) and DuckDB hands over
each row's place in that list. A value the scan meets that the list lacks (the export changed
between the two reads) stops the run with one line, never a trace moved to the missing stratum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np

from tracestrata.connectors.duckdb.arrow import SketchColumn, flags, normalized, sketch_column, strings
from tracestrata.connectors.duckdb.sql import read_errors, sql_string, window_sql
from tracestrata.errors import InputError
from tracestrata.protocols import Window
from tracestrata.record import STATUSES, TEXT_FIELDS, TraceRecord
from tracestrata.columns import DictColumn, StringColumn, rows_not_in

if TYPE_CHECKING:
    import pyarrow as pa

    from tracestrata.connectors.duckdb.relation import ExportRelation

_FEW_VALUES = 16  # a coded field with at most this many values finds those of a batch one value at a time
ROW_BITS = 40  # a row's place: file_index << 40 | file_row_number (rows per file below 2**40; files below 2**23)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NO_TIME = "expected a timestamp, ISO 8601 text or epoch seconds (missing or unreadable; epoch milliseconds are out of range)"


@dataclass(frozen=True, slots=True)
class RowStub(TraceRecord):
    """A selected trace before its record is read: its id, and where the scan read it
    (`file_index << 40 | file_row_number`), so its record is read back by row, not by id."""

    row: int = -1


class RowRefs:
    """Each row's `(file_index << 40 | file_row_number, id)`, made only for the rows picked."""

    __slots__ = ("ids", "rows")

    def __init__(self, rows: np.ndarray, ids: StringColumn) -> None:
        self.rows, self.ids = rows, ids

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[int, str]:
        return int(self.rows[i]), str(self.ids[i])

    def pick(self, rows: Sequence[int]) -> list[tuple[int, str]]:
        return list(zip(self.rows[np.asarray(rows, dtype=np.intp)].tolist(), self.ids.pick(rows), strict=True))


@dataclass(slots=True)
class ColumnBatch:
    """One Arrow batch: ids, the policy's columns, and payloads: the ids again, or on Parquet
    `(row, id)` pairs (`RowRefs`), so the selected records are read back by row."""

    ids: StringColumn
    columns: dict[str, SketchColumn]
    refs: StringColumn | RowRefs
    bytes_read: int = 0

    @staticmethod
    def record(ref: str | tuple[int, str]) -> TraceRecord:
        """A stand-in holding the id (and the row); `complete_records` reads the selected records."""
        if isinstance(ref, tuple):
            return RowStub(id=ref[1], timestamp=_EPOCH, row=ref[0])
        return TraceRecord(id=ref, timestamp=_EPOCH)


@dataclass(frozen=True, slots=True)
class Reading:
    """What a sampling scan's batches hold: the fields (the first `read` for the sketch, the rest
    only checked), each one's kind and codes (per code from 1, the value it stands for; 1 is
    missing unless it stands for a value), and whether rows carry their place."""

    fields: list[str]
    kinds: list[str]
    vocabularies: list[list[str | None] | None]
    read: int
    by_row: bool
    backend: str


def scan_query(source: ExportRelation, window: Window | None, fields: Sequence[str]) -> tuple[str, Reading]:
    """The sampling scan's SQL, and what its batches hold."""
    fields = list(dict.fromkeys(fields))
    # status is checked as the files path checks it, whether the policy reads it or not
    check_status = "status" not in fields and (source.exact_json() or source.expression("status") is not None)
    checked = [*fields, "status"] if check_status else list(fields)
    source.read_fields(checked)
    trace_id, timestamp = source.id_sql(), source.timestamp_sql()
    by_row = source.by_row()
    selects = [f"{trace_id} AS __id", f"{timestamp} IS NULL AS __no_time"]
    kinds: list[str] = []
    vocabularies: list[list[str | None] | None] = []
    with read_errors(source.location):
        for i, path in enumerate(checked):
            sql, kind = source.field_sql(path)
            raw = source.raw_status() if path == "status" else None
            vocabulary = source.vocabulary(raw or sql, path) if kind == "typed" else None
            if vocabulary is not None:  # 0: a value not listed, 1: missing, i: the value vocabulary[i - 2]
                values = "CAST([NULL" + "".join(f", {sql_string(v)}" for v in vocabulary) + "] AS VARCHAR[])"
                sql = f"CAST(coalesce(list_position({values}, {raw or sql}), 0) AS UTINYINT)"
            selects.append(f"{sql} AS __f{i}")
            kinds.append(kind)
            vocabularies.append(None if vocabulary is None else _meanings(vocabulary, raw is not None))
    if by_row:
        selects.append(f"(CAST(__file AS BIGINT) << {ROW_BITS}) | __row AS __place")
    query = (
        f"SELECT {', '.join(selects)} FROM {source.scan(rows=by_row)} "
        f"WHERE {timestamp} IS NULL OR {window_sql(timestamp, window)}"
    )
    return query, Reading(checked, kinds, vocabularies, len(fields), by_row, source.layout.backend)


def _meanings(vocabulary: list[str], status: bool) -> list[str | None]:
    """What each code from 1 stands for: missing, then the values listed (status: empty or missing is `ok`)."""
    if status:
        return ["ok", *(v or "ok" for v in vocabulary)]
    return [None, *vocabulary]


def column_batch(source: ExportRelation, batch: pa.RecordBatch, reading: Reading) -> ColumnBatch:
    """The sketch's batch of the first `reading.read` fields (the rest are only checked); a row
    without an id or a timestamp, or with a status other than ok/error, is one error (or skipped)."""
    import pyarrow as pa

    fields = reading.fields
    ids = strings(batch.column(0))
    bad = ids.lengths() == 0
    if ids.valid is not None:
        bad |= ~ids.valid
    no_time = flags(batch.column(1))
    problems = bad | no_time
    columns = {path: _field(batch, reading, i) for i, path in enumerate(fields)}
    wrong_status = None
    if "status" in fields:  # the files path refuses such a line; here too, not only when it is selected
        wrong_status = rows_not_in(columns["status"], STATUSES)
        if wrong_status is not None:
            problems = problems | wrong_status
    if problems.any():
        example, count = ids[int(np.argmax(problems))], int(problems.sum())
        if bad.any():
            source.report_bad(count, "id", "expected a non-empty string", example)
        elif no_time.any():
            source.report_bad(count, "timestamp", _NO_TIME, example)
        else:
            got = columns["status"][int(np.argmax(wrong_status))]
            source.report_bad(count, "status", f"expected 'ok' or 'error', got {got!r}", example)
        batch = batch.filter(pa.array(~problems))
        ids = strings(batch.column(0))
        columns = {path: _field(batch, reading, i) for i, path in enumerate(fields[: reading.read])}
    columns = {path: columns[path] for path in fields[: reading.read]}
    if reading.by_row:
        place = batch.column(batch.num_columns - 1)
        rows = np.frombuffer(place.buffers()[1], dtype=np.int64, count=len(place), offset=place.offset * 8)
        return ColumnBatch(ids, columns, RowRefs(rows, ids))
    return ColumnBatch(ids, columns, ids)


def _field(batch: pa.RecordBatch, reading: Reading, i: int) -> SketchColumn:
    """Field i of a batch as the sketch reads it: its codes, or its Arrow column normalized."""
    vocabulary, path = reading.vocabularies[i], reading.fields[i]
    array = batch.column(i + 2)
    if vocabulary is None:
        return sketch_column(path, array, reading.kinds[i], reading.backend)
    codes = np.frombuffer(array.buffers()[1], dtype=np.uint8, count=len(array), offset=array.offset)
    if not codes.all():
        # the values were listed by an earlier read: a value added since then would
        # otherwise land in the missing stratum without a word
        raise InputError(
            f"the export changed while it was being sampled (a value of {path} not there when its values were listed): rerun",
            field=path,
        )
    if len(vocabulary) <= _FEW_VALUES:  # one pass a value: a quarter of the time of a `bincount`, which first widens the codes
        present = np.array([code for code in range(1, len(vocabulary) + 1) if (codes == code).any()], dtype=np.intp)
    else:
        present = np.flatnonzero(np.bincount(codes, minlength=len(vocabulary) + 1))
    # only the values this batch holds, as Arrow's dictionary would list them; missing is -1
    table = np.full(len(vocabulary) + 1, -1, dtype=np.int16)
    index: dict[str, int] = {}  # two codes may stand for one value (status: '' and 'ok')
    for code in present.tolist():
        value = vocabulary[code - 1]
        if value is not None:
            table[code] = index.setdefault(value, len(index))
    column = DictColumn(table.take(codes), list(index))  # `take`: a third of the time of `table[codes]`
    head = path.partition(".")[0]
    return normalized(head, column) if head in ("tags", *TEXT_FIELDS) else column


__all__ = ["ROW_BITS", "ColumnBatch", "Reading", "RowRefs", "RowStub", "column_batch", "scan_query"]
