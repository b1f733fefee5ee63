"""Stratification: dotted field paths into a record, value labels, numeric buckets, stratum keys.

A stratum is the crossing of the policy's dimensions; its key is the dimension
labels joined by `" | "` in dimension order. Labels are plain text so that a key
reads well in a report and can be matched by `targets.overrides`.

Two record shapes are read the same way: a `TraceRecord` (library path) and the
decoded JSON object of a trace JSONL line (the fast CLI path, which never builds a
`TraceRecord` for traces it does not select). `raw_getter` normalizes the JSON
form exactly as `TraceRecord.from_json` would, so both paths give the same labels.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import attrgetter
from typing import TypeVar

import orjson

from tracestrata.design import ALL, MISSING, OTHER
from tracestrata.errors import ConfigError, InputError
from tracestrata.record import TEXT_FIELDS, TraceRecord
from tracestrata.columns import FieldValue, JsonObject

KEY_SEPARATOR = " | "

# Top-level record fields a policy may read, and whether they take a sub-path.
SCALAR_FIELDS = (
    "name",
    "status",
    "latency_ms",
    "cost",
    "tags",
    "user_id",
    "session_id",
    "release",
    "version",
    "span_id",
)
MAPPING_FIELDS = ("metadata", "scores", "source")

Source = TypeVar("Source")
Getter = Callable[[Source], FieldValue]
"""Reads one field path from a trace: a `TraceRecord` (`record_getter`) or its decoded JSON (`raw_getter`)."""
RawRow = Mapping[str, FieldValue]
"""A decoded trace JSON object."""


def check_path(path: str) -> str | None:
    """None if `path` is a readable field path, else what is wrong with it."""
    if not isinstance(path, str) or not path:
        return "expected a dotted field path like 'metadata.intent'"
    head, _, rest = path.partition(".")
    if head in SCALAR_FIELDS:
        return None if not rest else f"'{head}' has no sub-fields"
    if head in MAPPING_FIELDS:
        if not rest or any(not part for part in rest.split(".")):
            return f"expected '{head}.<key>'"
        return None
    allowed = ", ".join((*SCALAR_FIELDS, *(f"{m}.<key>" for m in MAPPING_FIELDS)))
    return f"unknown field '{head}' (expected one of: {allowed})"


def record_getter(path: str) -> Getter[TraceRecord]:
    """Read `path` from a `TraceRecord`; None when absent."""
    head, _, rest = path.partition(".")
    if head == "source":
        key = rest
        return lambda record: getattr(record.source, key, None) if key in ("backend", "project") else None
    if not rest:
        if head == "tags":
            return lambda record: list(record.tags)
        return lambda record: getattr(record, head)
    parts = rest.split(".")
    return _nested(lambda record: getattr(record, head), parts)


def normalize_top(head: str, values: Sequence[FieldValue]) -> list[FieldValue]:
    """Top-level JSON values of field `head`, normalized as `TraceRecord.from_json` does."""
    if head == "status":  # absent or "" is ok; `false` stays false, and is refused as the files path refuses it
        return ["ok" if v is None or (type(v) is str and not v) else v for v in values]
    if head == "tags":
        return [v or [] for v in values]
    if head in TEXT_FIELDS:  # status is handled above
        if any(isinstance(v, (dict, list)) for v in values):  # never stored as Python's repr
            raise InputError("expected text, got an object or a list", field=head)
        return [v if v is None or type(v) is str else str(v) for v in values]
    return list(values)


def source_value(source: FieldValue, key: str) -> FieldValue:
    """`source.<key>` of a JSON `source` value (an object, a bare backend name, or absent)."""
    source = source or {}
    if isinstance(source, str):
        source = {"backend": source}
    if not isinstance(source, Mapping):
        return None
    if key == "backend":
        return str(source.get("backend") or "files")
    return source.get(key) if key == "project" else None


def dig(value: FieldValue, parts: Sequence[str]) -> FieldValue:
    """Follow `parts` through nested objects; None as soon as one is missing or not an object."""
    for part in parts:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def raw_getter(path: str) -> Getter[RawRow]:
    """Read `path` from a decoded trace JSON object, normalized as `TraceRecord.from_json` does."""
    head, _, rest = path.partition(".")
    if not rest:
        return lambda data: normalize_top(head, [data.get(head)])[0]
    if head == "source":
        return lambda data: source_value(data.get("source"), rest)
    parts = rest.split(".")
    return lambda data: dig(data.get(head), parts)


_EMPTY: RawRow = {}


def raw_column(rows: Sequence[RawRow], path: str) -> list[FieldValue]:
    """`raw_getter(path)` over checked rows (`metadata`/`scores` are objects or absent), inlined."""
    head, _, rest = path.partition(".")
    if rest and "." not in rest and head in ("metadata", "scores"):
        try:  # C-level when every row is a dict holding a dict
            return list(map(dict.get, map(dict.get, rows, repeat(head)), repeat(rest)))
        except TypeError:
            pass
        empty = _EMPTY
        try:
            return [(row.get(head) or empty).get(rest) for row in rows]
        except AttributeError:  # a truthy non-object somewhere: read it as missing
            pass
    if not rest and head in ("latency_ms", "cost"):
        try:
            return list(map(dict.get, rows, repeat(head)))
        except TypeError:
            return [row.get(head) for row in rows]
    if path == "status":
        try:
            return [v or "ok" for v in map(dict.get, rows, repeat("status"))]
        except TypeError:
            return [row.get("status") or "ok" for row in rows]
    getter = raw_getter(path)
    return [getter(row) for row in rows]


def record_column(records: Sequence[TraceRecord], path: str) -> list[FieldValue]:
    """`record_getter(path)` over many TraceRecords, with C-level attribute access where it can."""
    head, _, rest = path.partition(".")
    if not rest and head != "tags":
        return list(map(attrgetter(head), records))
    if head in ("metadata", "scores") and rest and "." not in rest:
        mappings = list(map(attrgetter(head), records))
        try:
            return list(map(dict.get, mappings, repeat(rest)))  # C-level when they are dicts
        except TypeError:
            return [m.get(rest) for m in mappings]
    getter = record_getter(path)
    return [getter(r) for r in records]


def _nested(root: Getter[Source], parts: Sequence[str]) -> Getter[Source]:
    if len(parts) == 1:
        key = parts[0]

        def one(obj: Source) -> FieldValue:
            mapping = root(obj)
            return mapping.get(key) if isinstance(mapping, Mapping) else None

        return one

    def many(obj: Source) -> FieldValue:
        value = root(obj)
        for part in parts:
            if not isinstance(value, Mapping):
                return None
            value = value.get(part)
        return value

    return many


def format_number(value: float) -> str:
    """`1000.0` -> `1000`, `2.5` -> `2.5`: integral numbers print without a decimal point."""
    if math.isfinite(value) and value == int(value):
        return str(int(value))
    return repr(float(value))


def value_label(value: FieldValue) -> str:
    """The text label of a field value in a stratum key."""
    if value is None:
        return MISSING
    if isinstance(value, str):
        return value if value else MISSING
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return MISSING if isinstance(value, float) and math.isnan(value) else format_number(value)
    if isinstance(value, (list, tuple)):
        return ",".join(value_label(item) for item in value) if value else MISSING
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str).decode()


def bucket_labels(edges: Sequence[float]) -> tuple[str, ...]:
    """Readable labels of the buckets cut by sorted `edges`: `<1000`, `1000–3000`, `>=10000`."""
    names = [format_number(edge) for edge in edges]
    labels = [f"<{names[0]}"]
    labels.extend(f"{low}–{high}" for low, high in zip(names, names[1:], strict=False))
    labels.append(f">={names[-1]}")
    return tuple(labels)


def bucket_label(value: FieldValue, edges: Sequence[float], labels: Sequence[str]) -> str:
    """The bucket of a numeric value; a missing or non-numeric value is `(missing)`."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return MISSING  # (`value != value`: NaN, without math.isnan's overflow on a 400-digit integer)
    low, high = 0, len(edges)
    while low < high:  # bisect_right: a value equal to an edge goes to the bucket it starts
        mid = (low + high) // 2
        if value < edges[mid]:
            high = mid
        else:
            low = mid + 1
    return labels[low]


@dataclass(frozen=True, slots=True)
class Dimension:
    """One `[[strata]]` table: a field cut by `edges`, folded by `top`, or limited to `values`."""

    field: str
    top: int | None = None
    edges: tuple[float, ...] | None = None
    values: tuple[str, ...] | None = None
    label: str | None = None

    @property
    def folds(self) -> bool:
        """True when the final label depends on frequencies over the whole window (`top`)."""
        return self.top is not None

    def labeler(self) -> Callable[[FieldValue], str]:
        """value -> raw label (before any `top` fold)."""
        if self.edges is not None:
            edges, labels = self.edges, bucket_labels(self.edges)
            return lambda value: bucket_label(value, edges, labels)
        if self.values is not None:
            allowed = frozenset(self.values)

            def listed(value: FieldValue) -> str:
                label = value_label(value)
                return label if label in allowed or label == MISSING else OTHER

            return listed
        return value_label

    def to_json(self) -> JsonObject:
        out: JsonObject = {"field": self.field}
        if self.top is not None:
            out["top"] = self.top
        if self.edges is not None:
            out["edges"] = list(self.edges)
        if self.values is not None:
            out["values"] = list(self.values)
        if self.label is not None:
            out["label"] = self.label
        return out


FOLDED_VALUES_FACTOR = 10  # raw values a `top` dimension may hold, per allowed stratum


def check_strata_count(
    dims: Sequence[Dimension], distinct: Sequence[int], combinations: int, max_strata: int, *, source: str | None
) -> None:
    """Stop a window whose strata would outgrow memory, naming the field and the fix (exit 2).

    `distinct[i]` is the number of raw labels dimension i has met so far, `combinations`
    the raw label combinations. A dimension without `top` has a stratum per label, so it
    may hold `max_strata`; one with `top` folds only once every value is counted, so its
    raw labels are bounded too, at `FOLDED_VALUES_FACTOR` times that.
    """
    for i, (dim, count) in enumerate(zip(dims, distinct, strict=True)):
        limit = max_strata * (FOLDED_VALUES_FACTOR if dim.folds else 1)
        if count <= limit:
            continue
        if dim.folds:
            fix = (
                f"more than {FOLDED_VALUES_FACTOR} x max_strata = {max_strata:,}, and `top` folds only after "
                "every value is counted: stratify by a coarser field, list the values (values = [...]), "
                "or raise max_strata"
            )
        else:
            fix = (
                f"a stratum each, more than max_strata = {max_strata:,}: add `top = 20` to this [[strata]] "
                f"table (the 20 most frequent values, the rest in {OTHER}), cut it with `edges`, or raise max_strata"
            )
        raise ConfigError(
            f"'{dim.field}' has {count:,} distinct values so far, {fix}",
            path=source,
            field=f"strata[{i}]",
        )
    limit = max_strata * (FOLDED_VALUES_FACTOR if any(d.folds for d in dims) else 1)
    if combinations > limit and dims:
        widest = max(range(len(dims)), key=lambda i: distinct[i])
        raise ConfigError(
            f"{' x '.join(d.field for d in dims)}: {combinations:,} combinations so far, more strata than "
            f"max_strata = {max_strata:,} allows ({limit:,}); add `top = 20` to the widest dimension "
            f"('{dims[widest].field}', {distinct[widest]:,} values), or raise max_strata",
            path=source,
            field="strata",
        )


def top_values(counts: Mapping[str, int], top: int) -> frozenset[str]:
    """The `top` most frequent labels (ties broken by label); `(missing)` is never folded or counted."""
    ranked = sorted(((-n, label) for label, n in counts.items() if label not in (MISSING, OTHER)))
    return frozenset(label for _, label in ranked[:top])


def fold(label: str, kept: frozenset[str]) -> str:
    return label if label in kept or label in (MISSING, OTHER) else OTHER


def stratum_key(labels: Iterable[str]) -> str:
    return KEY_SEPARATOR.join(labels)


def stratum_of(labels: Sequence[str]) -> str:
    """The stratum key of folded labels (`(all)` when the policy has no dimensions)."""
    return stratum_key(labels) if labels else ALL


__all__ = [
    "KEY_SEPARATOR",
    "MISSING",
    "OTHER",
    "Dimension",
    "bucket_label",
    "bucket_labels",
    "check_path",
    "check_strata_count",
    "fold",
    "format_number",
    "dig",
    "normalize_top",
    "raw_column",
    "raw_getter",
    "record_column",
    "record_getter",
    "source_value",
    "stratum_key",
    "stratum_of",
    "top_values",
    "value_label",
]
