"""The rows of the state store as values, and how a stored cell is read back.

A row edited by hand into something unreadable is one `StateError` naming the table, the
row, the column and the fix (`damaged`), never a traceback from deep inside a command.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import NotRequired, TypeAlias, TypedDict, TypeVar

from tracestrata.design import CellJSON
from tracestrata.errors import StateError
from tracestrata.record import JSONValue, ScoreValue, format_timestamp, parse_timestamp

SQLValue: TypeAlias = "str | int | float | bytes | None"
"""What SQLite hands back for one column of one row, before it is checked."""

T = TypeVar("T")
V = TypeVar("V")


class RunCounts(TypedDict):
    """A run's counts (`runs.counts`): the traces of its window and what it selected."""

    traces: int
    selected: int
    failures: NotRequired[int]
    boosted: NotRequired[int]
    new_series: NotRequired[bool]
    day_share: NotRequired[float]
    weight_floor: NotRequired[float]  # the floor `floor = "auto"` took for this window
    late: NotRequired[int]


class EncodedScore(TypedDict, total=False):
    """A score value as `scores.value` holds it: one key naming its type."""

    bool: bool
    label: str
    number: float


class RunStatus(StrEnum):
    """A window run: its items are being written, it stopped part-way (the next run goes on), or it is done."""

    WRITING = "writing"
    PARTIAL = "partial"
    DONE = "done"


SAMPLED_STATUSES = (RunStatus.DONE, RunStatus.WRITING, RunStatus.PARTIAL)
"""Run statuses whose sample is written, whole or in part."""


class ItemStatus(StrEnum):
    """An item a run planned: not yet confirmed by its sink, or written."""

    PLANNED = "planned"
    WRITTEN = "written"


@dataclass(frozen=True, slots=True)
class RunRow:
    run_id: str
    source: str
    window_start: datetime
    window_end: datetime
    policy_digest: str
    series: int
    status: RunStatus
    cells: list[CellJSON]
    counts: RunCounts

    @property
    def window_key(self) -> str:
        return f"{format_timestamp(self.window_start)}/{format_timestamp(self.window_end)}"


@dataclass(frozen=True, slots=True)
class PlannedItem:
    item_id: str
    sink_kind: str
    sink_name: str
    trace_id: str
    payload: dict[str, JSONValue]


def now_text() -> str:
    return format_timestamp(datetime.now(UTC))



FIX = "restore the state file from a backup, or delete that row (its window is then sampled again)"


def damaged(table: str, row: str, column: str, why: str) -> StateError:
    """One line for a row edited by hand into something unreadable: table, row, column and the fix."""
    return StateError(f"damaged row in table {table!r} ({row}): {column} {why}; {FIX}")


def _read(table: str, row: str, column: str, value: V, convert: Callable[[V], T], want: str) -> T:
    try:
        out = convert(value)
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError, RecursionError):
        raise damaged(table, row, column, f"is not {want} (got {str(value)[:40]!r})") from None
    return out


def _json_of(kind: type[T]) -> Callable[[SQLValue], T]:
    def convert(text: SQLValue) -> T:
        value = json.loads(text)
        if not isinstance(value, kind):
            raise TypeError(kind.__name__)
        return value

    return convert


def _time(value: SQLValue) -> datetime:
    if not isinstance(value, str):
        raise TypeError("not text")
    return parse_timestamp(value)


def _int(value: SQLValue | JSONValue) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError("not an integer")
    return int(value)


def sampling_part(policy: Mapping[str, JSONValue]) -> dict[str, JSONValue]:
    """A policy's JSON without what does not change the first-phase sample (the `[review]`
    subsample drawn inside it)."""
    return {k: v for k, v in policy.items() if k != "review"}


def _run_row(row: Sequence[SQLValue]) -> RunRow:
    where = f"run_id {str(row[0])[:40]!r}"

    def read(column: str, value: SQLValue, convert: Callable[[SQLValue], T], want: str) -> T:
        return _read("runs", where, column, value, convert, want)

    return RunRow(
        run_id=row[0],  # type: ignore[arg-type]  # TEXT columns
        source=row[1],  # type: ignore[arg-type]
        window_start=read("window_start", row[2], _time, "a UTC time like 2026-01-01T00:00:00Z"),
        window_end=read("window_end", row[3], _time, "a UTC time like 2026-01-01T01:00:00Z"),
        policy_digest=str(row[4]),
        series=read("series", row[5], _int, "an integer"),
        status=read("status", row[6], RunStatus, f"one of {', '.join(s.value for s in RunStatus)}"),
        cells=read("cells", row[9], _json_of(list), "a JSON list"),
        counts=read("counts", row[10], _json_of(dict), "a JSON object"),
    )


def _dumps(value: object) -> str:
    """Compact, key-sorted JSON of a value tracestrata wrote (a TypedDict, a list of them...)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _encode_value(value: ScoreValue) -> EncodedScore:
    # keep the type: JSON alone cannot tell 1.0 from True once a float is integral
    if isinstance(value, bool):
        return {"bool": value}
    if isinstance(value, str):
        return {"label": value}
    return {"number": float(value)}


def _score_value(text: SQLValue) -> ScoreValue:
    value = _decode_value(_json_of(dict)(text))
    if isinstance(value, float) and value != value:
        raise ValueError("nan")
    return value


def _decode_value(data: EncodedScore) -> ScoreValue:
    if "bool" in data:
        return bool(data["bool"])
    if "label" in data:
        return str(data["label"])
    return float(data["number"])


__all__ = ["SAMPLED_STATUSES", "SCHEMA_VERSION", "ItemStatus", "PlannedItem", "RunRow", "RunStatus", "State", "lock_state"]


__all__ = ["SAMPLED_STATUSES", "ItemStatus", "PlannedItem", "RunCounts", "RunRow", "RunStatus", "SQLValue", "damaged"]
