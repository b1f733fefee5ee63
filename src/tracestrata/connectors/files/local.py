"""What the files and export connectors share: their options checked alike, samples written as JSONL,
scores read back from JSONL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from tracestrata.connectors.files.scores import FilesScoreSource
from tracestrata.connectors.files.sinks import FilesSampleSink
from tracestrata.errors import ConfigError
from tracestrata.protocols import SinkKind


def source_path(options: Mapping[str, object], known: Sequence[str], kind: str, missing: str) -> str | Path:
    """`options["path"]`, after checking every option is one of `known` (errors name `source.<key>`)."""
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ConfigError(f"unknown option for the {kind} source (known: {', '.join(known)})", field=f"source.{unknown[0]}")
    path = options.get("path")
    if not isinstance(path, (str, Path)) or not str(path):
        raise ConfigError(f"missing: {missing}", field="source.path")
    return path


class FileOutputs:
    """Sinks under `sink_dir` (`datasets/<name>.jsonl`, `queues/<name>.jsonl`) and scores from `scores_path`."""

    sink_dir: Path
    scores_path: Path | None

    def sample_sink(self, kind: SinkKind, name: str) -> FilesSampleSink:
        return FilesSampleSink(self.sink_dir, kind, name)

    def score_source(self) -> FilesScoreSource:
        return FilesScoreSource(self.scores_path)

    def close(self) -> None:
        return None
