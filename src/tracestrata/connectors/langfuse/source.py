"""Trace source and stratum counter: root observations of `GET /api/public/v2/observations`.

A Langfuse trace is read through its root observation (`isRootObservation=true`):
the v2 observations API carries the trace's name, tags and release in the
`trace_context` field group, and pages by an opaque cursor. The window is passed
as `fromStartTime` (inclusive) / `toStartTime` (exclusive), so `[start, end)`
holds on the server. A trace with several root observations in one window (app
roots) is yielded once, for the first one seen.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from langfuse.api.commons.types.observation_v2 import ObservationV2

from tracestrata.design import MISSING
from tracestrata.errors import FatalSourceError
from tracestrata.protocols import FieldCountRequest, JSONObject, JSONValue, Window
from tracestrata.record import SourceRef, TraceRecord, format_timestamp, parse_timestamp

from .client import LangfuseClient
from .models import flat_parser

OBSERVATIONS_PATH = "/api/public/v2/observations"
_parse_observation = flat_parser(ObservationV2)


class CountNotSupported(NotImplementedError):
    """`count` cannot push this `where` down to the metrics API; pull and count instead.

    Raised (never a `TracestrataError`) for filters the Langfuse metrics API cannot
    express, e.g. metadata keys or numeric buckets, always before any request. A
    caller (e.g. `tracestrata plan`) should treat a `NotImplementedError` from a
    `StratumCounter` as "count by pulling the window".
    """


# `where` field (dotted record path) -> (metrics filter column, filter type)
COUNTABLE: dict[str, tuple[str, str]] = {
    "name": ("traceName", "string"),
    "release": ("release", "string"),
    "version": ("version", "string"),
    "environment": ("environment", "string"),
    "tags": ("tags", "arrayOptions"),
}


# `count_by` field -> metrics dimension
GROUPABLE: dict[str, str] = {
    "name": "traceName",
    "release": "release",
    "version": "version",
    "environment": "environment",
    "status": "level",
}
GROUP_ROW_LIMIT = 1000  # the API's maximum `row_limit`


class LangfuseTraceSource:
    def __init__(self, client: LangfuseClient) -> None:
        self.client = client
        self.options = client.options
        self._sources: dict[str | None, SourceRef] = {}

    # -- TraceSource -------------------------------------------------------------------
    def iter_traces(self, window: Window, *, metadata_keys: Sequence[str] = ()) -> Iterator[TraceRecord]:
        expand = sorted({key.split(".", 1)[0] for key in metadata_keys if key})
        seen_traces: set[str] = set()
        for observation in self.iter_root_observations(window, expand):
            record = self.to_record(observation)
            if record.id in seen_traces:
                continue
            seen_traces.add(record.id)
            yield record

    def iter_root_observations(self, window: Window, expand_metadata: Sequence[str] = ()) -> Iterator[ObservationV2]:
        """Every root observation in the window, every page once; a repeated cursor is an error."""
        return self.client.cursor_items(
            "general",
            "list observations",
            OBSERVATIONS_PATH,
            {
                "fields": self.options.fields,
                "expandMetadata": ",".join(expand_metadata) or None,
                "limit": self.options.page_size,
                "isRootObservation": True,
                "environment": list(self.options.environment) or None,
                "fromStartTime": window.start,
                "toStartTime": window.end,
            },
            _parse_observation,
        )

    def to_record(self, obs: ObservationV2) -> TraceRecord:
        return observation_to_record(obs, self._source(obs.project_id))

    def _source(self, project_id: str | None) -> SourceRef:
        project = self.options.project or project_id
        ref = self._sources.get(project)
        if ref is None:
            ref = self._sources[project] = SourceRef("langfuse", project)
        return ref

    # -- StratumCounter ----------------------------------------------------------------
    def count(self, window: Window, where: Mapping[str, Any]) -> int:
        """Root observations in the window matching `where`, via `GET /api/public/v2/metrics`.

        Raises `CountNotSupported` for fields the metrics API cannot filter on.
        """
        query = self._count_query(window, where)
        response = self.client.call(
            "metrics", "count observations", self.client.api.metrics.metrics, query=json.dumps(query)
        )
        total = 0
        for row in response.data:
            total += _count_of(row)
        return total

    def count_by(self, request: FieldCountRequest) -> dict[str, int]:
        """Counts per value of `request.by` in one metrics query (the Hobby plan allows 100 a day).

        Groups by `name`, `release`, `version`, `environment` or `status`; a missing value
        is counted under `(missing)`. Raises `CountNotSupported` for other fields (tags: a
        trace with several tags would count several times) and when the server's row
        limit may have cut the groups.
        """
        window, field, where = request.window, request.by, request.where
        if field not in GROUPABLE:
            raise CountNotSupported(
                f"the Langfuse metrics API cannot group by {field}; it groups by {', '.join(sorted(GROUPABLE))}"
            )
        column = GROUPABLE[field]
        query = self._count_query(window, where)
        query["dimensions"] = [{"field": column}]
        query["config"] = {"row_limit": GROUP_ROW_LIMIT}
        response = self.client.call(
            "metrics", f"count observations by {field}", self.client.api.metrics.metrics, query=json.dumps(query)
        )
        if len(response.data) >= GROUP_ROW_LIMIT:
            raise CountNotSupported(f"more than {GROUP_ROW_LIMIT} values of {field}: count by pulling")
        counts: dict[str, int] = {}
        for row in response.data:
            value = row.get(column)
            if field == "status":
                key = "error" if value == "ERROR" else "ok"
            else:
                key = MISSING if value in (None, "") else str(value)
            counts[key] = counts.get(key, 0) + _count_of(row)
        return counts

    def _count_query(self, window: Window, where: Mapping[str, object]) -> JSONObject:
        return {
            "view": "observations",
            "metrics": [{"measure": "count", "aggregation": "count"}],
            "dimensions": [],
            "filters": [{"column": "isRootObservation", "operator": "=", "value": True, "type": "boolean"}]
            + self._environment_filter()
            + [metrics_filter(field, value) for field, value in where.items()],
            "fromTimestamp": format_timestamp(window.start),
            "toTimestamp": format_timestamp(window.end),
        }

    def _environment_filter(self) -> list[JSONValue]:
        if not self.options.environment:
            return []
        return [
            {
                "column": "environment",
                "operator": "any of",
                "value": list(self.options.environment),
                "type": "stringOptions",
            }
        ]


def metrics_filter(field: str, value: object) -> JSONObject:
    if field == "status":
        if value not in ("ok", "error"):
            raise CountNotSupported(f"status = {value!r}")
        operator = "any of" if value == "error" else "none of"
        return {"column": "level", "operator": operator, "value": ["ERROR"], "type": "stringOptions"}
    if field not in COUNTABLE or not isinstance(value, str):
        raise CountNotSupported(
            f"the Langfuse metrics API cannot count by {field} = {value!r}; "
            f"it filters on {', '.join(sorted(COUNTABLE))} and status only"
        )
    column, kind = COUNTABLE[field]
    if kind == "arrayOptions":
        return {"column": column, "operator": "any of", "value": [value], "type": kind}
    return {"column": column, "operator": "=", "value": value, "type": kind}


def _count_of(row: Mapping[str, JSONValue]) -> int:
    # The row key is `<aggregation>_<measure>` (`count_count`); ClickHouse may send it as a string.
    value = row.get("count_count")
    if value is None:
        value = next((v for k, v in row.items() if k.endswith("count")), 0)
    return int(float(value or 0))


def observation_to_record(obs: ObservationV2, source: SourceRef) -> TraceRecord:
    """Map one root observation (fields basic, metadata, trace_context, metrics, usage)."""
    if not obs.trace_id:
        raise FatalSourceError(f"Langfuse observation {obs.id} has no traceId")
    latency_ms: float | None = None
    if obs.latency is not None:
        latency_ms = obs.latency * 1000.0
    elif obs.end_time is not None:
        latency_ms = (obs.end_time - obs.start_time).total_seconds() * 1000.0
    return TraceRecord(
        id=obs.trace_id,
        timestamp=_utc(obs.start_time),
        name=obs.trace_name if obs.trace_name is not None else obs.name,
        status="error" if obs.level == "ERROR" else "ok",
        latency_ms=latency_ms,
        cost=obs.total_cost,
        tags=tuple(obs.tags or ()),
        metadata=dict(obs.metadata or {}),
        user_id=obs.user_id,
        session_id=obs.session_id,
        release=obs.release,
        version=obs.version,
        span_id=obs.id,
        source=source,
    )


def _utc(moment: datetime) -> datetime:
    return parse_timestamp(moment)


__all__ = ["COUNTABLE", "GROUPABLE", "CountNotSupported", "LangfuseTraceSource", "metrics_filter", "observation_to_record"]
