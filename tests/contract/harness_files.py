"""Contract harness for the local-files connector: everything lives in a temp folder."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from tracestrata.connectors.files import create
from tracestrata.protocols import Connector
from tracestrata.record import Score, TraceRecord


class FilesHarness:
    name = "files"

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="tracestrata-contract-files-"))
        self.traces = self.root / "traces"
        self.traces.mkdir()
        self.batches = 0

    suffix = ".jsonl"

    def options(self) -> dict[str, str]:
        return {"path": str(self.traces), "scores_path": str(self.root / "scores.jsonl"), "sink_dir": str(self.root / "sink")}

    def connector(self) -> Connector:
        return create(self.options())

    def seed_traces(self, records: Sequence[TraceRecord]) -> None:
        # two files, so "every trace exactly once" also crosses file boundaries
        self.batches += 1
        half = len(records) // 2
        for part, chunk in (("a", records[:half]), ("b", records[half:])):
            self.write(self.traces / f"batch{self.batches}{part}{self.suffix}", chunk)

    def write(self, path: Path, records: Sequence[TraceRecord]) -> None:
        path.write_bytes(b"".join(orjson.dumps(r.to_json()) + b"\n" for r in records))

    def seed_scores(self, scores: Sequence[Score]) -> None:
        with (self.root / "scores.jsonl").open("ab") as handle:
            for score in scores:
                handle.write(orjson.dumps(score.to_json()) + b"\n")

    def window_options(self) -> Mapping[str, Any]:
        return {}

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def make_harness() -> FilesHarness:
    return FilesHarness()
