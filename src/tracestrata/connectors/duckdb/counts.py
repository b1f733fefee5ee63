"""`plan`'s counts from one `GROUP BY` in DuckDB: one row per combination of the values the plan
reads (a numeric bucket dimension cut in SQL); the core folds the groups into strata as the
sampler does (`sampling.sources`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from tracestrata.connectors.duckdb.arrow import as_list, sketch_column
from tracestrata.connectors.duckdb.sql import NUMERIC, bucket_sql, read_errors, window_sql
from tracestrata.protocols import GroupCountRequest, GroupCounts, Window
from tracestrata.record import STATUSES

if TYPE_CHECKING:
    import pyarrow as pa

    from tracestrata.connectors.duckdb.relation import ExportRelation


def count_groups(source: ExportRelation, window: Window | None, request: GroupCountRequest) -> GroupCounts | None:
    """Traces per combination of the requested fields' values (numeric buckets cut in SQL). None
    when a trace id repeats in the window: a `GROUP BY` would count it twice, the sketch counts it once."""
    fields = list(request.fields)
    source.read_fields(fields)
    if _repeats(source, window):
        return None
    table, kinds = _grouped(source, window, fields, request.buckets)
    bad = int(sum(table.column("__bad").to_pylist()))
    if bad:
        source.report_bad(bad, "timestamp", "expected a trace id and a timestamp (missing or unreadable)", None)
    # count_if is a HUGEINT (a Decimal in Python)
    good = [int(n - b) for n, b in zip(table.column("__n").to_pylist(), table.column("__bad").to_pylist(), strict=True)]
    columns = {
        path: as_list(sketch_column(path, table.column(i), kind, source.layout.backend))
        for i, (path, kind) in enumerate(zip(fields, kinds, strict=True))
    }
    if "status" in columns:  # as the sampling scan and the files path: `false`, "warn" are refused
        wrong = [i for i, (v, g) in enumerate(zip(columns["status"], good, strict=True)) if g > 0 and v not in STATUSES]
        if wrong:
            got = columns["status"][wrong[0]]
            source.report_bad(sum(good[i] for i in wrong), "status", f"expected 'ok' or 'error', got {got!r}", None)
            for i in wrong:  # --skip-bad: skipped, not counted
                good[i] = 0
    return GroupCounts(columns, good)


def _repeats(source: ExportRelation, window: Window | None) -> int:
    """How many rows of the window repeat a trace id of another."""
    trace_id, timestamp = source.id_sql(), source.timestamp_sql()
    kept = f"{trace_id} IS NOT NULL AND {timestamp} IS NOT NULL AND {window_sql(timestamp, window)}"
    with read_errors(source.location):
        found = source.connection().sql(f"SELECT count({trace_id}) - count(DISTINCT {trace_id}) FROM {source.scan()} WHERE {kept}")
        return int(found.fetchall()[0][0] or 0)


def _grouped(
    source: ExportRelation, window: Window | None, fields: list[str], bucketed: Mapping[str, tuple[float, ...]]
) -> tuple[pa.Table, list[str]]:
    """The `GROUP BY` of the fields' values (numeric buckets cut in SQL) with each group's rows and bad rows."""
    trace_id, timestamp = source.id_sql(), source.timestamp_sql()
    selects, kinds = [], []
    for i, path in enumerate(fields):
        sql, kind = source.field_sql(path)
        found = None if source.whole_source(path) else source.expression(path)
        if path in bucketed and kind == "typed" and found is not None and NUMERIC.match(str(found[1])):
            sql = bucket_sql(sql, bucketed[path])
        selects.append(f"{sql} AS __f{i}")
        kinds.append(kind)
    keys = ", ".join(f"__f{i}" for i in range(len(fields)))
    query = (
        f"SELECT {', '.join([*selects, 'count(*) AS __n', f'count_if({trace_id} IS NULL OR {timestamp} IS NULL) AS __bad'])} "
        f"FROM {source.scan()} WHERE {timestamp} IS NULL OR {window_sql(timestamp, window)}"
        + (f" GROUP BY {keys}" if keys else "")
    )
    with read_errors(source.location):
        return source.connection().sql(query).to_arrow_table(), kinds


__all__ = ["count_groups"]
