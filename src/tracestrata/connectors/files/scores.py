"""A score source reading score JSONL: one file, or every `*.jsonl` under a folder.

Lines are `{"trace_id", "name", "value"}` (+ optional `identifier`, `updated_at`);
values keep their type (number, boolean, label).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from tracestrata.io.jsonl import iter_jsonl
from tracestrata.record import Score


def score_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*.jsonl") if p.is_file())
    return [path] if path.exists() else []


def iter_score_file(path: Path) -> Iterator[Score]:
    """The scores of one file; a last line still being appended by a writer is left for the next run."""
    for number, data in iter_jsonl(path, torn_tail_ok=True):
        yield Score.from_json(data, path=str(path), line=number)


class FilesScoreSource:
    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path is not None else None

    def get_scores(self, trace_ids: Sequence[str], names: Sequence[str]) -> Iterator[Score]:
        if self.path is None:
            return
        wanted = set(trace_ids)
        wanted_names = set(names)
        for path in score_files(self.path):
            for score in iter_score_file(path):
                if score.trace_id in wanted and (not wanted_names or score.name in wanted_names):
                    yield score


__all__ = ["FilesScoreSource", "iter_score_file", "score_files"]
