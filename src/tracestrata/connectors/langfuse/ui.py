"""Links into the Langfuse UI: the project's traces table filtered to one stratum and a period.

The traces table (`/project/<projectId>/traces`) reads its filters from the `filter` query
parameter and its time range from `dateRange`. The format below was read from Langfuse's web
source at commit 62751446149b702b419a9292ddfc2280cdf74b8c (github.com/langfuse/langfuse):
`packages/shared/src/features/filters/filterQueryEncoding.ts` (`encodeFiltersGeneric` /
`decodeFiltersGeneric`), `web/src/features/filters/hooks/useSidebarFilterState.tsx` (the
traces table reads `filter` with them), `packages/shared/src/tableDefinitions/tracesTable.ts`
(column ids and types), `packages/shared/src/interfaces/filters.ts` (operators),
`web/src/utils/date-range-utils.ts` (`rangeFromString`) and
`web/src/features/dashboard/lib/buildTableFilterHref.ts` (how Langfuse itself builds such a link):

- `filter` is the filters joined by `,`; each is `column;type;key;operator;value`, the key only
  for `stringObject`/`numberObject`/`booleanObject`/`categoryOptions` (decoded with
  `decodeURIComponent`), the value percent-encoded, an options value being its items joined
  by `|` (a `|` or `\\` inside an item escaped with `\\`). The whole parameter is
  percent-encoded once more as the query value.
- `dateRange` is `<from ms>-<to ms>` (epoch milliseconds, both ends inclusive).

Nothing here could be opened in a real Langfuse UI on this machine (it needs ClickHouse, Redis
and S3); docs/report.md says so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote, unquote

from tracestrata.design import MISSING, OTHER
from tracestrata.policy.strata import KEY_SEPARATOR, format_number

SOURCE_COMMIT = "62751446149b702b419a9292ddfc2280cdf74b8c"
_JS_SAFE = "-_.!~*'()"  # what `encodeURIComponent` leaves alone
_KEYED = frozenset({"stringObject", "numberObject", "booleanObject", "categoryOptions"})
_OPTIONS = frozenset({"stringOptions", "arrayOptions", "categoryOptions"})

# record field -> (traces-table column id, filter type) for fields whose value is one text
_TEXT_COLUMNS: dict[str, tuple[str, str]] = {
    "release": ("release", "string"),
    "version": ("version", "string"),
    "user_id": ("userId", "string"),
    "session_id": ("sessionId", "string"),
}
# numeric record field -> (column id, the record's units per column unit)
_NUMBER_COLUMNS: dict[str, tuple[str, float]] = {
    "latency_ms": ("latency", 1000.0),  # "Latency (s)"
    "cost": ("totalCost", 1.0),  # "Total Cost ($)"
}
_NUMBER = r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?"
_BUCKET = re.compile(rf"^(?:<(?P<below>{_NUMBER})|>=(?P<above>{_NUMBER})|(?P<low>{_NUMBER})–(?P<high>{_NUMBER}))$")


@dataclass(frozen=True)
class TableFilter:
    """One entry of the traces table's filter state."""

    column: str
    type: str
    operator: str
    value: str | float | tuple[str, ...]
    key: str = ""


def _js_quote(text: str) -> str:
    return quote(text, safe=_JS_SAFE)


def _escape_pipe(item: str) -> str:
    return item.replace("\\", "\\\\").replace("|", "\\|")


def _encode_value(f: TableFilter) -> str:
    if f.type in _OPTIONS:
        assert isinstance(f.value, tuple)
        return _js_quote("|".join(_escape_pipe(v) for v in f.value))
    if isinstance(f.value, float):
        return _js_quote(format_number(f.value))
    return _js_quote(str(f.value))


def encode_filters(filters: Sequence[TableFilter]) -> str:
    """The `filter` parameter's value (before the query string's own encoding)."""
    return ",".join(
        f"{f.column};{f.type};{_js_quote(f.key) if f.type in _KEYED else ''};{f.operator};{_encode_value(f)}"
        for f in filters
    )


def _split_pipes(text: str) -> list[str]:
    items, current, i = [], "", 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            current += text[i : i + 2]
            i += 2
        elif text[i] == "|":
            items.append(current)
            current, i = "", i + 1
        else:
            current += text[i]
            i += 1
    items.append(current)
    return [re.sub(r"\\(.)", r"\1", item) for item in items]


def decode_filters(text: str) -> list[TableFilter]:
    """The inverse of `encode_filters`, as Langfuse's `decodeFiltersGeneric` reads the parameter."""
    out = []
    for part in text.split(","):
        if not part:
            continue
        column, kind, key, operator, value = part.split(";")
        raw = unquote(value)
        parsed: str | float | tuple[str, ...]
        if kind in _OPTIONS:
            parsed = tuple(_split_pipes(raw)) if raw else ()
        elif kind in ("number", "numberObject"):
            parsed = float(raw)
        else:
            parsed = raw
        out.append(TableFilter(column, kind, unquote(operator), parsed, unquote(key) if kind in _KEYED else ""))
    return out


def date_range(start: datetime, end: datetime) -> str:
    """The `dateRange` value for the half-open window [start, end): Langfuse's `to` is inclusive."""
    last = end - timedelta(milliseconds=1)
    return f"{int(start.timestamp() * 1000)}-{int(last.timestamp() * 1000)}"


def _number_filters(field: str, label: str) -> list[TableFilter]:
    column, per_unit = _NUMBER_COLUMNS[field]
    match = _BUCKET.match(label)

    def bound(operator: str, text: str) -> TableFilter:
        return TableFilter(column, "number", operator, float(text) / per_unit)  # 300 ms: 0.3, not 0.30000000000000004

    if match is None:
        return [bound("=", label)] if re.fullmatch(_NUMBER, label) else []
    if match["below"] is not None:
        return [bound("<", match["below"])]
    if match["above"] is not None:
        return [bound(">=", match["above"])]
    return [bound(">=", match["low"]), bound("<", match["high"])]


def dimension_filters(field: str, label: str) -> list[TableFilter]:
    """The traces-table filters selecting traces whose `field` has stratum label `label`.

    Empty when the table cannot express it (then the link shows a superset of the stratum):
    `(other)`, a missing metadata value or tag list, nested metadata, `scores.*`,
    `span_id`, `source.*`. Tags match with "all of" (a trace carrying more tags matches too).
    """
    if label == OTHER:
        return []
    head, _, rest = field.partition(".")
    if head == "metadata" and rest and "." not in rest:
        return [] if label == MISSING else [TableFilter("metadata", "stringObject", "=", label, key=rest)]
    if field == "name":
        if label == MISSING:
            return [TableFilter("traceName", "null", "is null", "")]
        return [TableFilter("traceName", "stringOptions", "any of", (label,))]
    if field in _TEXT_COLUMNS:
        column, kind = _TEXT_COLUMNS[field]
        if label == MISSING:
            return [TableFilter(column, "null", "is null", "")]
        return [TableFilter(column, kind, "=", label)]
    if field == "tags":
        return [] if label == MISSING else [TableFilter("traceTags", "arrayOptions", "all of", tuple(label.split(",")))]
    if field == "status":
        operator = {"error": "any of", "ok": "none of"}.get(label)
        return [TableFilter("level", "stringOptions", operator, ("ERROR",))] if operator else []
    if field in _NUMBER_COLUMNS and label != MISSING:
        return _number_filters(field, label)
    return []


def stratum_filters(dimensions: Sequence[str], stratum: str) -> list[TableFilter] | None:
    """Filters for every dimension of a stratum key; None when the key does not split into one
    label per dimension (a label holding the key separator)."""
    labels = stratum.split(KEY_SEPARATOR) if dimensions else []
    if len(labels) != len(dimensions):
        return None
    return [f for field, label in zip(dimensions, labels, strict=True) for f in dimension_filters(field, label)]


def filtered_traces_url(project_url: str, filters: Sequence[TableFilter], start: datetime, end: datetime) -> str:
    """The project's traces table with `filters` applied and the date range [start, end)."""
    query = [f"filter={_js_quote(encode_filters(filters))}"] if filters else []
    query.append(f"dateRange={_js_quote(date_range(start, end))}")
    return f"{project_url}/traces?" + "&".join(query)


__all__ = [
    "SOURCE_COMMIT",
    "TableFilter",
    "date_range",
    "decode_filters",
    "dimension_filters",
    "encode_filters",
    "filtered_traces_url",
    "stratum_filters",
]
