"""Export layouts: how the columns of an export map onto the trace record's fields.

A layout is a column mapping (record field path -> DuckDB SQL expression over the
export's columns) and a row filter. The user's `[source.columns]` mapping is laid
over the layout's, key by key. Built in:

- `trace`: the trace record JSON itself (`tracestrata generate`, `sample.jsonl`).
- `langfuse`: the `traces/` table of Langfuse's scheduled blob storage export
  (Parquet, JSON, JSONL or CSV), as its "Blob storage export field reference" lists
  it (checked 2026-12): `id`, `timestamp` (UTC, `YYYY-MM-DD HH:MM:SS.ffffff`),
  `name`, `environment`, `user_id`, `session_id`, `release`, `version`, `tags`,
  `metadata` (an object), `input`, `output`, ... The enriched `observations_v2/`
  table is not built in: map its root observations with `[source.columns]`
  (`id = "trace_id"`, `timestamp = "start_time"`) and `where = "parent_observation_id IS NULL"`.
- `phoenix`: Arize Phoenix spans as `get_spans_dataframe()` writes them (Parquet or
  JSONL, phoenix-client 1.x): flat columns `context.trace_id`, `context.span_id`,
  `parent_id`, `name`, `start_time`, `end_time`, `status_code`, `attributes.metadata`,
  `attributes.user.id`, `attributes.session.id`, `attributes.tag.tags`; a trace is its
  root span (`parent_id IS NULL`), as the Phoenix connector reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tracestrata.errors import ConfigError
from tracestrata.policy.strata import check_path


@dataclass(frozen=True, slots=True)
class Layout:
    name: str
    backend: str
    columns: Mapping[str, str] = field(default_factory=dict)
    where: str | None = None
    mapped_by_user: frozenset[str] = frozenset()

    def with_columns(self, columns: Mapping[str, str], where: str | None = None) -> Layout:
        """This layout with some fields mapped otherwise (and another row filter)."""
        for path, expression in columns.items():
            if path not in ("id", "timestamp") and (problem := check_path(path)):
                raise ConfigError(problem, field=f"source.columns.{path}")
            if not isinstance(expression, str) or not expression.strip():
                raise ConfigError("expected a DuckDB SQL expression over the export's columns", field=f"source.columns.{path}")
        return Layout(
            self.name,
            self.backend,
            {**self.columns, **columns},
            where if where is not None else self.where,
            self.mapped_by_user | frozenset(columns),
        )


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


LAYOUTS: dict[str, Layout] = {
    "trace": Layout("trace", "files"),
    "langfuse": Layout(
        "langfuse",
        "langfuse",
        {
            "id": "id",
            "timestamp": "timestamp",
            "name": "name",
            "user_id": "user_id",
            "session_id": "session_id",
            "release": "release",
            "version": "version",
            "tags": "tags",
            "metadata": "metadata",
        },
    ),
    "phoenix": Layout(
        "phoenix",
        "phoenix",
        {
            "id": _q("context.trace_id"),
            "span_id": _q("context.span_id"),
            "timestamp": "start_time",
            "name": "name",
            "status": f"CASE WHEN {_q('status_code')} = 'ERROR' THEN 'error' ELSE 'ok' END",
            "latency_ms": "(epoch_us(CAST(end_time AS TIMESTAMPTZ)) - epoch_us(CAST(start_time AS TIMESTAMPTZ))) / 1000.0",
            "metadata": _q("attributes.metadata"),
            "user_id": _q("attributes.user.id"),
            "session_id": _q("attributes.session.id"),
            "tags": _q("attributes.tag.tags"),
        },
        where="parent_id IS NULL",
    ),
}


def layout(name: str, where: str = "source.schema") -> Layout:
    try:
        return LAYOUTS[name]
    except KeyError:
        raise ConfigError(f"unknown export schema {name!r} (known: {', '.join(LAYOUTS)})", field=where) from None


__all__ = ["LAYOUTS", "Layout", "layout"]
