"""SQL text for DuckDB: quoting, the timestamp forms both paths read alike, buckets, and DuckDB's
errors as one-line `InputError`s."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from tracestrata.errors import InputError, first_line
from tracestrata.protocols import Window
from tracestrata.record import EPOCH_SECONDS, format_timestamp

#: The fields a scan reads, as a tree: a leaf (None) is read whole (as JSON text in the exact JSON scan).
FieldTree = dict[str, "FieldTree | None"]

NUMERIC = re.compile(r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|DECIMAL.*)$")

#: ISO 8601 text both DuckDB and the files path (`datetime.fromisoformat`) read, to the same instant.
#: DuckDB would also take time zone names ("... UTC", "America/New_York") that the files path
#: refuses; the files path takes forms (20260601T000000Z, an hour alone) that DuckDB refuses.
_ISO_TEXT = r"\s*\d{4}-\d{2}-\d{2}([T ]([01]\d|2[0-3]):\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}(:?\d{2})?)?\s*"


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def json_key(key: str) -> str:
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def bare_column(expression: str) -> str:
    """The column an expression names when it is just a (possibly quoted) column name."""
    text = expression.strip()
    if len(text) > 1 and text[0] == text[-1] == '"':
        return text[1:-1].replace('""', '"')
    return text


def json_timestamp(expression: str) -> str:
    """A JSON value as the files path reads a timestamp: ISO 8601 text, or epoch seconds."""
    epoch = epoch_sql(f"CAST({expression} AS DOUBLE)")
    return (
        f"CASE json_type({expression}) WHEN 'VARCHAR' THEN {text_timestamp_sql(f'({expression} ->> {chr(39)}${chr(39)})')} "
        f"WHEN 'BIGINT' THEN {epoch} WHEN 'UBIGINT' THEN {epoch} WHEN 'DOUBLE' THEN {epoch} END"
    )


def text_timestamp_sql(text: str) -> str:
    """ISO 8601 text as a timestamp, NULL (unreadable) unless in the form both paths read alike."""
    return f"CASE WHEN regexp_full_match({text}, {sql_string(_ISO_TEXT)}) THEN TRY_CAST({text} AS TIMESTAMPTZ) END"


def epoch_sql(seconds: str) -> str:
    """Epoch seconds as a timestamp, NULL (unreadable) outside the years 1-9999 the files path reads:
    epoch milliseconds would otherwise be a date 50,000 years ahead, outside every window."""
    return f"CASE WHEN {seconds} >= {EPOCH_SECONDS[0]} AND {seconds} < {EPOCH_SECONDS[1]} THEN to_timestamp({seconds}) END"


def json_type(node: FieldTree | None) -> str:
    """The DuckDB type declaring a field tree: a STRUCT down to JSON leaves."""
    if node is None:
        return "JSON"
    return "STRUCT(" + ", ".join(f"{quote(k)} {json_type(v)}" for k, v in node.items()) + ")"


def window_sql(timestamp: str, window: Window | None) -> str:
    """`start <= timestamp < end` of a window (TRUE without one)."""
    if window is None:
        return "TRUE"
    start, end = sql_string(format_timestamp(window.start)), sql_string(format_timestamp(window.end))
    return f"({timestamp} >= CAST({start} AS TIMESTAMPTZ) AND {timestamp} < CAST({end} AS TIMESTAMPTZ))"


def bucket_sql(sql: str, edges: tuple[float, ...]) -> str:
    """A value standing for the bucket of `sql` (`bucket_label` of it gives the bucket's label)."""
    value = f"CAST({sql} AS DOUBLE)"
    cases = [f"WHEN {value} IS NULL OR isnan({value}) THEN NULL", f"WHEN {value} < {edges[0]!r} THEN CAST('-inf' AS DOUBLE)"]
    cases += [f"WHEN {value} < {high!r} THEN {low!r}" for low, high in zip(edges, edges[1:], strict=False)]
    return f"CASE {' '.join(cases)} ELSE {edges[-1]!r} END"


def no_files(exc: BaseException) -> str:
    line = first_line(exc)
    if "No files found" in line:
        return "no files match"
    return line.removeprefix("IO Error: ")


def sql_error(exc: BaseException) -> str:
    """DuckDB's first line without its error class: `Referenced column "x" not found in FROM clause!`."""
    return re.sub(r"^[A-Za-z ]+ Error: ", "", first_line(exc))


@contextlib.contextmanager
def read_errors(location: str, *, arrow: bool = False) -> Iterator[None]:
    """DuckDB's errors while reading the export as one line naming it: files missing, a value
    DuckDB cannot convert; with `arrow`, the same errors re-raised by Arrow's reader as `OSError`,
    and an `InputError` from a batch given the export's path."""
    import duckdb

    try:
        yield
    except duckdb.IOException as exc:
        raise InputError(no_files(exc), path=location) from None
    except (duckdb.ConversionException, duckdb.InvalidInputException) as exc:
        raise InputError(f"cannot read a value: {sql_error(exc)}", path=location) from None
    except OSError as exc:
        if not arrow:
            raise
        raise InputError(f"cannot read a value: {sql_error(exc)}", path=location) from None
    except InputError as exc:
        if not arrow or exc.path is not None:
            raise
        raise InputError(exc.message, path=location, field=exc.field) from None


__all__ = [
    "NUMERIC",
    "FieldTree",
    "bare_column",
    "bucket_sql",
    "epoch_sql",
    "json_key",
    "json_timestamp",
    "json_type",
    "no_files",
    "quote",
    "read_errors",
    "sql_error",
    "sql_string",
    "text_timestamp_sql",
    "window_sql",
]
