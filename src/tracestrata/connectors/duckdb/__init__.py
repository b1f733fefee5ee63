"""The DuckDB connector: trace exports (Parquet, JSONL, CSV; local or on S3/GCS/Azure) as a trace source.

Options (the config's `[source]` table for `type = "export"`, without `type`):

    path      a file, folder or glob of export files, or an s3://, gs:// or az:// URL (required)
    schema    the export's layout: trace (default), langfuse or phoenix (see `layouts`)
    format    parquet, json or csv (default: from the file extension)
    where     a SQL filter on the export's rows (default: the layout's, e.g. root spans)
    columns   record field path -> DuckDB SQL expression over the export's columns,
              e.g. `id = "trace_id"`, `"metadata.intent" = "metadata['intent']"`
    sink_dir  where datasets and queues are written, as for the files connector
    scores_path  score JSONL read back by `sync` (optional)

Needs `pip install '.[duckdb]'` from a checkout (duckdb and pyarrow).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tracestrata.connectors.duckdb.layouts import layout
from tracestrata.connectors.files.local import FileOutputs, source_path
from tracestrata.errors import ConfigError
from tracestrata.protocols import Window
from tracestrata.record import TraceRecord

if TYPE_CHECKING:
    from tracestrata.connectors.duckdb.source import DuckDBTraceSource

OPTIONS = ("path", "schema", "format", "where", "columns", "sink_dir", "scores_path", "project")


class ExportConnector(FileOutputs):
    name = "export"

    def __init__(self, options: Mapping[str, object]) -> None:
        self.options = dict(options)
        path = str(self.options["path"])
        local = "://" not in path
        default_sink = (Path(path).parent if local else Path.cwd()) / "tracestrata-sink"
        self.sink_dir = Path(self.options.get("sink_dir") or default_sink)
        scores = self.options.get("scores_path")
        self.scores_path = Path(scores) if scores else None

    def trace_source(self) -> DuckDBTraceSource | EmptyExportFolder:
        return open_export(self.options, folder_may_be_empty=True)


class EmptyExportFolder:
    """An export folder that holds no export file yet (the first hourly export has not landed):
    every window of it is empty, as an empty folder of JSONL files is. A glob or a file that
    matches nothing is still an error."""

    def __init__(self, location: str) -> None:
        self.location = location

    @property
    def name(self) -> str:
        return f"export:{self.location}"

    def iter_traces(self, window: Window, *, metadata_keys: Sequence[str] = ()) -> Iterator[TraceRecord]:
        return iter(())

    def close(self) -> None:
        pass


def _holds_no_export(path: str) -> bool:
    """A local folder with no file in it at all (markers such as `_SUCCESS` or `.keep` aside):
    a folder holding files of a format we do not read is an error, not an empty window."""
    folder = Path(path)
    if "://" in path or not folder.is_dir():
        return False
    return not any(f.is_file() and not f.name.startswith((".", "_")) for f in folder.rglob("*"))


def open_export(options: Mapping[str, object], *, folder_may_be_empty: bool = False) -> DuckDBTraceSource | EmptyExportFolder:
    """A `DuckDBTraceSource` from connector options (checked: unknown keys, types); with
    `folder_may_be_empty`, an `EmptyExportFolder` for a folder that holds no export file yet."""
    from tracestrata.connectors.duckdb.source import DuckDBTraceSource

    path = source_path(options, OPTIONS, "export", "the export files (a path, folder, glob or s3:// URL)")
    columns = options.get("columns") or {}
    if not isinstance(columns, Mapping):
        raise ConfigError("expected a table of field path = SQL expression", field="source.columns")
    where = options.get("where")
    if where is not None and not isinstance(where, str):
        raise ConfigError("expected a SQL condition", field="source.where")
    base = layout(str(options.get("schema") or "trace"))
    fmt = options.get("format")
    if folder_may_be_empty and _holds_no_export(str(path)):
        return EmptyExportFolder(str(path))
    return DuckDBTraceSource(str(path), format=str(fmt) if fmt else None, layout=base.with_columns(dict(columns), where))


def create(options: Mapping[str, object]) -> ExportConnector:
    """The factory for `type = "export"` (and the `parquet:`/`duckdb:` sources of `sample` and `plan`)."""
    open_export(options, folder_may_be_empty=True)  # checks the options now, reads nothing
    return ExportConnector(options)


__all__ = ["EmptyExportFolder", "ExportConnector", "create", "open_export"]
