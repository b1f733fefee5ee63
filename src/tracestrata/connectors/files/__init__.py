"""The local-files connector: traces and scores from JSONL files, samples written as JSONL.

Options (the config's `[source]` table without `type`):

    path         trace JSONL file, or a folder of `*.jsonl` files (required)
    scores_path  score JSONL file or folder, read back by `sync` (optional)
    sink_dir     where datasets and queues are written (default: `tracestrata-sink`
                 beside `path`): `<sink_dir>/datasets/<name>.jsonl`, `<sink_dir>/queues/<name>.jsonl`
    project      a label recorded as the records' source project (optional)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from tracestrata.connectors.files.local import FileOutputs, source_path
from tracestrata.errors import ConfigError

if TYPE_CHECKING:  # the connector loads them only when asked for (a light entry point)
    from tracestrata.connectors.files.judging import FilesBodyFetcher, FilesScoreWriter
    from tracestrata.connectors.files.source import FilesTraceSource

OPTIONS = ("path", "scores_path", "sink_dir", "project")


class FilesConnector(FileOutputs):
    name = "files"

    def __init__(self, path: Path, *, scores_path: Path | None, sink_dir: Path, project: str | None) -> None:
        self.path = path
        self.scores_path = scores_path
        self.sink_dir = sink_dir
        self.project = project

    def trace_source(self) -> FilesTraceSource:
        from tracestrata.connectors.files.source import FilesTraceSource

        return FilesTraceSource(self.path)

    def body_fetcher(self) -> FilesBodyFetcher:
        from tracestrata.connectors.files.judging import FilesBodyFetcher
        from tracestrata.connectors.files.source import FilesTraceSource

        return FilesBodyFetcher(FilesTraceSource(self.path).files())

    def score_writer(self) -> FilesScoreWriter:
        from tracestrata.connectors.files.judging import FilesScoreWriter, judge_scores_file

        return FilesScoreWriter(judge_scores_file(self.scores_path))


def create(options: Mapping[str, object]) -> FilesConnector:
    """The `tracestrata.connectors` entry point for `type = "files"`."""
    path = Path(source_path(options, OPTIONS, "files", "the trace JSONL file or folder"))
    scores = options.get("scores_path")
    sink_dir = options.get("sink_dir")
    for key, value in (("scores_path", scores), ("sink_dir", sink_dir), ("project", options.get("project"))):
        if value is not None and not isinstance(value, (str, Path)):
            raise ConfigError(f"expected a string, got {type(value).__name__}", field=f"source.{key}")
    default_sink = (path.parent if path.suffix else path.parent) / "tracestrata-sink"
    project = options.get("project")
    return FilesConnector(
        path,
        scores_path=Path(scores) if scores else None,
        sink_dir=Path(sink_dir) if sink_dir else default_sink,
        project=str(project) if project is not None else None,
    )


__all__ = ["FilesConnector", "create"]
