"""The state store's schema: its tables, the upgrade from each version to the next, and the
row checks every open runs (what `State` verifies before a command reads or writes).

`PRAGMA user_version` holds the schema version. Older files are upgraded one step at a
time; a file from a newer tracestrata, or without an upgrade path, is a `StateError`.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable

SCHEMA_VERSION = 3

_V1 = """
CREATE TABLE windows (
    source TEXT NOT NULL, window_start TEXT NOT NULL, window_end TEXT NOT NULL,
    run_id TEXT NOT NULL, done_at TEXT NOT NULL,
    PRIMARY KEY (source, window_start)
);
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY, source TEXT NOT NULL,
    window_start TEXT NOT NULL, window_end TEXT NOT NULL,
    policy_digest TEXT NOT NULL, series INTEGER NOT NULL,
    status TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT,
    cells TEXT NOT NULL, counts TEXT NOT NULL
);
CREATE INDEX runs_by_source ON runs (source, window_start);
CREATE TABLE sampled (
    run_id TEXT NOT NULL, trace_id TEXT NOT NULL, cell TEXT NOT NULL, attrs TEXT NOT NULL,
    PRIMARY KEY (run_id, trace_id)
);
CREATE TABLE items (
    item_id TEXT PRIMARY KEY, run_id TEXT NOT NULL, sink_kind TEXT NOT NULL, sink_name TEXT NOT NULL,
    trace_id TEXT NOT NULL, payload TEXT NOT NULL, status TEXT NOT NULL, written_at TEXT
);
CREATE INDEX items_by_run ON items (run_id, status);
CREATE TABLE boost (
    source TEXT NOT NULL, name TEXT NOT NULL, collected INTEGER NOT NULL,
    PRIMARY KEY (source, name)
);
CREATE TABLE scores (
    trace_id TEXT NOT NULL, name TEXT NOT NULL, identifier TEXT NOT NULL,
    value TEXT NOT NULL, updated_at TEXT, read_at TEXT NOT NULL,
    PRIMARY KEY (trace_id, name, identifier)
);
"""

_V2 = """
CREATE TABLE cursors (source TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (source, name));
"""

_V3 = """
CREATE TABLE policies (digest TEXT PRIMARY KEY, policy TEXT NOT NULL, first_used TEXT NOT NULL);
"""

# version n -> n + 1
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    0: lambda db: _script(db, _V1),
    1: lambda db: _script(db, _V2),
    2: lambda db: _script(db, _V3),
}


def _script(db: sqlite3.Connection, sql: str) -> None:
    # not executescript(): it would commit the surrounding transaction
    for statement in sql.split(";"):
        if statement.strip():
            db.execute(statement)



def _tables(db: sqlite3.Connection) -> dict[str, set[str]]:
    names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {name: {str(c[1]) for c in db.execute(f"PRAGMA table_info({name!r})")} for name in names}


@functools.cache
def _expected_tables() -> dict[str, set[str]]:
    """The tables and columns every migration together creates (built once, in memory)."""
    db = sqlite3.connect(":memory:")
    try:
        for version in range(SCHEMA_VERSION):
            MIGRATIONS[version](db)
        return _tables(db)
    finally:
        db.close()

FIX = "restore the state file from a backup, or delete that row (its window is then sampled again)"

_TIME = "a UTC time like 2026-01-01T00:00:00Z"


def _bad_time(column: str) -> str:
    return f"(typeof({column}) != 'text' OR datetime({column}) IS NULL OR {column} >= '9999')"


def _bad_json(column: str, kind: str) -> str:
    return f"(CASE WHEN typeof({column}) = 'text' AND json_valid({column}) THEN json_type({column}) END IS NOT '{kind}')"


def _bad_count(name: str) -> str:
    return f"(CASE WHEN json_valid(counts) THEN json_type(counts, '$.{name}') END NOT IN ('integer'))"


_ROW_CHECKS = (
    ("runs", "run_id", "status", "status NOT IN ('writing', 'partial', 'done')", "one of writing, partial, done"),
    ("runs", "run_id", "window_start", _bad_time("window_start"), _TIME),
    ("runs", "run_id", "window_end", _bad_time("window_end"), _TIME),
    ("runs", "run_id", "series", "typeof(series) != 'integer'", "an integer"),
    ("runs", "run_id", "cells", _bad_json("cells", "array"), "a JSON list"),
    ("runs", "run_id", "counts", _bad_json("counts", "object"), "a JSON object"),
    ("runs", "run_id", "counts", _bad_count("traces"), 'a JSON object with an integer "traces"'),
    ("runs", "run_id", "counts", _bad_count("selected"), 'a JSON object with an integer "selected"'),
    ("windows", "window_start", "window_end", _bad_time("window_end"), _TIME),
    ("windows", "window_start", "window_start", _bad_time("window_start"), _TIME),
)


__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]
