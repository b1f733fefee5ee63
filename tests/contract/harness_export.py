"""Contract harness for the built-in export connector (`type = "export"`, DuckDB): the traces
are Parquet files in a temp folder, written as a trace-layout export would hold them; scores
and sinks are the files connector's (the export connector shares them)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from harness_files import FilesHarness

from tracestrata.protocols import Connector
from tracestrata.record import TraceRecord


class ExportHarness(FilesHarness):
    name = "export"
    suffix = ".parquet"

    def connector(self) -> Connector:
        from tracestrata.connectors.duckdb import create

        return create(self.options())

    def write(self, path: Path, records: Sequence[TraceRecord]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = [{k: v for k, v in r.to_json().items() if v != {}} for r in records]  # Parquet has no empty struct
        pq.write_table(pa.Table.from_pylist(rows), path)


def make_harness() -> ExportHarness:
    pytest.importorskip("duckdb", reason="the export connector needs pip install '.[duckdb]'")
    return ExportHarness()
