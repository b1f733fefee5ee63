"""Trace exports (Parquet, JSONL, CSV; local or on S3/GCS/Azure) read through embedded DuckDB.

DuckDB scans the files, projects only the fields the policy reads, filters the window on
`timestamp` and hands Arrow batches to the sketch (`Sketch.add_column_batches`), whose
string columns it reads as buffers (`scan`). Only the selected traces' full records are
read, in one more query at the end (`records`). `plan` counts with a `GROUP BY` pushed into
DuckDB (`counts`). How the export is read as SQL, and why values keep the files path's
meaning: `relation`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from tracestrata.connectors.duckdb import counts, records
from tracestrata.connectors.duckdb.formats import FORMATS, format_of
from tracestrata.connectors.duckdb.layouts import LAYOUTS, Layout
from tracestrata.connectors.duckdb.relation import ExportRelation
from tracestrata.connectors.duckdb.scan import ColumnBatch, column_batch, scan_query
from tracestrata.connectors.duckdb.sql import read_errors
from tracestrata.connectors.duckdb.stores import check_credentials, open_object_store
from tracestrata.io.prefetch import prefetched
from tracestrata.protocols import GroupCountRequest, GroupCounts, Window
from tracestrata.record import TraceRecord

BATCH_ROWS = 1 << 17


class DuckDBTraceSource(ExportRelation):
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
        super().__init__(location, format=format, layout=layout, threads=threads)
        self.batch_rows = batch_rows
        self._scanning: Iterator[ColumnBatch] | None = None

    def close(self) -> None:
        if self._scanning is not None:  # a scan left unfinished: its reading thread stops first
            self._scanning.close()
            self._scanning = None
        if self._con is not None:
            self._con.close()
            self._con = None

    def iter_column_batches(self, window: Window | None, fields: Sequence[str], *, part: object = None) -> Iterator[ColumnBatch]:
        """Arrow batches of the window's traces: ids and the columns `fields`, as the sketch reads them."""
        query, reading = scan_query(self, window, fields)
        with read_errors(self.location, arrow=True):
            reader = self.connection().sql(query).to_arrow_reader(self.batch_rows)
            # DuckDB and Arrow (both without the GIL) make the next batch while the sketch reads this one
            self._scanning = prefetched(
                (column_batch(self, batch, reading) for batch in reader), interrupt=self.connection().interrupt
            )
            yield from self._scanning

    def complete_records(self, selected: Sequence[TraceRecord], window: Window | None = None) -> dict[str, TraceRecord]:
        """Each selected trace's full record, by id (see `records`)."""
        return records.complete_records(self, selected, window)

    def records(self, ids: Sequence[str], window: Window | None = None) -> dict[str, TraceRecord]:
        """The full records of some traces, by id."""
        return records.records(self, ids, window)

    def records_at(self, rows: Sequence[int], window: Window | None = None) -> dict[int, TraceRecord]:
        """The full records at some places of a Parquet scan (`file_index << 40 | file_row_number`)."""
        return records.records_at(self, rows, window)

    def iter_traces(self, window: Window, *, metadata_keys: Sequence[str] = ()) -> Iterator[TraceRecord]:
        """Every trace with `window.start <= timestamp < window.end` (what `sync` reads)."""
        return (record for _, record in records.iter_records(self, window, selected=False))

    def count_groups(self, window: Window | None, request: GroupCountRequest) -> GroupCounts | None:
        """Traces per combination of the requested fields' values, from one `GROUP BY` in DuckDB;
        None when a trace id repeats in the window (the sketch then counts, once per id)."""
        return counts.count_groups(self, window, request)


__all__ = ["FORMATS", "ColumnBatch", "DuckDBTraceSource", "check_credentials", "format_of", "open_object_store"]
