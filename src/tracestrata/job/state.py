"""The state store: one SQLite file holding everything a scheduled run must remember.

    windows   per source: the windows done (the next run starts after the last one)
    runs      every window run: policy digest, series, cells (the design), counts, status
    sampled   every trace a run selected, with its cell (what the ledger turns into units)
    items     every item a run planned to write, per sink, with its deterministic id and status
    boost     per source and boost cluster: traces collected so far
    scores    scores read back from the backend, by (trace, name, identifier)
    cursors   small named values, e.g. when scores were last read
    policies  every policy used, by digest (what produced each series)

One transaction per step (plan a window, mark a batch written, finish a window, store
scores), so a run killed at any point leaves a consistent file and the next run picks
up where it stopped. WAL mode lets `report --ledger` read while a sync writes.

`PRAGMA user_version` holds the schema version. Older files are upgraded one step at a
time; a file from a newer tracestrata, or without an upgrade path, is a `StateError`.

`lock_state` takes an exclusive, non-blocking `flock` on `<state>.lock`: a second run
on the same state fails at once with `LockedError` (exit 5) instead of waiting.
"""

from __future__ import annotations

import contextlib
import functools
import fcntl
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from tracestrata.errors import LockedError, StateError
from tracestrata.protocols import iter_chunks
from tracestrata.record import Score, ScoreValue, format_timestamp, parse_timestamp

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


class RunStatus(StrEnum):
    """A window run: its items are being written, it stopped part-way (the next run goes on), or it is done."""

    WRITING = "writing"
    PARTIAL = "partial"
    DONE = "done"


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
    cells: list[dict[str, Any]]
    counts: dict[str, Any]

    @property
    def window_key(self) -> str:
        return f"{format_timestamp(self.window_start)}/{format_timestamp(self.window_end)}"


@dataclass(frozen=True, slots=True)
class PlannedItem:
    item_id: str
    sink_kind: str
    sink_name: str
    trace_id: str
    payload: dict[str, Any]


def now_text() -> str:
    return format_timestamp(datetime.now(UTC))


@contextlib.contextmanager
def lock_state(path: str | Path) -> Iterator[None]:
    """Hold the exclusive lock of a state store, or raise `LockedError` at once.

    The lock sits beside the resolved path, so two configs naming the same store through
    a symlink or another spelling take the same lock.
    """
    lock_path = Path(f"{Path(path).resolve()}.lock")
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StateError(f"cannot open the state store: {exc.strerror or exc}", path=str(path)) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockedError(
                "another tracestrata run holds this state store; try again when it has finished",
                path=str(path),
            ) from None
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _private(path: Path) -> None:
    """Create the store readable by its owner only (0600: it holds trace ids and metadata); SQLite gives
    its -wal and -shm files the database file's mode. An existing store is narrowed to 0600 too."""
    if str(path) == ":memory:":
        return
    if not path.exists():
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    elif path.stat().st_mode & 0o077 and path.stat().st_uid == os.getuid():
        os.chmod(path, 0o600)


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


class State:
    """An open state store. Use as a context manager; every public write is one transaction."""

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.exists():
            raise StateError("no such state file", path=str(self.path))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _private(self.path)
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self._upgrade()
            self._verify()
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:  # bytes that are not text: hand-edited
            raise StateError(f"not a readable state store ({exc})", path=str(self.path)) from None
        except OSError as exc:
            raise StateError(f"cannot open the state store: {exc.strerror or exc}", path=str(self.path)) from None

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _upgrade(self) -> None:
        version = int(self.db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StateError(
                f"written by a newer tracestrata (schema {version}; this version reads up to {SCHEMA_VERSION})",
                path=str(self.path),
            )
        while version < SCHEMA_VERSION:
            step = MIGRATIONS.get(version)
            if step is None:
                raise StateError(f"no upgrade path from schema {version} to {SCHEMA_VERSION}", path=str(self.path))
            with self.transaction() as db:
                step(db)
                db.execute(f"PRAGMA user_version = {version + 1}")
            version += 1

    def _verify(self) -> None:
        """A corrupt or hand-edited store stops here with one line, not at the first query that trips on it."""
        check = self.db.execute("PRAGMA quick_check").fetchone()
        if not check or check[0] != "ok":
            raise StateError(
                f"corrupt state store ({check[0] if check else 'unreadable'}): restore it from a backup, "
                "or move it away to start over",
                path=str(self.path),
            )
        have = _tables(self.db)
        for table, columns in _expected_tables().items():
            missing = columns - have.get(table, set())
            if missing:
                what = f"table {table!r}" if table not in have else f"columns {sorted(missing)} of {table!r}"
                raise StateError(f"not a tracestrata state store: {what} missing", path=str(self.path))

    @property
    def version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    # -- windows and runs ------------------------------------------------------------------

    def done_until(self, source: str) -> datetime | None:
        row = self.db.execute("SELECT max(window_end) FROM windows WHERE source = ?", (source,)).fetchone()
        return parse_timestamp(row[0]) if row and row[0] else None

    def open_run(self, source: str, window_start: datetime) -> RunRow | None:
        """The unfinished run of this window, if a previous run stopped mid-way."""
        row = self.db.execute(
            f"SELECT * FROM runs WHERE source = ? AND window_start = ? AND status != '{RunStatus.DONE}' "
            "ORDER BY started_at DESC LIMIT 1",
            (source, format_timestamp(window_start)),
        ).fetchone()
        return _run_row(row) if row else None

    def last_run(self, source: str) -> RunRow | None:
        row = self.db.execute(
            "SELECT * FROM runs WHERE source = ? ORDER BY window_start DESC, started_at DESC LIMIT 1", (source,)
        ).fetchone()
        return _run_row(row) if row else None

    def runs(self, source: str | None = None, *, status: RunStatus | None = RunStatus.DONE) -> list[RunRow]:
        query = "SELECT * FROM runs"
        clauses, args = [], []
        if source is not None:
            clauses.append("source = ?")
            args.append(source)
        if status is not None:
            clauses.append("status = ?")
            args.append(status)
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        query += " ORDER BY window_start, started_at"
        return [_run_row(row) for row in self.db.execute(query, args)]

    def traffic(self, source: str, since: datetime, until: datetime) -> list[tuple[datetime, datetime, int]]:
        """(start, end, traces) of every sampled window of `source` inside [since, until), one per window."""
        rows = self.db.execute(
            "SELECT window_start, window_end, counts FROM runs WHERE source = ? AND window_start >= ? "
            "ORDER BY window_start, started_at",
            (source, format_timestamp(since - timedelta(days=1))),  # a margin: the exact cut is below
        )
        by_start: dict[datetime, tuple[datetime, datetime, int]] = {}
        for start_text, end_text, counts in rows:
            start, end = parse_timestamp(start_text), parse_timestamp(end_text)
            if since <= start and end <= until:
                by_start[start] = (start, end, int(json.loads(counts).get("traces", 0)))
        return list(by_start.values())

    def next_series(self, source: str, policy_digest: str) -> int:
        """The series a new run of this digest belongs to: a policy change starts a new one."""
        last = self.last_run(source)
        if last is None:
            return 1
        return last.series if last.policy_digest == policy_digest else last.series + 1

    def plan_run(
        self,
        *,
        run_id: str,
        source: str,
        window_start: datetime,
        window_end: datetime,
        policy_digest: str,
        series: int,
        cells: Sequence[Mapping[str, Any]],
        counts: Mapping[str, Any],
        sampled: Iterable[tuple[str, str, Mapping[str, Any]]],
        items: Iterable[PlannedItem],
        boost_collected: Mapping[str, int],
        policy: Mapping[str, Any] | None = None,
    ) -> None:
        """Record a window's design, its sample and every item to write, before writing any."""
        with self.transaction() as db:
            if policy is not None:
                db.execute(
                    "INSERT INTO policies VALUES (?, ?, ?) ON CONFLICT (digest) DO NOTHING",
                    (policy_digest, _dumps(dict(policy)), now_text()),
                )
            db.execute(
                f"INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, '{RunStatus.WRITING}', ?, NULL, ?, ?)",
                (
                    run_id,
                    source,
                    format_timestamp(window_start),
                    format_timestamp(window_end),
                    policy_digest,
                    series,
                    now_text(),
                    _dumps(list(cells)),
                    _dumps(dict(counts)),
                ),
            )
            db.executemany(
                "INSERT INTO sampled VALUES (?, ?, ?, ?)",
                ((run_id, trace_id, cell, _dumps(dict(attrs))) for trace_id, cell, attrs in sampled),
            )
            db.executemany(
                f"INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, '{ItemStatus.PLANNED}', NULL) "
                "ON CONFLICT (item_id) DO NOTHING",
                (
                    (i.item_id, run_id, i.sink_kind, i.sink_name, i.trace_id, _dumps(i.payload))
                    for i in items
                ),
            )
            for name, collected in boost_collected.items():
                db.execute(
                    "INSERT INTO boost VALUES (?, ?, ?) ON CONFLICT (source, name) DO UPDATE SET collected = excluded.collected",
                    (source, name, int(collected)),
                )

    def pending_items(self, run_id: str) -> list[PlannedItem]:
        rows = self.db.execute(
            "SELECT item_id, sink_kind, sink_name, trace_id, payload FROM items "
            f"WHERE run_id = ? AND status = '{ItemStatus.PLANNED}' ORDER BY rowid",
            (run_id,),
        )
        return [PlannedItem(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]

    def items_of(self, run_ids: Sequence[str], sink_kind: str) -> list[PlannedItem]:
        """Every item of the given runs bound for sinks of `sink_kind`, written or not (what the judge reads)."""
        out: list[PlannedItem] = []
        for chunk in iter_chunks(run_ids, 500):
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                "SELECT item_id, sink_kind, sink_name, trace_id, payload FROM items "
                f"WHERE run_id IN ({marks}) AND sink_kind = ? ORDER BY rowid",
                (*chunk, sink_kind),
            )
            out.extend(PlannedItem(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows)
        return out

    def mark_written(self, item_ids: Sequence[str]) -> None:
        with self.transaction() as db:
            stamp = now_text()
            db.executemany(
                f"UPDATE items SET status = '{ItemStatus.WRITTEN}', written_at = ? WHERE item_id = ?",
                ((stamp, item_id) for item_id in item_ids),
            )

    def set_run_status(self, run_id: str, status: RunStatus) -> None:
        with self.transaction() as db:
            db.execute("UPDATE runs SET status = ? WHERE run_id = ?", (status, run_id))

    def finish_run(self, run: RunRow) -> None:
        """Mark the run done and its window complete for its source, in one step."""
        with self.transaction() as db:
            stamp = now_text()
            db.execute("UPDATE runs SET status = ?, finished_at = ? WHERE run_id = ?", (RunStatus.DONE, stamp, run.run_id))
            db.execute(
                "INSERT INTO windows VALUES (?, ?, ?, ?, ?) ON CONFLICT (source, window_start) DO UPDATE "
                "SET run_id = excluded.run_id, done_at = excluded.done_at",
                (run.source, format_timestamp(run.window_start), format_timestamp(run.window_end), run.run_id, stamp),
            )

    def update_counts(self, run_id: str, counts: Mapping[str, Any]) -> None:
        with self.transaction() as db:
            db.execute("UPDATE runs SET counts = ? WHERE run_id = ?", (_dumps(dict(counts)), run_id))

    def item_counts(self, run_id: str | None = None) -> dict[str, int]:
        query = "SELECT status, count(*) FROM items"
        args: tuple[Any, ...] = ()
        if run_id is not None:
            query += " WHERE run_id = ?"
            args = (run_id,)
        return {status: n for status, n in self.db.execute(query + " GROUP BY status", args)}

    # -- boost -------------------------------------------------------------------------------

    def boost_collected(self, source: str) -> dict[str, int]:
        rows = self.db.execute("SELECT name, collected FROM boost WHERE source = ?", (source,))
        return {name: int(n) for name, n in rows}

    # -- samples and scores -----------------------------------------------------------------

    def sampled(self, run_ids: Sequence[str]) -> list[tuple[str, str, str, dict[str, Any]]]:
        """(run_id, trace_id, cell, attrs) of the given runs."""
        out: list[tuple[str, str, str, dict[str, Any]]] = []
        for chunk in iter_chunks(run_ids, 500):
            marks = ",".join("?" * len(chunk))
            for run_id, trace_id, cell, attrs in self.db.execute(
                f"SELECT run_id, trace_id, cell, attrs FROM sampled WHERE run_id IN ({marks}) ORDER BY rowid", chunk
            ):
                out.append((run_id, trace_id, cell, json.loads(attrs)))
        return out

    def store_scores(self, scores: Iterable[Score]) -> int:
        """Upsert scores; returns how many were new or changed."""
        changed = 0
        stamp = now_text()
        with self.transaction() as db:
            for score in scores:
                key = (score.trace_id, score.name, score.identifier or "")
                value = _dumps(_encode_value(score.value))
                updated = format_timestamp(score.updated_at) if score.updated_at else None
                row = db.execute(
                    "SELECT value, updated_at FROM scores WHERE trace_id = ? AND name = ? AND identifier = ?", key
                ).fetchone()
                if row is not None and row[0] == value and row[1] == updated:
                    continue
                changed += 1
                db.execute(
                    "INSERT INTO scores VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (trace_id, name, identifier) "
                    "DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, read_at = excluded.read_at",
                    (*key, value, updated, stamp),
                )
        return changed

    def scores(self, trace_ids: Sequence[str] | None = None) -> list[Score]:
        rows: list[tuple[Any, ...]] = []
        if trace_ids is None:
            rows = list(self.db.execute("SELECT * FROM scores ORDER BY trace_id, name, identifier"))
        else:
            for chunk in iter_chunks(trace_ids, 500):
                marks = ",".join("?" * len(chunk))
                rows.extend(
                    self.db.execute(
                        f"SELECT * FROM scores WHERE trace_id IN ({marks}) ORDER BY trace_id, name, identifier", chunk
                    )
                )
        return [
            Score(
                trace_id=r[0],
                name=r[1],
                value=_decode_value(json.loads(r[3])),
                identifier=r[2] or None,
                updated_at=parse_timestamp(r[4]) if r[4] else None,
            )
            for r in rows
        ]

    def policy(self, digest: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT policy FROM policies WHERE digest = ?", (digest,)).fetchone()
        return json.loads(row[0]) if row else None

    def get_cursor(self, source: str, name: str) -> str | None:
        row = self.db.execute("SELECT value FROM cursors WHERE source = ? AND name = ?", (source, name)).fetchone()
        return str(row[0]) if row else None

    def set_cursors(self, source: str, values: Mapping[str, str]) -> None:
        """Several cursors in one transaction."""
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO cursors VALUES (?, ?, ?) ON CONFLICT (source, name) DO UPDATE SET value = excluded.value",
                [(source, name, value) for name, value in values.items()],
            )

    def cursors_named(self, source: str, names: Sequence[str]) -> dict[str, str]:
        """The cursors among `names` that are set."""
        out: dict[str, str] = {}
        for chunk in iter_chunks(names, 500):
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT name, value FROM cursors WHERE source = ? AND name IN ({marks})", (source, *chunk)
            )
            out.update({str(n): str(v) for n, v in rows})
        return out

    def set_cursor(self, source: str, name: str, value: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO cursors VALUES (?, ?, ?) ON CONFLICT (source, name) DO UPDATE SET value = excluded.value",
                (source, name, value),
            )


def _run_row(row: Sequence[Any]) -> RunRow:
    return RunRow(
        run_id=row[0],
        source=row[1],
        window_start=parse_timestamp(row[2]),
        window_end=parse_timestamp(row[3]),
        policy_digest=row[4],
        series=int(row[5]),
        status=RunStatus(row[6]),
        cells=json.loads(row[9]),
        counts=json.loads(row[10]),
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _encode_value(value: ScoreValue) -> dict[str, Any]:
    # keep the type: JSON alone cannot tell 1.0 from True once a float is integral
    if isinstance(value, bool):
        return {"bool": value}
    if isinstance(value, str):
        return {"label": value}
    return {"number": float(value)}


def _decode_value(data: Mapping[str, Any]) -> ScoreValue:
    if "bool" in data:
        return bool(data["bool"])
    if "label" in data:
        return str(data["label"])
    return float(data["number"])


__all__ = ["SCHEMA_VERSION", "ItemStatus", "PlannedItem", "RunRow", "RunStatus", "State", "lock_state"]
