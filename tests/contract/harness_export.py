"""Contract harness for the built-in export connector (`type = "export"`, DuckDB): the traces
are Parquet files in a temp folder, written as a trace-layout export would hold them."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import orjson
import pytest

from tracestrata.protocols import Connector
from tracestrata.record import Score, TraceRecord


class ExportHarness:
    name = "export"

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="tracestrata-contract-export-"))
        self.traces = self.root / "traces"
        self.traces.mkdir()
        self.batches = 0

    def connector(self) -> Connector:
        from tracestrata.connectors.duckdb import create

        return create(
            {"path": str(self.traces), "scores_path": str(self.root / "scores.jsonl"), "sink_dir": str(self.root / "sink")}
        )

    def seed_traces(self, records: Sequence[TraceRecord]) -> None:
        # two files, so "every trace exactly once" also crosses file boundaries
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.batches += 1
        half = len(records) // 2
        for part, chunk in (("a", records[:half]), ("b", records[half:])):
            rows = [{k: v for k, v in r.to_json().items() if v != {}} for r in chunk]  # Parquet has no empty struct
            pq.write_table(pa.Table.from_pylist(rows), self.traces / f"batch{self.batches}{part}.parquet")

    def seed_scores(self, scores: Sequence[Score]) -> None:
        with (self.root / "scores.jsonl").open("ab") as handle:
            for score in scores:
                handle.write(orjson.dumps(score.to_json()) + b"\n")

    def window_options(self) -> Mapping[str, object]:
        return {}

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def make_harness() -> ExportHarness:
    pytest.importorskip("duckdb", reason="the export connector needs pip install '.[duckdb]'")
    return ExportHarness()
