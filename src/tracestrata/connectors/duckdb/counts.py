"""`plan`'s counts from one `GROUP BY` in DuckDB: one row per combination of the values the plan
reads (a numeric bucket dimension cut in SQL), labelled and folded in Python as the sampler does."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from tracestrata.connectors.duckdb.arrow import as_list, sketch_column
from tracestrata.connectors.duckdb.sql import NUMERIC, bucket_sql, read_errors, window_sql
from tracestrata.protocols import Window
from tracestrata.record import STATUSES
from tracestrata.sampling.allocation import StratumCounts, count_fields, counts_from_tally, tally_weighted
from tracestrata.sampling.field_check import FieldPresence
from tracestrata.sampling.policy import Policy

if TYPE_CHECKING:
    import pyarrow as pa

    from tracestrata.connectors.duckdb.relation import ExportRelation


def count_strata(
    source: ExportRelation, window: Window | None, policy: Policy, *, rate_field: str | None = None,
    presence: FieldPresence | None = None,
) -> list[StratumCounts] | None:
    """Population and failure counts per stratum; `presence` learns which of its watched fields
    any counted trace had. None when a trace id repeats in the window: a `GROUP BY` would count
    it twice, the sketch counts it once."""
    fields = list(count_fields(policy, rate_field))
    source.read_fields(fields)
    if _repeats(source, window):
        return None
    table, kinds = _grouped(source, window, policy, fields, rate_field)
    bad = int(sum(table.column("__bad").to_pylist()))
    if bad:
        source.report_bad(bad, "timestamp", "expected a trace id and a timestamp (missing or unreadable)", None)
    good = [n - b for n, b in zip(table.column("__n").to_pylist(), table.column("__bad").to_pylist(), strict=True)]
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
    if presence is not None:
        counted = [g > 0 for g in good]
        presence.observe({p: list(itertools.compress(c, counted)) for p, c in columns.items()}, sum(good))
    return counts_from_tally(tally_weighted(columns, good, policy, rate_field=rate_field), policy)


def _repeats(source: ExportRelation, window: Window | None) -> int:
    """How many rows of the window repeat a trace id of another."""
    trace_id, timestamp = source.id_sql(), source.timestamp_sql()
    kept = f"{trace_id} IS NOT NULL AND {timestamp} IS NOT NULL AND {window_sql(timestamp, window)}"
    with read_errors(source.location):
        found = source.connection().sql(f"SELECT count({trace_id}) - count(DISTINCT {trace_id}) FROM {source.scan()} WHERE {kept}")
        return int(found.fetchall()[0][0] or 0)


def _grouped(
    source: ExportRelation, window: Window | None, policy: Policy, fields: list[str], rate_field: str | None
) -> tuple[pa.Table, list[str]]:
    """The `GROUP BY` of the fields' values (numeric buckets cut in SQL) with each group's rows and bad rows."""
    trace_id, timestamp = source.id_sql(), source.timestamp_sql()
    bucketed = _bucketed_fields(policy, rate_field)
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


def _bucketed_fields(policy: Policy, rate_field: str | None) -> dict[str, tuple[float, ...]]:
    """Fields read only by one numeric-bucket dimension: their GROUP BY key is the bucket, not the value."""
    readers: dict[str, int] = {}
    for path in [d.field for d in policy.strata] + [s.condition.field for s in policy.signals] + ([rate_field] if rate_field else []):
        readers[path] = readers.get(path, 0) + 1
    return {d.field: d.edges for d in policy.strata if d.edges is not None and readers[d.field] == 1}


__all__ = ["count_strata"]
