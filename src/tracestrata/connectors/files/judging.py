"""The judge runner's reads and writes for local files.

Bodies: a trace line's `input` and `output` fields when it has them, else the whole
record as the input (a synthetic trace has no text). Found through an index of where
each trace id's line starts, built once per run. Scores: one JSON line per score
appended to the `scores_path` file (a folder gets `tracestrata-judge.jsonl`), which
`sync` and `report --scores` read back; a line torn by a kill is cut off before the
next append, so a score is in the file whole or not at all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

import orjson

from tracestrata.errors import ConfigError
from tracestrata.io.atomic import write_error
from tracestrata.protocols import JSONObject, JSONValue, JudgedScore, SampleItem, TraceBody
from tracestrata.record import Score

JUDGE_SCORES_FILE = "tracestrata-judge.jsonl"


def body_of(raw: Mapping[str, JSONValue]) -> TraceBody:
    """A trace line's input/output, or the record itself as the input when it has neither."""
    if raw.get("input") is None and raw.get("output") is None:
        return TraceBody(input=dict(raw), output=None)
    return TraceBody(input=raw.get("input"), output=raw.get("output"))


class FilesBodyFetcher:
    def __init__(self, files: Sequence[Path]) -> None:
        self.files = list(files)
        self._index: dict[str, tuple[int, int]] | None = None

    def _build(self) -> dict[str, tuple[int, int]]:
        index: dict[str, tuple[int, int]] = {}
        for number, path in enumerate(self.files):
            offset = 0
            with path.open("rb") as handle:
                for line in handle:
                    if line.strip():
                        try:
                            trace_id = orjson.loads(line).get("id")
                        except (orjson.JSONDecodeError, AttributeError):
                            trace_id = None  # the source reports bad lines; here they are just not bodies
                        if isinstance(trace_id, str):
                            index.setdefault(trace_id, (number, offset))
                    offset += len(line)
        return index

    def fetch_bodies(self, items: Sequence[SampleItem]) -> dict[str, TraceBody]:
        if self._index is None:
            self._index = self._build()
        out: dict[str, TraceBody] = {}
        wanted = sorted((self._index[i.trace_id], i.trace_id) for i in items if i.trace_id in self._index)
        handles: dict[int, BinaryIO] = {}
        try:
            for (number, offset), trace_id in wanted:
                handle = handles.get(number) or handles.setdefault(number, self.files[number].open("rb"))
                handle.seek(offset)
                out[trace_id] = body_of(orjson.loads(handle.readline()))
        finally:
            for handle in handles.values():
                handle.close()
        return out


class RecordBodies:
    """Bodies from the sampled records themselves (a sample directory holds no more)."""

    def fetch_bodies(self, items: Sequence[SampleItem]) -> dict[str, TraceBody]:
        return {item.trace_id: body_of(item.record.to_json()) for item in items}


def judge_scores_file(scores_path: Path | None) -> Path:
    if scores_path is None:
        raise ConfigError(
            "the judge writes its scores to source.scores_path: set it to a file or folder", field="source.scores_path"
        )
    return scores_path / JUDGE_SCORES_FILE if scores_path.is_dir() or not scores_path.suffix else scores_path


def score_line(score: JudgedScore) -> JSONObject:
    line: JSONObject = {"trace_id": score.trace_id, "name": score.name, "value": score.value, "identifier": score.judge}
    if score.label is not None:
        line["label"] = score.label
    if score.reason is not None:
        line["reason"] = score.reason
    line["id"] = score.score_id
    line["metadata"] = score.metadata()
    return line


class FilesScoreWriter:
    """Appends score lines; `plain` writes only `{"trace_id", "name", "value"}` (the simulator's lines)."""

    def __init__(self, path: Path, *, plain: bool = False) -> None:
        self.path = path
        self.plain = plain
        self._written: dict[str, bytes] | None = None  # score id -> its line, read once per writer

    def _lines(self) -> dict[str, bytes]:
        if self._written is None:
            self._written = {}
            if self.path.exists():
                data = self.path.read_bytes()
                for raw in data[: data.rfind(b"\n") + 1].splitlines():
                    try:
                        line = orjson.loads(raw)
                    except orjson.JSONDecodeError:
                        continue
                    if isinstance(line, dict) and isinstance(line.get("id"), str):
                        self._written[line["id"]] = raw
        return self._written

    def write_scores(self, scores: Sequence[JudgedScore]) -> None:
        """Append the scores not already in the file as they are (a rewrite with a new value appends a
        line that supersedes the old one: readers keep the last)."""
        written = self._lines()
        fresh: dict[str, bytes] = {}
        for score in scores:
            raw = orjson.dumps(Score(score.trace_id, score.name, score.value).to_json() if self.plain else score_line(score))
            if written.get(score.score_id) != raw:
                fresh[score.score_id] = raw
        if not fresh:
            return
        payload = b"".join(raw + b"\n" for raw in fresh.values())
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "ab+") as handle:
                size = handle.tell()
                if size:
                    handle.seek(max(0, size - 1))
                    if handle.read(1) != b"\n":  # a line torn by a killed writer: cut it off
                        handle.seek(0)
                        data = handle.read()
                        handle.truncate(data.rfind(b"\n") + 1)
                handle.seek(0, os.SEEK_END)
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise write_error(exc, self.path) from None
        if not self.plain:
            written.update(fresh)


__all__ = ["FilesBodyFetcher", "FilesScoreWriter", "RecordBodies", "body_of", "judge_scores_file", "score_line"]
