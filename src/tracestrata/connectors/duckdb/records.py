"""Full records from the export: every trace of a window (`sync`), or the selected traces' at the
end of sampling: on Parquet by the row the scan read each from, else by id.

A row read back must hold the trace sampled there: a file rewritten in place (rows
reordered) puts another trace at that row. Such rows, and rows gone, are read again by id,
as JSON and CSV always are; a sampled trace gone from the export is one error.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

import orjson

from tracestrata.connectors.duckdb.arrow import decode_json, plain
from tracestrata.connectors.duckdb.scan import ROW_BITS, RowStub
from tracestrata.connectors.duckdb.sql import json_timestamp, quote, read_errors, window_sql
from tracestrata.errors import InputError
from tracestrata.protocols import Window
from tracestrata.record import RECORD_FIELDS, TraceRecord

if TYPE_CHECKING:
    from tracestrata.connectors.duckdb.relation import ExportRelation

JSON_RECORDS_MEMORY = "512MB"  # DuckDB's buffer pool while the selected JSONL lines are read


def complete_records(
    source: ExportRelation, selected: Sequence[TraceRecord], window: Window | None = None
) -> dict[str, TraceRecord]:
    """Each selected trace's full record, by id: by row where the scan gave one, else by id."""
    stubs = list(selected)
    if not stubs:
        return {}
    found: dict[str, TraceRecord] = {}
    rows = [r.row for r in stubs if isinstance(r, RowStub)]
    if len(rows) == len(stubs):
        # files unchanged since they were listed: each row still holds the trace sampled there, and
        # the id column (most of what the read costs: its pages are decompressed whole) is not read again
        trusted = {r.row: r.id for r in stubs if isinstance(r, RowStub)} if source.unchanged() else None
        at = records_at(source, rows, window, ids=trusted)
        if trusted is not None and not source.unchanged():  # replaced while it was read: read again, ids checked
            at = records_at(source, rows, window)
        for stub, row in zip(stubs, rows, strict=True):
            record = at.get(row)
            if record is not None and record.id == stub.id:
                found[stub.id] = record
    missing = [r.id for r in stubs if r.id not in found]
    if missing:
        found |= records(source, missing, window)
    gone = [trace_id for trace_id in missing if trace_id not in found]
    if gone:
        raise InputError(
            f"the export changed while it was being sampled ({len(gone)} sampled trace(s) no longer in the window, "
            f"e.g. {gone[0]!r}): rerun",
            path=source.location,
        )
    return found


def records(source: ExportRelation, ids: Sequence[str], window: Window | None = None) -> dict[str, TraceRecord]:
    """The full records of some traces, by id."""
    con = source.connection()
    con.execute("CREATE OR REPLACE TEMP TABLE __selected AS SELECT unnest(CAST(? AS VARCHAR[])) AS id", [list(ids)])
    try:
        out: dict[str, TraceRecord] = {}
        for _, record in iter_records(source, window, selected=True):
            out.setdefault(record.id, record)
        return out
    finally:
        con.execute("DROP TABLE IF EXISTS __selected")


def records_at(
    source: ExportRelation, rows: Sequence[int], window: Window | None = None, *, ids: Mapping[int, str] | None = None
) -> dict[int, TraceRecord]:
    """The full records at some places of a Parquet scan (`file_index << 40 | file_row_number`);
    with `ids` (place -> id, known to be there), the id column is not read."""
    con = source.connection()
    mask = (1 << ROW_BITS) - 1
    con.execute(
        "CREATE OR REPLACE TEMP TABLE __selected_rows AS SELECT CAST(p >> ? AS UBIGINT) AS f, CAST(p & ? AS BIGINT) AS r "
        "FROM (SELECT unnest(CAST(? AS BIGINT[])) AS p)",
        [ROW_BITS, mask, list(rows)],
    )
    try:
        return dict(iter_records(source, window, selected=True, by_row=True, ids=ids))
    finally:
        con.execute("DROP TABLE IF EXISTS __selected_rows")


def iter_records(
    source: ExportRelation, window: Window | None, *, selected: bool, by_row: bool = False, ids: Mapping[int, str] | None = None
) -> Iterator[tuple[int, TraceRecord]]:
    """(place, record) of the window's traces: only those of the ids in `__selected` when
    `selected`, of the places in `__selected_rows` with `by_row` (place -1 without); `ids`:
    each place's id, not read again."""
    if source.exact_json():
        yield from ((-1, r) for r in _json_records(source, window, selected=selected))
        return
    query, names, json_typed = _records_query(source, window, selected=selected, by_row=by_row, read_id=ids is None)
    with read_errors(source.location):
        result = source.connection().execute(query)
        header = [d[0] for d in result.description]
        while chunk := result.fetchmany(10_000):  # Python rows (Arrow's to_pylist would import pandas)
            for values in chunk:
                row = dict(zip(header, values, strict=True))
                place = row["__place"] if by_row else -1
                data: dict[str, object] = {"id": row["id"] if ids is None else ids[place], "timestamp": row["timestamp"]}
                for name in names:
                    value = row[name]
                    if name in json_typed and value is not None:
                        value = decode_json(value)
                    data[name] = plain(name, value)
                if data.get("source") is None:
                    data["source"] = {"backend": source.layout.backend}
                try:
                    record = TraceRecord.from_json(data, path=source.location)
                except InputError as exc:
                    raise InputError(f"trace {data['id']!r}: {exc.message}", path=source.location, field=exc.field) from None
                yield place, record


def _records_query(
    source: ExportRelation, window: Window | None, *, selected: bool, by_row: bool, read_id: bool = True
) -> tuple[str, list[str], set[str]]:
    """The query of the records, the record fields it reads, and those read as JSON text."""
    trace_id, timestamp = source.id_sql(), source.timestamp_sql()
    condition = f"{trace_id} IN (SELECT id FROM __selected)" if selected else "TRUE"
    if by_row:  # the row number pushed into the scan, then the exact (file, row)
        condition = "__row IN (SELECT r FROM __selected_rows) AND (__file, __row) IN (SELECT (f, r) FROM __selected_rows)"
    selects = [f"{trace_id if read_id else 'NULL'} AS id", f"{timestamp} AS timestamp"]
    if by_row:
        selects.append(f"(CAST(__file AS BIGINT) << {ROW_BITS}) | __row AS __place")
    names, json_typed = [], set()
    for name in RECORD_FIELDS:
        found = None if name in ("id", "timestamp") else source.expression(name)
        if found is not None:
            selects.append(f"{found[0]} AS {quote(name)}")
            names.append(name)
            if str(found[1]) == "JSON":
                json_typed.add(name)
    query = f"SELECT {', '.join(selects)} FROM {source.scan(rows=by_row)} WHERE {condition} AND {window_sql(timestamp, window)}"
    return query, names, json_typed


def _json_records(source: ExportRelation, window: Window | None, *, selected: bool) -> Iterator[TraceRecord]:
    """The exact JSON scan's records: each selected line decoded whole, as the files path does."""
    trace_id = "json_extract_string(json, '$.id')"
    stamp = json_timestamp("json_extract(json, '$.timestamp')")
    query = (
        f"SELECT json FROM (SELECT json, {trace_id} AS id FROM read_ndjson_objects({source.files()})) "
        f"WHERE {'id IN (SELECT id FROM __selected)' if selected else 'TRUE'} AND {window_sql(stamp, window)}"
    )
    # DuckDB keeps the lines it read in its buffer pool: 0.5 GB more on 1M traces (459 MB of
    # JSONL), 2.6 GB on 10M. Bounded here; the sampling scan before it stays under 0.3 GB.
    con = source.connection()
    con.execute(f"SET memory_limit = '{JSON_RECORDS_MEMORY}'")
    try:
        with read_errors(source.location, arrow=True):
            for batch in con.sql(query).to_arrow_reader(1 << 17):
                for text in batch.column(0).to_pylist():
                    try:
                        data = orjson.loads(text)
                    except orjson.JSONDecodeError as exc:  # DuckDB reads NaN and trailing commas; the files path does not
                        raise InputError(f"not valid JSON: {exc}", path=source.location) from None
                    yield TraceRecord.from_json(data, path=source.location)
    finally:
        if source.is_open():  # not when the source was closed with this read unfinished
            con.execute("RESET memory_limit")


__all__ = ["JSON_RECORDS_MEMORY", "complete_records", "iter_records", "records", "records_at"]
