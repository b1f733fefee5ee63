"""The export as DuckDB SQL: the table function that scans it, and each record field as an expression.

Values keep the meaning they have on the files path:

- JSONL in the trace layout (`exact_json`) is read with every field as DuckDB `JSON`,
  decoded later with the files path's own JSON decoder: `1` stays an int, `1.0` a float,
  `"2026-01-01"` a string, and an integer past 2**53 stays exact.
- Typed columns (Parquet, CSV, or JSON read through a column mapping) come as they are
  typed: strings as strings, numbers as numbers, nulls as missing.

`timestamp` may be a timestamp, a date, ISO 8601 text or epoch seconds (naive means UTC).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tracestrata.connectors.duckdb.formats import FORMATS, file_stamps, format_of, glob_of
from tracestrata.connectors.duckdb.layouts import LAYOUTS, Layout
from tracestrata.connectors.duckdb.sql import (
    NUMERIC,
    FieldTree,
    bare_column,
    epoch_sql,
    json_key,
    json_timestamp,
    json_type,
    no_files,
    quote,
    sql_error,
    sql_string,
    text_timestamp_sql,
)
from tracestrata.connectors.duckdb.stores import open_object_store
from tracestrata.errors import ConfigError, InputError, first_line
from tracestrata.record import TEXT_FIELDS

if TYPE_CHECKING:
    import duckdb
    from duckdb.sqltypes import DuckDBPyType

VOCABULARY_MAX = 254  # a text field with at most this many values comes as codes (one byte a row; 0 and 1 taken)
#: A field's SQL expression and its DuckDB type.
Typed = tuple[str, "DuckDBPyType"]


class ExportRelation:
    """Export files (`location`: a file, a folder, a glob or an object-store URL) as DuckDB SQL."""

    def __init__(self, location: str, *, format: str | None = None, layout: Layout = LAYOUTS["trace"], threads: int | None = None) -> None:
        self.location = location
        self.format = format or format_of(location)
        if self.format not in FORMATS:
            raise ConfigError(f"unknown export format {self.format!r} (known: {', '.join(FORMATS)})", field="source.format")
        self.layout = layout
        self.threads = threads
        self._con: duckdb.DuckDBPyConnection | None = None
        self._types: dict[str, DuckDBPyType] | None = None
        self._bound: dict[str, DuckDBPyType] = {}
        self._tree: FieldTree = {"id": None, "timestamp": None}
        self._csv_types: str | None = None
        self._files: str | None = None
        self._listed: list[str] = []
        self._stamps: tuple[tuple[int, ...], ...] | None = None
        self.skip_bad = False  # rows that cannot be read: counted and skipped instead of one error
        self.bad_lines = 0
        self.first_bad: InputError | None = None

    @property
    def name(self) -> str:
        return f"{'parquet' if self.format == 'parquet' else 'duckdb'}:{self.location}"

    def connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            import duckdb

            con = duckdb.connect(config={"threads": self.threads} if self.threads else {})
            con.execute("SET TimeZone = 'UTC'")
            open_object_store(con, self.location)
            self._con = con
        return self._con

    def report_bad(self, count: int, field: str, message: str, example: str | None) -> None:
        """Rows that cannot be read: one error, or with `skip_bad` counted and skipped."""
        hint = f" (trace {example!r})" if example else ""
        error = InputError(f"{message}: {count} row(s){hint}", path=self.location, field=field)
        if not self.skip_bad:
            raise error
        self.bad_lines += count
        if self.first_bad is None:
            self.first_bad = error

    def is_open(self) -> bool:
        return self._con is not None

    def exact_json(self) -> bool:
        """The trace layout in JSON: every field read as JSON text, decoded as the files path does."""
        return self.format == "json" and self.layout.name == "trace" and not self.layout.columns

    def by_row(self) -> bool:
        """Whether the selected records are read back by row number (Parquet) rather than by id."""
        return self.format == "parquet"

    def files(self) -> str:
        """The files as a SQL string: the glob a location stands for."""
        return sql_string(glob_of(self.location, self.format))

    def relation(self) -> str:
        """The table function that scans the export."""
        files = self.files()
        if self.format == "parquet":
            return f"read_parquet({self._parquet_files(files)}, union_by_name = true)"
        if self.format == "csv":
            return f"read_csv({files}, union_by_name = true{self._csv_text_columns(files)})"
        if self.exact_json():
            # only the fields read, each leaf kept as JSON text: no object is re-serialized whole
            columns = ", ".join(f"{sql_string(name)}: {sql_string(json_type(node))}" for name, node in self._tree.items())
            return f"read_json({files}, format = 'newline_delimited', columns = {{{columns}}})"
        return f"read_json({files}, format = 'newline_delimited', union_by_name = true)"

    def _parquet_files(self, files: str) -> str:
        """The files a Parquet glob matches (local or on an object store), listed once: every
        query of this source reads the same files, so a row's `file_index` means the same file
        in each (an export landing between the sampling scan and the read of the selected rows
        is not read). A file rewritten in place is caught when the selected records are read."""
        if self._files is None:
            import duckdb

            try:
                found = [row[0] for row in self.connection().sql(f"SELECT file FROM glob({files})").fetchall()]
            except duckdb.Error:
                found = []
            self._files = "[" + ", ".join(map(sql_string, found)) + "]" if found else files  # none: DuckDB says so
            self._listed, self._stamps = found, file_stamps(found) if found else None
        return self._files

    def unchanged(self) -> bool:
        """Whether the Parquet files listed are local and still as they were listed (`file_stamps`)."""
        return self._stamps is not None and file_stamps(self._listed) == self._stamps

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
            names |= {bare_column(e) for path, e in self.layout.columns.items() if path in ("id", *TEXT_FIELDS)}
            columns = list(zip(header.columns, map(str, header.types), strict=True))
            text = [c for c, kind in columns if c in names and kind != "VARCHAR"]
            # a zone the sniffer read (`Europe/Paris`): as text, so the ISO 8601 check refuses it as the files path does
            stamp = {"timestamp", bare_column(self.layout.columns.get("timestamp", '"timestamp"'))}
            text += [c for c, kind in columns if c in stamp and kind == "TIMESTAMP WITH TIME ZONE"]
            self._csv_types = (", types = {" + ", ".join(f"{sql_string(c)}: 'VARCHAR'" for c in text) + "}") if text else ""
        return self._csv_types

    def read_fields(self, fields: Sequence[str]) -> None:
        """Set the fields the next scan reads (the exact JSON scan declares exactly those)."""
        tree: FieldTree = {"id": None, "timestamp": None}
        for path in fields:
            head, *rest = path.split(".")
            if head == "source" or not rest:
                tree[head] = None
                continue
            node = tree.setdefault(head, {})
            for key in rest[:-1]:
                if node is None:
                    break
                node = node.setdefault(key, {})
            if node is not None:
                node[rest[-1]] = None
        self._tree = tree

    def exact_sql(self, path: str) -> str:
        """A field of the exact JSON scan: struct fields down to a JSON leaf, then a JSON path."""
        head, *rest = path.split(".")
        expression, node = quote(head), self._tree.get(head)
        for depth, key in enumerate(rest):
            if node is None:
                tail = "".join(f".{json_key(k)}" for k in rest[depth:])
                return f"json_extract({expression}, {sql_string('$' + tail)})"
            expression, node = f"struct_extract({expression}, {sql_string(key)})", node.get(key)
        return expression

    def scan(self, *, rows: bool = False) -> str:
        """The export's rows (the layout's filter applied); with `rows`, each row's place as
        `__file` and `__row` (DuckDB's `file_index` and `file_row_number` of a Parquet scan)."""
        where = f" WHERE {self.layout.where}" if self.layout.where else ""
        place = ", file_index AS __file, file_row_number AS __row" if rows else ""
        return f"(SELECT *{place} FROM {self.relation()}{where}) AS export"

    def vocabulary(self, sql: str, path: str) -> list[str] | None:
        """The distinct values of a text field when there are at most `VOCABULARY_MAX` (else None):
        DuckDB then hands over each row's code in the list (`list_position`, evaluated once per
        value of a dictionary-encoded Parquet page) instead of the text to encode in Python."""
        if not self.by_row() or str(self.type_of(sql, path)) != "VARCHAR":
            return None
        values = [row[0] for row in self._distinct(sql) if row[0] is not None]
        return values if len(values) <= VOCABULARY_MAX else None

    def _distinct(self, sql: str) -> list[tuple[str | None, ...]]:
        """Up to `VOCABULARY_MAX + 1` distinct values of a field (a read before the scan's own)."""
        return self.connection().sql(f"SELECT DISTINCT {sql} FROM {self.scan()} LIMIT {VOCABULARY_MAX + 1}").fetchall()

    def type_of(self, expression: str, what: str) -> DuckDBPyType:
        """The DuckDB type of an expression over the export (binds it; reads no rows)."""
        import duckdb

        if expression in self._bound:
            return self._bound[expression]
        try:
            kind = self.connection().sql(f"SELECT {expression} AS v FROM {self.scan()} LIMIT 0").types[0]
        except duckdb.IOException as exc:
            raise InputError(no_files(exc), path=self.location) from None
        except duckdb.Error as exc:
            raise InputError(sql_error(exc), path=self.location, field=what if what.startswith("source.") else None) from None
        self._bound[expression] = kind
        return kind

    def columns(self) -> dict[str, DuckDBPyType]:
        """Column name -> DuckDB type of the export (an empty glob, a missing file: `InputError`)."""
        if self._types is None:
            import duckdb

            try:
                rel = self.connection().sql(f"SELECT * FROM {self.scan()} LIMIT 0")
            except duckdb.IOException as exc:
                raise InputError(no_files(exc), path=self.location) from None
            except duckdb.Error as exc:
                raise InputError(f"cannot read the export: {first_line(exc)}", path=self.location) from None
            self._types = dict(zip(rel.columns, rel.types, strict=True))
        return self._types

    def expression(self, path: str) -> Typed | None:
        """(SQL expression, its DuckDB type) of a record field path; None when the export lacks it."""
        mapped = self.layout.columns
        if path in mapped:
            return self._mapped(path)
        parts = path.split(".")
        for i in range(len(parts) - 1, 0, -1):
            prefix = ".".join(parts[:i])
            if prefix in mapped:
                base = self._mapped(prefix)
                return descend(base, parts[i:]) if base is not None else None
        head = parts[0]
        if head in self.columns():
            base = quote(head), self.columns()[head]
            return descend(base, parts[1:]) if len(parts) > 1 else base
        return None

    def _mapped(self, path: str) -> Typed | None:
        """A mapped field: the user's mapping must bind; a built-in layout's column may be absent."""
        expression = self.layout.columns[path]
        try:
            return expression, self.type_of(expression, f"source.columns.{path}")
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
        return found[0], str(found[1])

    def id_sql(self) -> str:
        if self.exact_json():
            return "CASE WHEN json_type(id) = 'VARCHAR' THEN id ->> '$' END"
        expression, text = self._required("id", "trace id")
        if text == "JSON":
            return f"CASE WHEN json_type({expression}) = 'VARCHAR' THEN {expression} ->> '$' END"
        if text == "VARCHAR":
            return expression
        if NUMERIC.match(text) or text == "UUID":
            return f"CAST({expression} AS VARCHAR)"
        raise InputError(f"expected the trace id as text, got a column of type {text}", path=self.location, field="id")

    def timestamp_sql(self) -> str:
        if self.exact_json():
            return json_timestamp('"timestamp"')
        expression, text = self._required("timestamp", "timestamp")
        if text == "TIMESTAMP WITH TIME ZONE":
            return expression
        if text.startswith("TIMESTAMP") or text == "DATE":
            return f"CAST({expression} AS TIMESTAMPTZ)"
        if text == "VARCHAR":
            return text_timestamp_sql(expression)
        if NUMERIC.match(text):
            return epoch_sql(f"CAST({expression} AS DOUBLE)")
        if text == "JSON":
            return json_timestamp(expression)
        raise InputError(
            f"expected a timestamp, a date, ISO 8601 text or epoch seconds, got a column of type {text}",
            path=self.location,
            field="timestamp",
        )

    def field_sql(self, path: str) -> tuple[str, str]:
        """(SQL, kind) of a policy field: kind is `json` (decoded in Python) or `typed`."""
        whole = self.whole_source(path)
        if self.exact_json():  # `source` whole: a bare backend name or an object, read as the files path does
            return f"CAST({self.exact_sql('source' if whole else path)} AS VARCHAR)", "json"
        found = self.expression("source" if whole and "source" in self.columns() else path)
        if found is None:
            return (sql_string(self.layout.backend) if path == "source.backend" else "NULL"), "typed"
        expression, text = found[0], str(found[1])
        if text == "JSON":
            return f"CAST({expression} AS VARCHAR)", "json"
        if text.startswith(("HUGEINT", "UHUGEINT", "DECIMAL")):
            return f"CAST({expression} AS DOUBLE)", "typed"
        if text.startswith(("TIMESTAMP", "DATE", "TIME")):
            return f"strftime(CAST({expression} AS TIMESTAMPTZ), '%Y-%m-%dT%H:%M:%S.%fZ')", "typed"
        if path == "status" and text == "VARCHAR":
            return f"coalesce(nullif({expression}, ''), 'ok')", "typed"
        return expression, "typed"

    def raw_status(self) -> str | None:
        """The `status` column itself when it is text: coded as it is (a `DISTINCT` and a
        `list_position` on the column's dictionary), its empty and missing values read as `ok`
        in Python, not by an expression DuckDB evaluates on every row."""
        if self.exact_json():
            return None
        found = self.expression("status")
        return found[0] if found is not None and str(found[1]) == "VARCHAR" else None

    def whole_source(self, path: str) -> bool:
        """`source.x` is read from the whole `source` value (as the files path reads it), unless mapped."""
        return path.startswith("source.") and path not in self.layout.columns


def descend(base: Typed, keys: Sequence[str]) -> Typed | None:
    """The sub-field `keys` of an expression, by its type: struct field, map key or JSON path."""
    expression, kind = base
    for depth, key in enumerate(keys):
        text = str(kind)
        if text.startswith("STRUCT("):
            children = dict(kind.children)
            if key not in children:
                return None
            expression, kind = f"struct_extract({expression}, {sql_string(key)})", children[key]
        elif text.startswith("MAP("):
            value_type = dict(kind.children)["value"]
            expression, kind = f"element_at({expression}, {sql_string(key)})[1]", value_type
        elif text in ("JSON", "VARCHAR"):
            rest = "".join(f".{json_key(k)}" for k in keys[depth:])
            source = expression if text == "JSON" else f"CASE WHEN json_valid({expression}) THEN {expression} END"
            import duckdb

            return f"json_extract({source}, {sql_string('$' + rest)})", duckdb.sqltype("JSON")
        else:
            return None
    return expression, kind


__all__ = ["VOCABULARY_MAX", "ExportRelation", "Typed", "descend"]
