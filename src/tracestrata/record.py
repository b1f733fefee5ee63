"""The normalized trace record every connector produces, and the score record read back.

Metadata only: no input/output bodies ever enter a `TraceRecord`. The JSON form
(`to_json` / `from_json`) is the JSONL line format of the files connector and of
`sample.jsonl`; it is documented in the README ("Record schema").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, TypeAlias, TypedDict

from tracestrata.errors import InputError

Status = Literal["ok", "error"]
STATUSES: tuple[str, ...] = ("ok", "error")
#: Epoch seconds a timestamp may be: the years 1 to 9999 (epoch milliseconds fall outside).
EPOCH_SECONDS: tuple[int, int] = (-62135596800, 253402300800)
ScoreValue = float | bool | str
JSONValue: TypeAlias = "str | int | float | bool | None | list[JSONValue] | dict[str, JSONValue]"
"""Whatever JSON can hold: for what is truly arbitrary JSON (trace metadata, a decoded line
not yet validated). A shape tracestrata writes itself gets a TypedDict instead."""


class SourceJSON(TypedDict):
    backend: str
    project: str | None


class TraceJSON(TypedDict):
    """`TraceRecord.to_json`: one line of the files connector's JSONL and of `sample.jsonl`."""

    id: str
    timestamp: str
    name: str | None
    status: str
    latency_ms: float | None
    cost: float | None
    tags: list[str]
    metadata: dict[str, JSONValue]
    scores: dict[str, ScoreValue]
    user_id: str | None
    session_id: str | None
    release: str | None
    version: str | None
    span_id: str | None
    source: SourceJSON


class _ScoreJSONRequired(TypedDict):
    trace_id: str
    name: str
    value: ScoreValue


class ScoreJSON(_ScoreJSONRequired, total=False):
    """`Score.to_json`: one line of a scores JSONL."""

    identifier: str
    updated_at: str

RECORD_FIELDS: tuple[str, ...] = (
    "id",
    "timestamp",
    "name",
    "status",
    "latency_ms",
    "cost",
    "tags",
    "metadata",
    "scores",
    "user_id",
    "session_id",
    "release",
    "version",
    "span_id",
    "source",
)
#: The fields that hold text: an export that types "007" or "1.10" as a number would change them.
TEXT_FIELDS: tuple[str, ...] = ("name", "status", "user_id", "session_id", "release", "version", "span_id")


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Where a record came from: backend name (`files`, `phoenix`, `langfuse`) and project."""

    backend: str
    project: str | None = None


@dataclass(frozen=True, slots=True)
class TraceRecord:
    """One trace's metadata.

    `span_id` is the id of the trace's root span (Phoenix) or root observation
    (Langfuse), used to link dataset items back to the trace; None for sources
    without one.
    """

    id: str
    timestamp: datetime
    name: str | None = None
    status: Status = "ok"
    latency_ms: float | None = None
    cost: float | None = None
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, JSONValue] = field(default_factory=dict)
    scores: Mapping[str, ScoreValue] = field(default_factory=dict)
    user_id: str | None = None
    session_id: str | None = None
    release: str | None = None
    version: str | None = None
    span_id: str | None = None
    source: SourceRef = SourceRef("files")

    def to_json(self) -> TraceJSON:
        """The JSON-ready dict of this record (timestamps as ISO 8601 with `Z`)."""
        return {
            "id": self.id,
            "timestamp": format_timestamp(self.timestamp),
            "name": self.name,
            "status": self.status,
            "latency_ms": self.latency_ms,
            "cost": self.cost,
            "tags": list(self.tags),
            "metadata": dict(self.metadata),
            "scores": dict(self.scores),
            "user_id": self.user_id,
            "session_id": self.session_id,
            "release": self.release,
            "version": self.version,
            "span_id": self.span_id,
            "source": {"backend": self.source.backend, "project": self.source.project},
        }

    @classmethod
    def from_json(cls, data: JSONValue, *, path: str | None = None, line: int | None = None) -> TraceRecord:
        """Validate and convert one decoded JSON object; raises `InputError` naming the field."""

        def bad(field_name: str, expected: str) -> InputError:
            return InputError(f"expected {expected}", path=path, line=line, field=field_name)

        if not isinstance(data, Mapping):
            raise InputError("expected a JSON object", path=path, line=line)
        trace_id = data.get("id")
        if not isinstance(trace_id, str) or not trace_id:
            raise bad("id", "a non-empty string")
        if "timestamp" not in data:
            raise bad("timestamp", "an ISO 8601 timestamp (missing)")
        try:
            timestamp = parse_timestamp(data["timestamp"])
        except (TypeError, ValueError):
            raise bad("timestamp", f"an ISO 8601 timestamp, got {data['timestamp']!r}") from None
        status = data.get("status", "ok") or "ok"
        if status not in STATUSES:
            raise bad("status", f"'ok' or 'error', got {status!r}")
        latency = _optional_number(data.get("latency_ms"), "latency_ms", bad)
        cost = _optional_number(data.get("cost"), "cost", bad)
        tags = data.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise bad("tags", "a list of strings")
        metadata = data.get("metadata") or {}
        if not isinstance(metadata, Mapping):
            raise bad("metadata", "an object")
        scores = data.get("scores") or {}
        if not isinstance(scores, Mapping):
            raise bad("scores", "an object mapping score names to values")
        for key, value in scores.items():
            if not isinstance(value, (int, float, bool, str)):
                raise bad(f"scores.{key}", "a number, boolean or label")
        source = data.get("source") or {}
        if isinstance(source, str):
            source = {"backend": source}
        if not isinstance(source, Mapping):
            raise bad("source", "an object with 'backend' and 'project'")
        strings = {}
        for name in ("name", "user_id", "session_id", "release", "version", "span_id"):
            value = data.get(name)
            if isinstance(value, (dict, list)):
                raise bad(name, f"text, got {'an object' if isinstance(value, dict) else 'a list'}")
            if value is not None and not isinstance(value, str):
                value = str(value)
            strings[name] = value
        return cls(
            id=trace_id,
            timestamp=timestamp,
            status=status,
            latency_ms=latency,
            cost=cost,
            tags=tuple(tags),
            metadata=dict(metadata),
            scores=dict(scores),
            source=SourceRef(str(source.get("backend") or "files"), source.get("project")),
            **strings,
        )


@dataclass(frozen=True, slots=True)
class Score:
    """One judge or reviewer score read back from a backend (or a scores JSONL line).

    `value` keeps its type: a float for numeric scores, a bool for boolean ones,
    a str label for categorical ones. `identifier` tells apart several judges
    writing the same name (Phoenix); `updated_at` drives the read-back cursor.
    """

    trace_id: str
    name: str
    value: ScoreValue
    identifier: str | None = None
    updated_at: datetime | None = None

    def to_json(self) -> ScoreJSON:
        out: ScoreJSON = {"trace_id": self.trace_id, "name": self.name, "value": self.value}
        if self.identifier is not None:
            out["identifier"] = self.identifier
        if self.updated_at is not None:
            out["updated_at"] = format_timestamp(self.updated_at)
        return out

    @classmethod
    def from_json(cls, data: JSONValue, *, path: str | None = None, line: int | None = None) -> Score:
        if not isinstance(data, Mapping):
            raise InputError("expected a JSON object", path=path, line=line)
        for key in ("trace_id", "name"):
            if not isinstance(data.get(key), str) or not data.get(key):
                raise InputError("expected a non-empty string", path=path, line=line, field=key)
        if "value" not in data:
            raise InputError("missing", path=path, line=line, field="value")
        value = data["value"]
        if not isinstance(value, (int, float, bool, str)) or value is None:
            raise InputError(
                f"expected a number, boolean or label, got {value!r}", path=path, line=line, field="value"
            )
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                value = float(value)
            except OverflowError:
                value = math.inf
            if not (math.isfinite(value) and abs(value) <= MAX_SCORE):
                raise InputError(
                    f"expected a finite number within ±{MAX_SCORE:g}, got {data['value']!r:.40}", path=path, line=line, field="value"
                )
        updated = data.get("updated_at")
        try:
            updated_at = parse_timestamp(updated) if updated is not None else None
        except (TypeError, ValueError):
            raise InputError("expected an ISO 8601 timestamp", path=path, line=line, field="updated_at") from None
        return cls(data["trace_id"], data["name"], value, data.get("identifier"), updated_at)


def newest_per_trace_and_name(scores: Iterable[Score]) -> list[Score]:
    """One score per (trace, name): the most recently updated, whoever wrote it (a reviewer in a
    UI, a judge through an API, any identifier). An undated score loses to a dated one; among
    equals the later in `scores` wins. The read-back rule of every connector (docs/sync.md)."""
    best: dict[tuple[str, str], Score] = {}
    for score in scores:
        key = (score.trace_id, score.name)
        old = best.get(key)
        if old is None or _score_time(score) >= _score_time(old):
            best[key] = score
    return list(best.values())


def _score_time(score: Score) -> float:
    return score.updated_at.timestamp() if score.updated_at is not None else float("-inf")


def parse_timestamp(value: JSONValue | datetime) -> datetime:
    """Parse an ISO 8601 string (or epoch seconds) to an aware UTC datetime; naive means UTC."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if not EPOCH_SECONDS[0] <= value < EPOCH_SECONDS[1]:
            raise ValueError(f"epoch seconds out of range (milliseconds?): {value!r}")
        try:
            return datetime.fromtimestamp(float(value), tz=UTC)
        except (OverflowError, OSError):  # e.g. 1e20: beyond the years a datetime holds
            raise ValueError(f"epoch seconds out of range: {value!r}") from None
    elif isinstance(value, str):
        dt = datetime.fromisoformat(value.strip())
    else:
        raise TypeError(f"not a timestamp: {value!r}")
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def format_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with a `Z` suffix, microseconds kept only when present."""
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    text = value.isoformat(timespec="microseconds" if value.microsecond else "seconds")
    return text.replace("+00:00", "Z")


MAX_SCORE = 1e12
"""The largest magnitude of a numeric score or proxy: past it, squares times weights overflow a float."""


def _optional_number(value: JSONValue | Decimal, name: str, bad: Callable[[str, str], InputError]) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):  # Decimal: a Parquet DECIMAL column
        raise bad(name, "a number")
    try:
        number = float(value)
    except OverflowError:
        raise bad(name, "a finite number") from None
    if not math.isfinite(number):
        raise bad(name, "a finite number")
    return number


__all__ = [
    "EPOCH_SECONDS",
    "JSONValue",
    "MAX_SCORE",
    "RECORD_FIELDS",
    "Score",
    "ScoreJSON",
    "ScoreValue",
    "SourceRef",
    "STATUSES",
    "Status",
    "TEXT_FIELDS",
    "TraceJSON",
    "TraceRecord",
    "format_timestamp",
    "newest_per_trace_and_name",
    "parse_timestamp",
]
