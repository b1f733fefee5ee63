"""The small Protocols every connector implements, and the plain data they exchange.

A connector (`tracestrata.connectors.files`, `.phoenix`, `.langfuse`, or a third
party's) is found through the `tracestrata.connectors` entry-point group. The entry
point is a factory `create(options: Mapping[str, object]) -> Connector`, where
`options` is the config's `[source]` table without its `type` key. Credentials come
only from environment variables whose *names* may appear in `options`.

The shared contract suite in `tests/contract/` runs every connector through the same
checks: every trace of a window exactly once across pages, `[start, end)`; a sink
write repeated leaves one item; scores round-trip with their types.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Protocol, TypeVar, runtime_checkable

from tracestrata.record import Score, ScoreValue, TraceRecord, format_timestamp, parse_timestamp

ITEM_ID_NAMESPACE = uuid.UUID("6f1c2b0e-7a43-4b8e-9a57-3e0c7f5d2a10")

JSONValue = str | int | float | bool | None | list["JSONValue"] | dict[str, "JSONValue"]
"""A value as JSON holds it: what metadata, request bodies and trace bodies are made of."""
JSONObject = dict[str, JSONValue]
"""A JSON object: what a backend stores beside an item or a score, a request body."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open time window `[start, end)` in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"window end {self.end} is not after its start {self.start}")

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    @property
    def key(self) -> str:
        """Stable text form, used in item ids, cell ids and the ledger."""
        return f"{format_timestamp(self.start)}/{format_timestamp(self.end)}"


class SinkKind(str, Enum):
    DATASET = "dataset"
    QUEUE = "queue"


def item_id_for(sink: str, window: Window | None, trace_id: str) -> str:
    """Deterministic id of a written item, so a retried or repeated write upserts.

    Derived from (sink name, window, trace id); UUID-shaped because some backends
    expect one.
    """
    window_key = window.key if window is not None else "-"
    return str(uuid.uuid5(ITEM_ID_NAMESPACE, f"{sink}\x1f{window_key}\x1f{trace_id}"))


@dataclass(frozen=True, slots=True)
class SampleItem:
    """One sampled trace as written to a dataset or review queue."""

    item_id: str
    record: TraceRecord
    stratum: str
    values: Mapping[str, str]
    failure: bool
    signals: tuple[str, ...]
    inclusion_probability: float
    weight: float
    window: Window | None = None
    run: str | None = None
    boost: str | None = None

    @property
    def trace_id(self) -> str:
        return self.record.id

    @property
    def reason(self) -> str:
        """Why the trace was drawn, by the cell it was drawn from: `boost`, `failure` or `normal`."""
        return "boost" if self.boost else "failure" if self.failure else "normal"

    def metadata(self) -> JSONObject:
        """What every sink stores on the item so reviewers and reports can reweight."""
        return {
            "tracestrata": True,
            "trace_id": self.record.id,
            "stratum": self.stratum,
            "strata_values": dict(self.values),
            "failure": self.failure,
            "signals": list(self.signals),
            "boost": self.boost,
            "inclusion_probability": self.inclusion_probability,
            "weight": self.weight,
            "window": self.window.key if self.window is not None else None,
            "run": self.run,
        }

    def to_json(self) -> JSONObject:
        """The item as the sync state stores it until it is written (`from_json` reads it back)."""
        return {
            "item_id": self.item_id,
            "record": self.record.to_json(),
            "stratum": self.stratum,
            "values": dict(self.values),
            "failure": self.failure,
            "signals": list(self.signals),
            "inclusion_probability": self.inclusion_probability,
            "weight": self.weight,
            "window": [format_timestamp(self.window.start), format_timestamp(self.window.end)] if self.window else None,
            "run": self.run,
            "boost": self.boost,
        }

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> SampleItem:
        window = payload.get("window")
        return cls(
            item_id=payload["item_id"],
            record=TraceRecord.from_json(payload["record"]),
            stratum=payload["stratum"],
            values=dict(payload["values"]),
            failure=bool(payload["failure"]),
            signals=tuple(payload["signals"]),
            inclusion_probability=float(payload["inclusion_probability"]),
            weight=float(payload["weight"]),
            window=Window(parse_timestamp(window[0]), parse_timestamp(window[1])) if window else None,
            run=payload.get("run"),
            boost=payload.get("boost"),
        )


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a sink did with one `write` call."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    item_ids: tuple[str, ...] = field(default=())


@runtime_checkable
class TraceSource(Protocol):
    def iter_traces(self, window: Window, *, metadata_keys: Sequence[str] = ()) -> Iterator[TraceRecord]:
        """Every root trace whose start is in `[window.start, window.end)`, exactly once, metadata only.

        `metadata_keys` names the metadata keys the policy reads, for backends that
        truncate or omit metadata unless asked (Langfuse `expand_metadata`).
        """
        ...


@runtime_checkable
class ColumnBatch(Protocol):
    """Ids, the columns a policy reads by field path (normalized as `TraceRecord.from_json`
    does), a payload per row, and `record(payload)` to rebuild a selected trace."""

    ids: Sequence[str]
    columns: Mapping[str, Sequence[object]]
    refs: Sequence[object]

    def record(self, ref: object) -> TraceRecord: ...


@runtime_checkable
class CountsBytes(Protocol):
    """A batch that knows how many bytes of input it was read from (for progress on long reads)."""

    bytes_read: int


def bytes_of(batch: object) -> int:
    """The bytes a batch was read from, 0 for one that does not count them."""
    return batch.bytes_read if isinstance(batch, CountsBytes) else 0


@runtime_checkable
class ColumnSource(Protocol):
    """A trace source that can hand over only the fields a policy reads, in column batches
    (the fast path: nothing else is decoded). `part` is one of `partitions()`, if any."""

    def iter_column_batches(
        self, window: Window | None, fields: Sequence[str], *, part: object = None
    ) -> Iterator[ColumnBatch]: ...


@runtime_checkable
class Partitioned(Protocol):
    """A source that splits into parts read independently (by several processes or
    workers); the sketches of the parts merge into the sample of the whole."""

    def partitions(self, count: int) -> Sequence[object]: ...


@runtime_checkable
class Sized(Protocol):
    """A source that knows how many bytes it will read (for progress)."""

    def total_bytes(self) -> int: ...


@runtime_checkable
class SkipsBadInput(Protocol):
    """A source that can skip and count malformed input instead of stopping at the first."""

    skip_bad: bool
    bad_lines: int
    first_bad: Exception | None


@runtime_checkable
class CompletesRecords(Protocol):
    """A column source whose batches carry ids as payloads (an engine's scan): it reads the
    full records of the selected traces at the end, in one query."""

    def complete_records(
        self, selected: Sequence[TraceRecord], window: Window | None = None
    ) -> Mapping[str, TraceRecord]:
        """The full record of each selected trace, by id (`selected` holds what the batches'
        `record(ref)` gave: at least the id). A selected trace no longer in the source is an
        `InputError`, never a missing key."""
        ...


@dataclass(frozen=True, slots=True)
class GroupCountRequest:
    """What a `GroupCounter` counts: the traces of a window grouped by the values of `fields`
    (dotted paths, read as `ColumnSource` batches read them).

    A field in `buckets` may be grouped by its numeric bucket instead of its value: the
    bucket's lower edge (`-inf` below the first edge, None when missing or NaN) stands for
    every value in it. A counter that cannot cut buckets groups by the value."""

    fields: tuple[str, ...]
    buckets: Mapping[str, tuple[float, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GroupCounts:
    """One entry per group: `columns[path][i]` is group i's value of each requested field,
    `counts[i]` how many traces of the window it holds (0 for a group whose every trace
    was skipped as malformed)."""

    columns: Mapping[str, Sequence[object]]
    counts: Sequence[int]


@runtime_checkable
class GroupCounter(Protocol):
    """A source that counts groups itself, with a `GROUP BY` pushed into its engine (`plan`):
    the core turns the groups into strata, failures and rates as sampling would."""

    def count_groups(self, window: Window | None, request: GroupCountRequest) -> GroupCounts | None:
        """The groups, or None when a `GROUP BY` would not count as sampling does (a trace id
        repeated in the window): the caller then counts with the sketch."""
        ...


@runtime_checkable
class ScoresBetween(Protocol):
    """A score source that lists one score name by time range (one request per page), faster
    than asking by trace ids when every trace of a window needs the score (`[scores] proxy`)."""

    def scores_between(self, name: str, start: datetime, end: datetime) -> dict[str, ScoreValue]:
        """The value of score `name` by trace id, for scores timestamped in `[start, end)`
        (a trace scored twice: its most recently updated value)."""
        ...


@runtime_checkable
class StratumCounter(Protocol):
    """Optional: population counts without pulling every trace (for `tracestrata plan`)."""

    def count(self, window: Window, where: Mapping[str, Any]) -> int:
        """Traces in the window whose fields equal `where` (dotted paths, e.g. `metadata.intent`)."""
        ...


# Counting capabilities a `StratumCounter` may add (`tracestrata plan`): a count request in, counts out.


@dataclass(frozen=True, slots=True)
class CountRequest:
    """Traces of `window` whose fields equal `where` (dotted paths, e.g. `metadata.intent`)."""

    window: Window
    where: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FieldCountRequest:
    """Traces of `window` matching `where`, counted per value of the field `by`."""

    window: Window
    by: str
    where: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class CountsByField(Protocol):
    """Optional: counts per value of a field in one query, so a dimension needs no `values` list."""

    def count_by(self, request: FieldCountRequest) -> dict[str, int]:
        """Counts per value of `request.by` (a missing value under `(missing)`); `NotImplementedError`
        for a field the backend cannot group by, or when its answer may be cut."""
        ...


@runtime_checkable
class CountsMany(Protocol):
    """Optional: several counts in one round trip (what `StratumCounter.count` would give, in order)."""

    def count_many(self, requests: Sequence[CountRequest]) -> list[int]:
        ...


@runtime_checkable
class SampleSink(Protocol):
    def write(self, items: Sequence[SampleItem]) -> WriteResult:
        """Upsert items by `item_id`: writing the same item twice leaves one."""
        ...

    def written_ids(self) -> set[str]:
        """Item ids already present in the sink (what a resumed run skips)."""
        ...


@runtime_checkable
class ScoreSource(Protocol):
    def get_scores(self, trace_ids: Sequence[str], names: Sequence[str]) -> Iterator[Score]:
        """Scores with any of `names` on any of `trace_ids`, every page, values typed faithfully."""
        ...


class LabelKind(str, Enum):
    """How a reviewer answers: true/false, one of a few labels, or a number between bounds."""

    BOOLEAN = "boolean"
    CATEGORICAL = "categorical"
    CONTINUOUS = "continuous"


@dataclass(frozen=True, slots=True)
class HumanLabel:
    """A label reviewers set in the backend's UI, declared in the sync config (`[[label]]`).

    `values` are a categorical label's choices, each with the score the backend stores
    beside it; a boolean label is stored as the labels "true"/"false" (scores 1 and 0).
    """

    name: str
    kind: LabelKind
    values: tuple[tuple[str, float], ...] = ()
    lower: float | None = None
    upper: float | None = None
    description: str = ""

    @property
    def choices(self) -> tuple[tuple[str, float], ...]:
        if self.kind is LabelKind.BOOLEAN:
            return (("true", 1.0), ("false", 0.0))
        return self.values


@runtime_checkable
class SetsUpReview(Protocol):
    """A connector that can create what a reviewer needs to set each declared label in its UI."""

    def ensure_labels(self, labels: Sequence[HumanLabel]) -> list[str]:
        """Create each label's config where reviewers will find it, when missing; the names created."""
        ...


@runtime_checkable
class LinksReview(Protocol):
    """A connector whose UI has pages a reviewer can be sent to."""

    def trace_url(self, trace_id: str) -> str | None:
        """The page of one trace, where its label is set."""
        ...

    def review_url(self, window: Window, marker: str | None = None) -> str | None:
        """One page listing the traces marked for review in `window` (any order the UI keeps)."""
        ...


@runtime_checkable
class Connector(Protocol):
    """What a `tracestrata.connectors` entry point's `create(options)` returns."""

    name: str

    def trace_source(self) -> TraceSource: ...

    def sample_sink(self, kind: SinkKind, name: str) -> SampleSink: ...

    def score_source(self) -> ScoreSource: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class TraceBody:
    """What a judge reads of one trace: its root span's (observation's, record's) input and output.

    Held in memory only while the trace is judged: never written to the state or a log."""

    input: JSONValue = None
    output: JSONValue = None


@dataclass(frozen=True, slots=True)
class JudgedScore:
    """One score a judge gave a sampled trace, ready to write where `sync` reads scores.

    `score_id` is deterministic (judge name, trace id, score name), so a retried or
    repeated write upserts instead of adding a second score."""

    score_id: str
    item: SampleItem
    name: str
    value: ScoreValue
    judge: str
    label: str | None = None
    reason: str | None = None
    judge_version: str | None = None

    @property
    def trace_id(self) -> str:
        return self.item.trace_id

    def metadata(self) -> JSONObject:
        """What every backend stores beside the value, so the score can be reweighted on its own."""
        return {
            "tracestrata": True,
            "stratum": self.item.stratum,
            "inclusion_probability": self.item.inclusion_probability,
            "weight": self.item.weight,
            "run": self.item.run,
            "judge": self.judge,
            "judge_version": self.judge_version,
        }


SCORE_ID_NAMESPACE = uuid.UUID("0c3f4a52-61d8-4d0e-9b7e-6a2f1d9c8e41")


def score_id_for(judge: str, trace_id: str, name: str) -> str:
    """Deterministic id of a judge's score on a trace (UUID-shaped), so a retry upserts."""
    return str(uuid.uuid5(SCORE_ID_NAMESPACE, f"{judge}\x1f{trace_id}\x1f{name}"))


@runtime_checkable
class BodyFetcher(Protocol):
    def fetch_bodies(self, items: Sequence[SampleItem]) -> Mapping[str, TraceBody]:
        """Input and output of each item's trace, by trace id (a trace the backend lacks is left out)."""
        ...


@runtime_checkable
class ScoreWriter(Protocol):
    def write_scores(self, scores: Sequence[JudgedScore]) -> None:
        """Upsert the scores by `score_id` where this connector's `score_source()` reads them."""
        ...


@runtime_checkable
class JudgeBackend(Protocol):
    """A connector the judge runner can work with: it reads trace bodies and writes scores back."""

    def body_fetcher(self) -> BodyFetcher: ...

    def score_writer(self) -> ScoreWriter: ...


def iter_chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Split an iterable into lists of at most `size` (batched writes and lookups)."""
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


__all__ = [
    "BodyFetcher",
    "ColumnBatch",
    "ColumnSource",
    "CountsBytes",
    "CompletesRecords",
    "Connector",
    "GroupCountRequest",
    "GroupCounter",
    "GroupCounts",
    "HumanLabel",
    "JSONObject",
    "JSONValue",
    "LabelKind",
    "JudgeBackend",
    "JudgedScore",
    "LinksReview",
    "Partitioned",
    "SampleItem",
    "SampleSink",
    "ScoreSource",
    "ScoresBetween",
    "SetsUpReview",
    "ScoreWriter",
    "SinkKind",
    "Sized",
    "SkipsBadInput",
    "StratumCounter",
    "TraceBody",
    "TraceSource",
    "Window",
    "WriteResult",
    "bytes_of",
    "item_id_for",
    "iter_chunks",
    "score_id_for",
]
