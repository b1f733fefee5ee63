"""Trace exports (Parquet, JSONL, CSV; local or on S3/GCS/Azure) read through embedded DuckDB.

DuckDB scans the files, projects only the fields the policy reads, filters the window on
`timestamp` and hands Arrow batches to the sketch (`Sketch.add_column_batches`), whose
string columns it reads as buffers. Only the selected traces' full records are read, in
a second query by id at the end (`complete_records`). `plan` counts with a `GROUP BY`
pushed into DuckDB (`count_strata`): one row per combination of the values the plan
reads, numeric bucket dimensions cut in SQL.

Values keep the meaning they have on the files path, so the sample is the same:

- JSONL in the trace layout is read with every field as DuckDB `JSON` and decoded with
  the files path's own JSON decoder, once per distinct value: `1` stays an int, `1.0` a
  float, `"2026-01-01"` a string, and an integer past 2**53 stays exact.
- Typed columns (Parquet, CSV, or JSON read through a column mapping) come as they are
  typed: strings as strings, numbers as numbers, nulls as missing.

`timestamp` may be a timestamp, a date, ISO 8601 text or epoch seconds (naive means UTC).
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from tracestrata.connectors.duckdb.layouts import LAYOUTS, Layout
from tracestrata.errors import ConfigError, InputError, first_line
from tracestrata.io.prefetch import prefetched
from tracestrata.protocols import Window
from tracestrata.record import EPOCH_SECONDS, RECORD_FIELDS, STATUSES, TEXT_FIELDS, TraceRecord, format_timestamp
from tracestrata.sampling.allocation import (
    StratumCounts,
    count_fields,
    counts_from_tally,
    tally_weighted,
)
from tracestrata.sampling.columns import DictColumn, StringColumn, rows_not_in
from tracestrata.sampling.field_check import FieldPresence
from tracestrata.sampling.policy import Policy
from tracestrata.sampling.samplers import SampleResult
from tracestrata.sampling.strata import normalize_top, source_value

BATCH_ROWS = 1 << 17
JSON_RECORDS_MEMORY = "512MB"  # DuckDB's buffer pool while the selected JSONL lines are read
VOCABULARY_MAX = 254  # a text field with at most this many values comes as codes (one byte a row; 0 and 1 taken)
FORMATS = ("parquet", "json", "csv")
_EXTENSIONS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "json",
    ".ndjson": "json",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "csv",
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NUMERIC = re.compile(r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|DECIMAL.*)$")


def _decode_json(text: str | bytes) -> Any:
    """The files path's decoder (msgspec): same ints, floats and strings. Imported on first use:
    a Parquet export in the trace layout never needs it (start-up)."""
    global _decode_json
    import msgspec

    _decode_json = msgspec.json.Decoder().decode  # type: ignore[assignment]
    return _decode_json(text)


def _json_errors() -> type[Exception]:
    import msgspec

    return msgspec.DecodeError


@dataclass(slots=True)
class ColumnBatch:
    """One Arrow batch: ids, the policy's columns, and payloads: the ids again, or on Parquet
    `(row, id)` pairs (`_RowRefs`), so the selected records are read back by row."""

    ids: StringColumn
    columns: dict[str, Any]
    refs: StringColumn | _RowRefs
    bytes_read: int = 0

    @staticmethod
    def record(ref: str | tuple[int, str]) -> TraceRecord:
        """A stand-in holding the id (and the row); `complete_records` reads the selected records."""
        if isinstance(ref, tuple):
            return _RowStub(id=ref[1], timestamp=_EPOCH, row=ref[0])
        return TraceRecord(id=ref, timestamp=_EPOCH)


@dataclass(frozen=True, slots=True)
class _RowStub(TraceRecord):
    """A selected trace before `complete_records`: its id, and where the scan read it
    (`file_index << 40 | file_row_number`), so its record is read back by row, not by id."""

    row: int = -1


class _RowRefs:
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


_ROW_BITS = 40  # rows per file below 2**40; files below 2**23


class DuckDBTraceSource:
    """A trace source over export files: `location` is a file, a folder, a glob or an object-store URL."""

    def __init__(
        self,
        location: str,
        *,
        format: str | None = None,
        layout: Layout = LAYOUTS["trace"],
        threads: int | None = None,
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        self.location = location
        self.format = format or format_of(location)
        if self.format not in FORMATS:
            raise ConfigError(f"unknown export format {self.format!r} (known: {', '.join(FORMATS)})", field="source.format")
        self.layout = layout
        self.threads = threads
        self.batch_rows = batch_rows
        self.skip_bad = False
        self.bad_lines = 0
        self.first_bad: InputError | None = None
        self._con: Any = None
        self._scanning: Iterator[ColumnBatch] | None = None
        self._types: dict[str, Any] | None = None
        self._bound: dict[str, Any] = {}
        self._tree: dict[str, Any] = {"id": None, "timestamp": None}
        self._csv_types: str | None = None
        self._files: str | None = None

    # -- the relation

    @property
    def name(self) -> str:
        return f"{'parquet' if self.format == 'parquet' else 'duckdb'}:{self.location}"

    def connection(self) -> Any:
        if self._con is None:
            import duckdb

            con = duckdb.connect(config={"threads": self.threads} if self.threads else {})
            con.execute("SET TimeZone = 'UTC'")
            open_object_store(con, self.location)
            self._con = con
        return self._con

    def close(self) -> None:
        if self._scanning is not None:  # a scan left unfinished: its reading thread stops first
            self._scanning.close()
            self._scanning = None
        if self._con is not None:
            self._con.close()
            self._con = None

    def _exact_json(self) -> bool:
        """The trace layout in JSON: every field read as JSON text, decoded as the files path does."""
        return self.format == "json" and self.layout.name == "trace" and not self.layout.columns

    def relation(self) -> str:
        """The table function that scans the export."""
        files = _sql_string(_glob(self.location, self.format))
        if self.format == "parquet":
            return f"read_parquet({self._parquet_files(files)}, union_by_name = true)"
        if self.format == "csv":
            return f"read_csv({files}, union_by_name = true{self._csv_text_columns(files)})"
        if self._exact_json():
            # only the fields read, each leaf kept as JSON text: no object is re-serialized whole
            columns = ", ".join(f"{_sql_string(name)}: {_sql_string(_json_type(node))}" for name, node in self._tree.items())
            return f"read_json({files}, format = 'newline_delimited', columns = {{{columns}}})"
        return f"read_json({files}, format = 'newline_delimited', union_by_name = true)"

    def _parquet_files(self, files: str) -> str:
        """The files a Parquet glob matches (local or on an object store), listed once: every
        query of this source reads the same files, so a row's `file_index` means the same file
        in each (an export landing between the sampling scan and the read of the selected rows
        is not read). A file rewritten in place is caught by `complete_records`."""
        if self._files is None:
            import duckdb

            try:
                found = [row[0] for row in self.connection().sql(f"SELECT file FROM glob({files})").fetchall()]
            except duckdb.Error:
                found = []
            self._files = "[" + ", ".join(map(_sql_string, found)) + "]" if found else files  # none: DuckDB says so
        return self._files

    def _csv_text_columns(self, files: str) -> str:
        """`, types = {...}`: the CSV columns of the id and text fields read as text, not as the
        sniffer guesses (it would read the ids "007" and "7" as one number, release "1.10" as 1.1)."""
        if self._csv_types is None:
            import duckdb

            try:
                header = self.connection().sql(f"SELECT * FROM read_csv({files}, union_by_name = true) LIMIT 0")
            except duckdb.Error:
                self._csv_types = ""  # the scan itself reports it
                return self._csv_types
            names = {"id", *TEXT_FIELDS}
            names |= {_bare_column(e) for path, e in self.layout.columns.items() if path in ("id", *TEXT_FIELDS)}
            text = [c for c, kind in zip(header.columns, header.types, strict=True) if c in names and str(kind) != "VARCHAR"]
            # a zone the sniffer read (`Europe/Paris`): as text, so the ISO 8601 check refuses it as the files path does
            stamp = {"timestamp", _bare_column(self.layout.columns.get("timestamp", '"timestamp"'))}
            text += [c for c, kind in zip(header.columns, header.types, strict=True)
                     if c in stamp and str(kind) == "TIMESTAMP WITH TIME ZONE"]
            self._csv_types = (", types = {" + ", ".join(f"{_sql_string(c)}: 'VARCHAR'" for c in text) + "}") if text else ""
        return self._csv_types

    def _read(self, fields: Sequence[str]) -> None:
        """Set the fields the next scan reads (the exact JSON scan declares exactly those)."""
        tree: dict[str, Any] = {"id": None, "timestamp": None}
        for path in fields:
            head, *rest = path.split(".")
            if head == "source" or not rest:
                tree[head] = None
                continue
            node = tree.setdefault(head, {})
            if node is None:
                continue
            for key in rest[:-1]:
                child = node.setdefault(key, {})
                if child is None:
                    break
                node = child
            else:
                node[rest[-1]] = None
        self._tree = tree

    def _exact_sql(self, path: str) -> str:
        """A field of the exact JSON scan: struct fields down to a JSON leaf, then a JSON path."""
        head, *rest = path.split(".")
        expression, node = _quote(head), self._tree.get(head)
        for depth, key in enumerate(rest):
            if node is None:
                tail = "".join(f".{_json_key(k)}" for k in rest[depth:])
                return f"json_extract({expression}, {_sql_string('$' + tail)})"
            expression, node = f"struct_extract({expression}, {_sql_string(key)})", node.get(key)
        return expression

    def _scan(self, *, rows: bool = False) -> str:
        """The export's rows (the layout's filter applied); with `rows`, each row's place as
        `__file` and `__row` (DuckDB's `file_index` and `file_row_number` of a Parquet scan)."""
        where = f" WHERE {self.layout.where}" if self.layout.where else ""
        place = ", file_index AS __file, file_row_number AS __row" if rows else ""
        return f"(SELECT *{place} FROM {self.relation()}{where}) AS export"

    def _by_row(self) -> bool:
        """Whether the selected records are read back by row number (Parquet) rather than by id."""
        return self.format == "parquet"

    def _vocabulary(self, sql: str, path: str) -> list[str] | None:
        """The distinct values of a text field when there are at most `VOCABULARY_MAX` (else None):
        DuckDB then hands over each row's code in the list (`list_position`, evaluated once per
        value of a dictionary-encoded Parquet page) instead of the text to encode in Python."""
        if not self._by_row() or str(self._type(sql, path)) != "VARCHAR":
            return None
        found = self._distinct(sql)
        values = [row[0] for row in found if row[0] is not None]
        return values if len(values) <= VOCABULARY_MAX else None

    def _distinct(self, sql: str) -> list[tuple[Any, ...]]:
        """Up to `VOCABULARY_MAX + 1` distinct values of a field (a read before the scan's own)."""
        return self.connection().sql(f"SELECT DISTINCT {sql} FROM {self._scan()} LIMIT {VOCABULARY_MAX + 1}").fetchall()

    def _type(self, expression: str, what: str) -> Any:
        """The DuckDB type of an expression over the export (binds it; reads no rows)."""
        import duckdb

        if expression in self._bound:
            return self._bound[expression]
        try:
            kind = self.connection().sql(f"SELECT {expression} AS v FROM {self._scan()} LIMIT 0").types[0]
            self._bound[expression] = kind
            return kind
        except duckdb.IOException as exc:
            raise InputError(_no_files(exc), path=self.location) from None
        except duckdb.Error as exc:
            raise InputError(_sql_error(exc), path=self.location, field=_field(what)) from None

    def columns(self) -> dict[str, Any]:
        """Column name -> DuckDB type of the export (an empty glob, a missing file: `InputError`)."""
        if self._types is None:
            import duckdb

            try:
                rel = self.connection().sql(f"SELECT * FROM {self._scan()} LIMIT 0")
            except duckdb.IOException as exc:
                raise InputError(_no_files(exc), path=self.location) from None
            except duckdb.Error as exc:
                raise InputError(f"cannot read the export: {first_line(exc)}", path=self.location) from None
            self._types = dict(zip(rel.columns, rel.types, strict=True))
        return self._types

    # -- field expressions

    def expression(self, path: str) -> tuple[str, Any] | None:
        """(SQL expression, its DuckDB type) of a record field path; None when the export lacks it."""
        mapped = self.layout.columns
        if path in mapped:
            return self._mapped(path)
        parts = path.split(".")
        for i in range(len(parts) - 1, 0, -1):
            prefix = ".".join(parts[:i])
            if prefix in mapped:
                base = self._mapped(prefix)
                return _descend(base, parts[i:]) if base is not None else None
        head = parts[0]
        if head in self.columns():
            base = _quote(head), self.columns()[head]
            return _descend(base, parts[1:]) if len(parts) > 1 else base
        return None

    def _mapped(self, path: str) -> tuple[str, Any] | None:
        """A mapped field: the user's mapping must bind; a built-in layout's column may be absent."""
        expression = self.layout.columns[path]
        try:
            return expression, self._type(expression, f"source.columns.{path}")
        except InputError:
            if path in self.layout.mapped_by_user:
                raise
            return None

    def _required(self, path: str, what: str) -> tuple[str, str]:
        """A field every record needs: its SQL expression and column type, or InputError naming the field."""
        found = self.expression(path)
        if found is None:
            raise InputError(f"the export has no {what} column: map one with [source.columns] {path} = ...",
                             path=self.location, field=path)
        expression, kind = found
        return expression, str(kind)

    def _id_sql(self) -> str:
        if self._exact_json():
            return "CASE WHEN json_type(id) = 'VARCHAR' THEN id ->> '$' END"
        expression, text = self._required("id", "trace id")
        if text == "JSON":
            return f"CASE WHEN json_type({expression}) = 'VARCHAR' THEN {expression} ->> '$' END"
        if text == "VARCHAR":
            return expression
        if _NUMERIC.match(text) or text == "UUID":
            return f"CAST({expression} AS VARCHAR)"
        raise InputError(f"expected the trace id as text, got a column of type {text}", path=self.location, field="id")

    def _timestamp_sql(self) -> str:
        if self._exact_json():
            return _json_timestamp('"timestamp"')
        expression, text = self._required("timestamp", "timestamp")
        if text == "TIMESTAMP WITH TIME ZONE":
            return expression
        if text.startswith("TIMESTAMP") or text == "DATE":
            return f"CAST({expression} AS TIMESTAMPTZ)"
        if text == "VARCHAR":
            return _text_timestamp_sql(expression)
        if _NUMERIC.match(text):
            return _epoch_sql(f"CAST({expression} AS DOUBLE)")
        if text == "JSON":
            return _json_timestamp(expression)
        raise InputError(
            f"expected a timestamp, a date, ISO 8601 text or epoch seconds, got a column of type {text}",
            path=self.location,
            field="timestamp",
        )

    def _field_sql(self, path: str) -> tuple[str, str]:
        """(SQL, kind) of a policy field: kind is `json` (decoded in Python) or `typed`."""
        whole = self._whole_source(path)
        if self._exact_json():  # `source` whole: a bare backend name or an object, read as the files path does
            return f"CAST({self._exact_sql('source' if whole else path)} AS VARCHAR)", "json"
        found = self.expression("source" if whole and "source" in self.columns() else path)
        if found is None:
            if path.startswith("source."):
                return _sql_string(self.layout.backend) if path == "source.backend" else "NULL", "typed"
            return "NULL", "typed"
        expression, kind = found
        text = str(kind)
        if text == "JSON":
            return f"CAST({expression} AS VARCHAR)", "json"
        if text.startswith(("HUGEINT", "UHUGEINT", "DECIMAL")):
            return f"CAST({expression} AS DOUBLE)", "typed"
        if text.startswith(("TIMESTAMP", "DATE", "TIME")):
            return f"strftime(CAST({expression} AS TIMESTAMPTZ), '%Y-%m-%dT%H:%M:%S.%fZ')", "typed"
        if path == "status" and text == "VARCHAR":
            return f"coalesce(nullif({expression}, ''), 'ok')", "typed"
        return expression, "typed"

    def _raw_status(self) -> str | None:
        """The `status` column itself when it is text: coded as it is (a `DISTINCT` and a
        `list_position` on the column's dictionary), its empty and missing values read as `ok`
        in Python, not by an expression DuckDB evaluates on every row."""
        if self._exact_json():
            return None
        found = self.expression("status")
        return found[0] if found is not None and str(found[1]) == "VARCHAR" else None

    def _whole_source(self, path: str) -> bool:
        """`source.x` is read from the whole `source` value (as the files path reads it), unless mapped."""
        return path.startswith("source.") and path not in self.layout.columns

    def _window_sql(self, timestamp: str, window: Window | None) -> str:
        if window is None:
            return "TRUE"
        start, end = _sql_string(format_timestamp(window.start)), _sql_string(format_timestamp(window.end))
        return f"({timestamp} >= CAST({start} AS TIMESTAMPTZ) AND {timestamp} < CAST({end} AS TIMESTAMPTZ))"

    # -- sampling

    def iter_column_batches(self, window: Window | None, fields: Sequence[str], *, part: Any = None) -> Iterator[ColumnBatch]:
        """Arrow batches of the window's traces: ids and the columns `fields`, as the sketch reads them."""
        import duckdb

        fields = list(dict.fromkeys(fields))
        # status is checked as the files path checks it, whether the policy reads it or not
        check_status = "status" not in fields and (self._exact_json() or self.expression("status") is not None)
        checked = [*fields, "status"] if check_status else list(fields)
        self._read(checked)
        trace_id, timestamp = self._id_sql(), self._timestamp_sql()
        by_row = self._by_row()
        selects = [f"{trace_id} AS __id", f"{timestamp} IS NULL AS __no_time"]
        kinds: list[str] = []
        vocabularies: list[list[str | None] | None] = []
        try:
            for i, path in enumerate(checked):
                sql, kind = self._field_sql(path)
                raw = self._raw_status() if path == "status" else None
                vocabulary = self._vocabulary(raw or sql, path) if kind == "typed" else None
                if vocabulary is not None:  # 0: a value not listed, 1: missing, i: the value vocabulary[i - 2]
                    values = "CAST([NULL" + "".join(f", {_sql_string(v)}" for v in vocabulary) + "] AS VARCHAR[])"
                    sql = f"CAST(coalesce(list_position({values}, {raw or sql}), 0) AS UTINYINT)"
                    # the codes list the raw values; what each stands for (status: empty or missing is `ok`)
                    vocabulary = [None, *vocabulary] if raw is None else ["ok", *(v or "ok" for v in vocabulary)]
                selects.append(f"{sql} AS __f{i}")
                kinds.append(kind)
                vocabularies.append(vocabulary)
        except duckdb.IOException as exc:
            raise InputError(_no_files(exc), path=self.location) from None
        except (duckdb.ConversionException, duckdb.InvalidInputException) as exc:
            raise InputError(f"cannot read a value: {_sql_error(exc)}", path=self.location) from None
        if by_row:
            selects.append(f"(CAST(__file AS BIGINT) << {_ROW_BITS}) | __row AS __place")
        query = (
            f"SELECT {', '.join(selects)} FROM {self._scan(rows=by_row)} "
            f"WHERE {timestamp} IS NULL OR {self._window_sql(timestamp, window)}"
        )
        reading = _Reading(checked, kinds, vocabularies, len(fields), by_row)
        try:
            reader = self.connection().sql(query).to_arrow_reader(self.batch_rows)
            # DuckDB and Arrow (both without the GIL) make the next batch while the sketch reads this one
            self._scanning = prefetched(
                (self._batch(batch, reading) for batch in reader), interrupt=self.connection().interrupt
            )
            yield from self._scanning
        except duckdb.IOException as exc:
            raise InputError(_no_files(exc), path=self.location) from None
        except (duckdb.ConversionException, duckdb.InvalidInputException) as exc:
            raise InputError(f"cannot read a value: {_sql_error(exc)}", path=self.location) from None
        except OSError as exc:  # the same errors, from a batch after the first: Arrow's reader re-raises them so
            raise InputError(f"cannot read a value: {_sql_error(exc)}", path=self.location) from None
        except InputError as exc:
            if exc.path is not None:
                raise
            raise InputError(exc.message, path=self.location, field=exc.field) from None

    def _batch(self, batch: Any, reading: _Reading) -> ColumnBatch:
        """The sketch's batch of the first `reading.read` fields (the rest are only checked)."""
        import pyarrow as pa

        fields = reading.fields
        ids = _strings(batch.column(0))
        bad = ids.lengths() == 0
        if ids.valid is not None:
            bad |= ~ids.valid
        no_time = _flags(batch.column(1))
        problems = bad | no_time
        columns = {path: self._field(batch, reading, i) for i, path in enumerate(fields)}
        wrong_status = None
        if "status" in fields:  # the files path refuses such a line; here too, not only when it is selected
            status = columns["status"]
            wrong_status = rows_not_in(status, STATUSES)
            if wrong_status is not None:
                problems = problems | wrong_status
        if problems.any():
            where = int(np.argmax(problems))
            example = ids[where]
            if bad.any():
                self._bad(int(problems.sum()), "id", "expected a non-empty string", example)
            elif no_time.any():
                self._bad(int(problems.sum()), "timestamp", "expected a timestamp, ISO 8601 text or epoch seconds (missing or unreadable; epoch milliseconds are out of range)", example)
            else:
                got = status[int(np.argmax(wrong_status))]
                self._bad(int(problems.sum()), "status", f"expected 'ok' or 'error', got {got!r}", example)
            batch = batch.filter(pa.array(~problems))
            ids = _strings(batch.column(0))
            columns = {path: self._field(batch, reading, i) for i, path in enumerate(fields[: reading.read])}
        columns = {path: columns[path] for path in fields[: reading.read]}
        if reading.by_row:
            place = batch.column(batch.num_columns - 1)
            rows = np.frombuffer(place.buffers()[1], dtype=np.int64, count=len(place), offset=place.offset * 8)
            return ColumnBatch(ids, columns, _RowRefs(rows, ids))
        return ColumnBatch(ids, columns, ids)

    def _field(self, batch: Any, reading: _Reading, i: int) -> Any:
        """Field i of a batch as the sketch reads it: its codes, or its Arrow column normalized."""
        vocabulary = reading.vocabularies[i]
        path = reading.fields[i]
        if vocabulary is None:
            return _column(path, batch.column(i + 2), reading.kinds[i], self.layout.backend)
        array = batch.column(i + 2)
        codes = np.frombuffer(array.buffers()[1], dtype=np.uint8, count=len(array), offset=array.offset)
        if not codes.all():
            # the values were listed by an earlier read: a value added since then would
            # otherwise land in the missing stratum without a word
            raise InputError(
                f"the export changed while it was being sampled (a value of {path} not there when its values were listed): rerun",
                field=path,
            )
        present = np.flatnonzero(np.bincount(codes, minlength=len(vocabulary) + 1))
        # only the values this batch holds, as Arrow's dictionary would list them; missing is -1
        table = np.full(len(vocabulary) + 1, -1, dtype=np.int16)
        index: dict[str, int] = {}  # two codes may stand for one value (status: '' and 'ok')
        for code in present.tolist():
            value = vocabulary[code - 1]
            if value is not None:
                table[code] = index.setdefault(value, len(index))
        column = DictColumn(table[codes], list(index))
        head = path.partition(".")[0]
        return _normalized(head, column) if head in ("tags", *TEXT_FIELDS) else column

    def _bad(self, count: int, field: str, message: str, example: Any) -> None:
        hint = f" (trace {example!r})" if example else ""
        error = InputError(f"{message}: {count} row(s){hint}", path=self.location, field=field)
        if not self.skip_bad:
            raise error
        self.bad_lines += count
        if self.first_bad is None:
            self.first_bad = error

    def complete_records(self, result: SampleResult, window: Window | None = None) -> SampleResult:
        """The result with each selected trace's full record: by the row the scan read it from
        (Parquet), else by id.

        A row read back must hold the trace sampled there: a file rewritten in place (rows
        reordered) puts another trace at that row. Such rows, and rows gone, are read again
        by id, as JSON and CSV always are; a sampled trace gone from the export is one error."""
        if not result.selected:
            return result
        stubs = [s.record for s in result.selected]
        found: dict[str, TraceRecord] = {}
        if all(isinstance(r, _RowStub) for r in stubs):
            at = self.records_at([r.row for r in stubs], window)  # type: ignore[attr-defined]
            for stub in stubs:
                record = at.get(stub.row)  # type: ignore[attr-defined]
                if record is not None and record.id == stub.id:
                    found[stub.id] = record
        missing = [r.id for r in stubs if r.id not in found]
        if missing:
            found |= self.records(missing, window)
        gone = [trace_id for trace_id in missing if trace_id not in found]
        if gone:
            raise InputError(
                f"the export changed while it was being sampled ({len(gone)} sampled trace(s) no longer in the window, "
                f"e.g. {gone[0]!r}): rerun",
                path=self.location,
            )
        return replace(result, selected=[replace(s, record=found[s.record.id]) for s in result.selected])

    def records(self, ids: Sequence[str], window: Window | None = None) -> dict[str, TraceRecord]:
        """The full records of some traces, by id."""
        con = self.connection()
        con.execute("CREATE OR REPLACE TEMP TABLE __selected AS SELECT unnest(CAST(? AS VARCHAR[])) AS id", [list(ids)])
        try:
            out: dict[str, TraceRecord] = {}
            for _, record in self._records(window, selected=True):
                out.setdefault(record.id, record)
            return out
        finally:
            con.execute("DROP TABLE IF EXISTS __selected")

    def records_at(self, rows: Sequence[int], window: Window | None = None) -> dict[int, TraceRecord]:
        """The full records at some places of a Parquet scan (`file_index << 40 | file_row_number`).

        DuckDB's Parquet reader applies the `file_row_number` filter first and decodes the
        other columns only where a row passed it: no id is decoded and compared."""
        con = self.connection()
        mask = (1 << _ROW_BITS) - 1
        con.execute(
            "CREATE OR REPLACE TEMP TABLE __selected_rows AS SELECT CAST(p >> ? AS UBIGINT) AS f, CAST(p & ? AS BIGINT) AS r "
            "FROM (SELECT unnest(CAST(? AS BIGINT[])) AS p)",
            [_ROW_BITS, mask, list(rows)],
        )
        try:
            return dict(self._records(window, selected=True, by_row=True))
        finally:
            con.execute("DROP TABLE IF EXISTS __selected_rows")

    def iter_traces(self, window: Window, *, metadata_keys: Sequence[str] = ()) -> Iterator[TraceRecord]:
        """Every trace with `window.start <= timestamp < window.end` (what `sync` reads)."""
        return (record for _, record in self._records(window, selected=False))

    def _records(self, window: Window | None, *, selected: bool, by_row: bool = False) -> Iterator[tuple[int, TraceRecord]]:
        """(place, record) of the window's traces: only those of the ids in `__selected` when
        `selected`, of the places in `__selected_rows` with `by_row` (place -1 without)."""
        if self._exact_json():
            yield from ((-1, r) for r in self._json_records(window, selected=selected))
            return
        import duckdb

        trace_id, timestamp = self._id_sql(), self._timestamp_sql()
        condition = f"{trace_id} IN (SELECT id FROM __selected)" if selected else "TRUE"
        if by_row:  # the row number pushed into the scan, then the exact (file, row)
            condition = "__row IN (SELECT r FROM __selected_rows) AND (__file, __row) IN (SELECT (f, r) FROM __selected_rows)"
        selects = [f"{trace_id} AS id", f"{timestamp} AS timestamp"]
        if by_row:
            selects.append(f"(CAST(__file AS BIGINT) << {_ROW_BITS}) | __row AS __place")
        names, json_typed = [], set()
        for name in RECORD_FIELDS:
            if name in ("id", "timestamp"):
                continue
            found = self.expression(name)
            if found is not None:
                selects.append(f"{found[0]} AS {_quote(name)}")
                names.append(name)
                if str(found[1]) == "JSON":
                    json_typed.add(name)
        query = (
            f"SELECT {', '.join(selects)} FROM {self._scan(rows=by_row)} "
            f"WHERE {condition} AND {self._window_sql(timestamp, window)}"
        )
        try:
            result = self.connection().execute(query)
            header = [d[0] for d in result.description]
            while chunk := result.fetchmany(10_000):  # Python rows (Arrow's to_pylist would import pandas)
                for values in chunk:
                    row = dict(zip(header, values, strict=True))
                    data: dict[str, Any] = {"id": row["id"], "timestamp": row["timestamp"]}
                    for name in names:
                        value = row[name]
                        if name in json_typed and value is not None:
                            value = _decode_json(value)
                        data[name] = _plain(name, value)
                    if data.get("source") is None:
                        data["source"] = {"backend": self.layout.backend}
                    try:
                        yield (row["__place"] if by_row else -1), TraceRecord.from_json(data, path=self.location)
                    except InputError as exc:
                        raise InputError(
                            f"trace {row['id']!r}: {exc.message}", path=self.location, field=exc.field
                        ) from None
        except duckdb.IOException as exc:
            raise InputError(_no_files(exc), path=self.location) from None
        except (duckdb.ConversionException, duckdb.InvalidInputException) as exc:
            raise InputError(f"cannot read a value: {_sql_error(exc)}", path=self.location) from None

    def _json_records(self, window: Window | None, *, selected: bool) -> Iterator[TraceRecord]:
        """The exact JSON scan's records: each selected line decoded whole, as the files path does."""
        import duckdb

        files = _sql_string(_glob(self.location, self.format))
        line = "json"
        trace_id = f"json_extract_string({line}, '$.id')"
        stamp = _json_timestamp(f"json_extract({line}, '$.timestamp')")
        query = (
            f"SELECT {line} FROM (SELECT json, {trace_id} AS id FROM read_ndjson_objects({files})) "
            f"WHERE {'id IN (SELECT id FROM __selected)' if selected else 'TRUE'} AND {self._window_sql(stamp, window)}"
        )
        # DuckDB keeps the lines it read in its buffer pool: 0.5 GB more on 1M traces (459 MB of
        # JSONL), 2.6 GB on 10M. Bounded here; the sampling scan before it stays under 0.3 GB.
        con = self.connection()
        con.execute(f"SET memory_limit = '{JSON_RECORDS_MEMORY}'")
        try:
            for batch in con.sql(query).to_arrow_reader(self.batch_rows):
                for text in batch.column(0).to_pylist():
                    try:
                        data = orjson.loads(text)
                    except orjson.JSONDecodeError as exc:  # DuckDB reads NaN and trailing commas; the files path does not
                        raise InputError(f"not valid JSON: {exc}", path=self.location) from None
                    yield TraceRecord.from_json(data, path=self.location)
        except duckdb.IOException as exc:
            raise InputError(_no_files(exc), path=self.location) from None
        except (duckdb.ConversionException, duckdb.InvalidInputException, OSError) as exc:
            raise InputError(f"cannot read a value: {_sql_error(exc)}", path=self.location) from None
        except InputError as exc:
            raise InputError(exc.message, path=self.location, field=exc.field) from None
        finally:
            if self._con is not None:
                self._con.execute("RESET memory_limit")

    # -- counting for `plan`

    def count_strata(
        self, window: Window | None, policy: Policy, *, rate_field: str | None = None, presence: FieldPresence | None = None
    ) -> list[StratumCounts] | None:
        """Population and failure counts per stratum from one `GROUP BY` in DuckDB; `presence`
        learns which of its watched fields any counted trace had. None when a trace id repeats
        in the window: a `GROUP BY` would count it twice, the sketch counts it once."""
        import duckdb

        fields = list(count_fields(policy, rate_field))
        self._read(fields)
        trace_id, timestamp = self._id_sql(), self._timestamp_sql()
        kept = f"{trace_id} IS NOT NULL AND {timestamp} IS NOT NULL AND {self._window_sql(timestamp, window)}"
        try:
            repeats = self.connection().sql(
                f"SELECT count({trace_id}) - count(DISTINCT {trace_id}) FROM {self._scan()} WHERE {kept}"
            ).fetchall()[0][0]
        except duckdb.IOException as exc:
            raise InputError(_no_files(exc), path=self.location) from None
        except (duckdb.ConversionException, duckdb.InvalidInputException) as exc:
            raise InputError(f"cannot read a value: {_sql_error(exc)}", path=self.location) from None
        if repeats:
            return None
        bucketed = _bucketed_fields(policy, rate_field)
        selects, kinds = [], []
        for i, path in enumerate(fields):
            sql, kind = self._field_sql(path)
            found = None if self._whole_source(path) else self.expression(path)
            if path in bucketed and kind == "typed" and found is not None and _NUMERIC.match(str(found[1])):
                sql = _bucket_sql(sql, bucketed[path])
            selects.append(f"{sql} AS __f{i}")
            kinds.append(kind)
        keys = ", ".join(f"__f{i}" for i in range(len(fields)))
        query = (
            f"SELECT {', '.join([*selects, 'count(*) AS __n', f'count_if({trace_id} IS NULL OR {timestamp} IS NULL) AS __bad'])} "
            f"FROM {self._scan()} WHERE {timestamp} IS NULL OR {self._window_sql(timestamp, window)}"
            + (f" GROUP BY {keys}" if keys else "")
        )
        try:
            table = self.connection().sql(query).to_arrow_table()
        except duckdb.IOException as exc:
            raise InputError(_no_files(exc), path=self.location) from None
        except (duckdb.ConversionException, duckdb.InvalidInputException) as exc:
            raise InputError(f"cannot read a value: {_sql_error(exc)}", path=self.location) from None
        bad = int(sum(table.column("__bad").to_pylist()))
        if bad:
            self._bad(bad, "timestamp", "expected a trace id and a timestamp (missing or unreadable)", None)
        good = [n - b for n, b in zip(table.column("__n").to_pylist(), table.column("__bad").to_pylist(), strict=True)]
        columns = {
            path: _as_list(_column(path, table.column(i), kind, self.layout.backend))
            for i, (path, kind) in enumerate(zip(fields, kinds, strict=True))
        }
        if "status" in columns:  # as the sampling scan and the files path: `false`, "warn" are refused
            wrong = [i for i, (v, g) in enumerate(zip(columns["status"], good, strict=True)) if g > 0 and v not in STATUSES]
            if wrong:
                got = columns["status"][wrong[0]]
                self._bad(sum(good[i] for i in wrong), "status", f"expected 'ok' or 'error', got {got!r}", None)
                for i in wrong:  # --skip-bad: skipped, not counted
                    good[i] = 0
        if presence is not None:
            counted = [g > 0 for g in good]
            presence.observe({p: list(itertools.compress(c, counted)) for p, c in columns.items()}, sum(good))
        return counts_from_tally(tally_weighted(columns, good, policy, rate_field=rate_field), policy)


# ---------------------------------------------------------------- helpers


@dataclass(frozen=True, slots=True)
class _Reading:
    """What a sampling scan's batches hold: the fields (the first `read` for the sketch, the rest
    only checked), each one's kind and vocabulary (codes, or None), and whether rows carry their place."""

    fields: list[str]
    kinds: list[str]
    vocabularies: list[list[str | None] | None]  # per code from 1 (missing), the value it stands for
    read: int
    by_row: bool


def format_of(location: str) -> str:
    """The export format from the file extension (`.gz` ignored); a folder: the files it holds."""
    name = location.rstrip("/")
    if name.endswith(".gz"):
        name = name[:-3]
    suffix = os.path.splitext(name)[1].lower()
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    if "://" not in location and Path(location).is_dir():
        for extension, kind in _EXTENSIONS.items():
            if any(Path(location).rglob(f"*{extension}")):
                return kind
    raise InputError(
        "cannot tell the export format from the name: use a .parquet, .jsonl or .csv path or glob", path=location
    )


def _glob(location: str, fmt: str) -> str:
    """A folder stands for every file of its format under it."""
    if "://" not in location and Path(location).is_dir():
        extensions = [e for e, kind in _EXTENSIONS.items() if kind == fmt]
        found = next((e for e in extensions if any(Path(location).rglob(f"*{e}"))), extensions[0])
        return str(Path(location) / "**" / f"*{found}")
    return location


_STORES = {
    "s3": ("httpfs", ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), ("AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE")),
    "s3a": ("httpfs", ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), ("AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE")),
    "gs": ("httpfs", ("GCS_ACCESS_KEY_ID", "GCS_SECRET_ACCESS_KEY"), ()),
    "gcs": ("httpfs", ("GCS_ACCESS_KEY_ID", "GCS_SECRET_ACCESS_KEY"), ()),
    "az": ("azure", ("AZURE_STORAGE_CONNECTION_STRING",), ("AZURE_STORAGE_ACCOUNT_NAME",)),
    "azure": ("azure", ("AZURE_STORAGE_CONNECTION_STRING",), ("AZURE_STORAGE_ACCOUNT_NAME",)),
    "abfss": ("azure", ("AZURE_STORAGE_CONNECTION_STRING",), ("AZURE_STORAGE_ACCOUNT_NAME",)),
}


def store_scheme(location: str) -> str | None:
    scheme, sep, _ = location.partition("://")
    return scheme.lower() if sep else None


def check_credentials(location: str, environ: Mapping[str, str] | None = None) -> None:
    """An object-store URL needs its credentials in the environment; say which ones, never their values."""
    scheme = store_scheme(location)
    if scheme is None:
        return
    if scheme not in _STORES:
        raise InputError(f"unsupported URL scheme {scheme!r} (known: s3, gs, az, or a local path)", path=location)
    env = os.environ if environ is None else environ
    _, needed, alternatives = _STORES[scheme]
    if all(env.get(k) for k in needed) or any(env.get(k) for k in alternatives):
        return
    options = " and ".join(needed) + (f" (or {' or '.join(alternatives)})" if alternatives else "")
    raise InputError(f"{scheme} credentials missing: set {options} in the environment", path=location)


def open_object_store(con: Any, location: str) -> None:
    """Load DuckDB's httpfs/azure extension and a secret built from the environment."""
    scheme = store_scheme(location)
    if scheme is None:
        return
    check_credentials(location)
    import duckdb

    extension = _STORES[scheme][0]
    try:
        con.execute(f"INSTALL {extension}")
        con.execute(f"LOAD {extension}")
        if extension == "azure":
            if os.environ.get("AZURE_STORAGE_CONNECTION_STRING"):
                con.execute("CREATE SECRET (TYPE azure, CONNECTION_STRING ?)", [os.environ["AZURE_STORAGE_CONNECTION_STRING"]])
            else:
                con.execute(
                    "CREATE SECRET (TYPE azure, PROVIDER credential_chain, ACCOUNT_NAME ?)",
                    [os.environ["AZURE_STORAGE_ACCOUNT_NAME"]],
                )
        elif scheme in ("gs", "gcs"):
            con.execute(
                "CREATE SECRET (TYPE gcs, KEY_ID ?, SECRET ?)",
                [os.environ["GCS_ACCESS_KEY_ID"], os.environ["GCS_SECRET_ACCESS_KEY"]],
            )
        else:
            con.execute("CREATE SECRET (TYPE s3, PROVIDER credential_chain)")
    except duckdb.Error as exc:
        raise InputError(f"cannot open {scheme}:// with DuckDB's {extension} extension: {first_line(exc)}", path=location) from None


def _json_timestamp(expression: str) -> str:
    """A JSON value as the files path reads a timestamp: ISO 8601 text, or epoch seconds."""
    return (
        f"CASE json_type({expression}) WHEN 'VARCHAR' THEN {_text_timestamp_sql(f'({expression} ->> {chr(39)}${chr(39)})')} "
        f"WHEN 'BIGINT' THEN {_epoch_sql(f'CAST({expression} AS DOUBLE)')} "
        f"WHEN 'UBIGINT' THEN {_epoch_sql(f'CAST({expression} AS DOUBLE)')} "
        f"WHEN 'DOUBLE' THEN {_epoch_sql(f'CAST({expression} AS DOUBLE)')} END"
    )


#: ISO 8601 text both DuckDB and the files path (`datetime.fromisoformat`) read, to the same instant.
#: DuckDB would also take time zone names ("... UTC", "America/New_York") that the files path
#: refuses; the files path takes forms (20260601T000000Z, an hour alone) that DuckDB refuses.
_ISO_TEXT = r"\s*\d{4}-\d{2}-\d{2}([T ]([01]\d|2[0-3]):\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}(:?\d{2})?)?\s*"


def _text_timestamp_sql(text: str) -> str:
    """ISO 8601 text as a timestamp, NULL (unreadable) unless in the form both paths read alike."""
    return f"CASE WHEN regexp_full_match({text}, {_sql_string(_ISO_TEXT)}) THEN TRY_CAST({text} AS TIMESTAMPTZ) END"


def _epoch_sql(seconds: str) -> str:
    """Epoch seconds as a timestamp, NULL (unreadable) outside the years 1-9999 the files path reads:
    epoch milliseconds would otherwise be a date 50,000 years ahead, outside every window."""
    return f"CASE WHEN {seconds} >= {EPOCH_SECONDS[0]} AND {seconds} < {EPOCH_SECONDS[1]} THEN to_timestamp({seconds}) END"


def _json_type(node: Any) -> str:
    """The DuckDB type declaring a field tree: a STRUCT down to JSON leaves."""
    if node is None:
        return "JSON"
    return "STRUCT(" + ", ".join(f"{_quote(k)} {_json_type(v)}" for k, v in node.items()) + ")"


def _descend(base: tuple[str, Any], keys: Sequence[str]) -> tuple[str, Any] | None:
    """The sub-field `keys` of an expression, by its type: struct field, map key or JSON path."""
    expression, kind = base
    for depth, key in enumerate(keys):
        text = str(kind)
        if text.startswith("STRUCT("):
            children = dict(kind.children)
            if key not in children:
                return None
            expression, kind = f"struct_extract({expression}, {_sql_string(key)})", children[key]
        elif text.startswith("MAP("):
            value_type = dict(kind.children)["value"]
            expression, kind = f"element_at({expression}, {_sql_string(key)})[1]", value_type
        elif text in ("JSON", "VARCHAR"):
            rest = "".join(f".{_json_key(k)}" for k in keys[depth:])
            source = expression if text == "JSON" else f"CASE WHEN json_valid({expression}) THEN {expression} END"
            import duckdb

            return f"json_extract({source}, {_sql_string('$' + rest)})", duckdb.sqltype("JSON")
        else:
            return None
    return expression, kind


def _bucketed_fields(policy: Policy, rate_field: str | None) -> dict[str, tuple[float, ...]]:
    """Fields read only by one numeric-bucket dimension: their GROUP BY key is the bucket, not the value."""
    readers: dict[str, int] = {}
    for path in [d.field for d in policy.strata] + [s.condition.field for s in policy.signals] + ([rate_field] if rate_field else []):
        readers[path] = readers.get(path, 0) + 1
    return {d.field: d.edges for d in policy.strata if d.edges is not None and readers[d.field] == 1}


def _bucket_sql(sql: str, edges: tuple[float, ...]) -> str:
    """A value standing for the bucket of `sql` (`bucket_label` of it gives the bucket's label)."""
    value = f"CAST({sql} AS DOUBLE)"
    cases = [f"WHEN {value} IS NULL OR isnan({value}) THEN NULL", f"WHEN {value} < {edges[0]!r} THEN CAST('-inf' AS DOUBLE)"]
    cases += [f"WHEN {value} < {high!r} THEN {low!r}" for low, high in zip(edges, edges[1:], strict=False)]
    return f"CASE {' '.join(cases)} ELSE {edges[-1]!r} END"


def _strings(array: Any) -> StringColumn:
    import pyarrow as pa

    from tracestrata.sampling.frames import arrow_column

    column = arrow_column(array if pa.types.is_string(array.type) or pa.types.is_large_string(array.type) else array.cast(pa.large_string()))
    assert isinstance(column, StringColumn)
    return column


def _column(path: str, array: Any, kind: str, backend: str = "files") -> Any:
    """An Arrow column as the sketch reads it, normalized like `TraceRecord.from_json`;
    a trace without a `source` is of `backend`, as its record says (`_records`)."""
    import pyarrow as pa

    from tracestrata.sampling.frames import arrow_column, arrow_field_column

    if kind == "json":
        texts = arrow_field_column(array if pa.types.is_string(array.type) else array.cast(pa.large_string()))
        assert isinstance(texts, DictColumn)
        try:
            values = [None if v is None else _decode_json(v) for v in texts.values]
        except _json_errors() as exc:  # NaN, Infinity: DuckDB reads them, the files path does not
            raise InputError(f"not valid JSON: {exc}", field=path) from None
        column: Any = DictColumn(texts.codes, values)
    elif pa.types.is_list(array.type) or pa.types.is_large_list(array.type) or pa.types.is_struct(array.type) or pa.types.is_map(array.type):
        column = [_plain(path, v) for v in array.to_pylist()]
    elif pa.types.is_boolean(array.type):
        array = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
        values = _flags(array)
        if array.null_count:
            codes = values.astype(np.int64)
            codes[~_validity(array)] = -1
            column = DictColumn(codes, [False, True])
        else:
            column = values
    elif pa.types.is_integer(array.type) and array.null_count and not _float_exact(array):
        column = array.to_pylist()  # nulls and integers past 2**53: a float array would round them
    else:
        column = arrow_field_column(array)
    head = path.partition(".")[0]
    text = kind != "json" and (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)
                               or getattr(pa.types, "is_string_view", lambda _: False)(array.type))
    if head in ("tags", *TEXT_FIELDS) and isinstance(column, DictColumn):  # once per distinct value
        return _normalized(head, column)
    if head in ("tags", *TEXT_FIELDS) and not (text or isinstance(column, np.ndarray)) or head == "source":
        values = _as_list(column)
        if head == "source":
            key, default = path.partition(".")[2], {"backend": backend}
            return [source_value(default if v is None else v, key) if v is None or isinstance(v, (dict, str)) else v for v in values]
        return normalize_top(head, values)
    return column


def _normalized(head: str, column: DictColumn) -> DictColumn:
    """`normalize_top` of a dictionary-encoded column, applied to its distinct values."""
    values, codes = normalize_top(head, column.values), column.codes
    if len(codes) and int(codes.min()) < 0:
        missing = normalize_top(head, [None])[0]
        if missing is not None:
            values, codes = [*values, missing], np.where(codes < 0, len(values), codes)
    return DictColumn(codes, values)


def _flags(array: Any) -> np.ndarray:
    """A non-null Arrow boolean array as numpy, from its bit buffer (pyarrow's own way imports pandas)."""
    bits = np.frombuffer(array.buffers()[1], dtype=np.uint8)
    return np.unpackbits(bits, bitorder="little")[array.offset : array.offset + len(array)].astype(bool)


def _validity(array: Any) -> np.ndarray:
    """Which rows of an Arrow array hold a value."""
    bits = np.frombuffer(array.buffers()[0], dtype=np.uint8)
    return np.unpackbits(bits, bitorder="little")[array.offset : array.offset + len(array)].astype(bool)


def _float_exact(array: Any) -> bool:
    """Whether every integer of the column is exact as a float (|v| <= 2**53)."""
    import pyarrow.compute as pc

    low, high = pc.min_max(array).values()
    return low.as_py() is None or (-(2**53) <= low.as_py() and high.as_py() <= 2**53)


def _as_list(column: Any) -> list[Any]:
    if isinstance(column, np.ndarray):
        if column.dtype.kind == "f":
            return [None if v != v else v for v in column.tolist()]
        return column.tolist()
    if isinstance(column, (StringColumn, DictColumn)):
        return column.tolist()
    return list(column)


def _plain(name: str, value: Any) -> Any:
    """A JSON-like value of a record field: JSON text decoded, a struct without its absent keys, a map as a dict."""
    if isinstance(value, str) and name in ("metadata", "scores", "tags"):  # JSON text in a text column
        try:
            value = _decode_json(value)
        except _json_errors():
            return None
    if isinstance(value, list) and value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
        return {k: v for k, v in value}
    if isinstance(value, dict):
        return {k: _plain_value(v) for k, v in value.items() if v is not None}
    return _plain_value(value)


def _plain_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, dict):
        return {k: _plain_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_plain_value(v) for v in value]
    return value


def _json_key(key: str) -> str:
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _bare_column(expression: str) -> str:
    """The column an expression names when it is just a (possibly quoted) column name."""
    text = expression.strip()
    if len(text) > 1 and text[0] == text[-1] == '"':
        return text[1:-1].replace('""', '"')
    return text


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _no_files(exc: BaseException) -> str:
    line = first_line(exc)
    if "No files found" in line:
        return "no files match"
    return line.removeprefix("IO Error: ")


def _sql_error(exc: BaseException) -> str:
    """DuckDB's first line without its error class: `Referenced column "x" not found in FROM clause!`."""
    return re.sub(r"^[A-Za-z ]+ Error: ", "", first_line(exc))


def _field(what: str) -> str | None:
    return what if what.startswith("source.") else None


__all__ = ["ColumnBatch", "DuckDBTraceSource", "check_credentials", "format_of"]
