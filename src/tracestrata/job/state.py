"""The state store: one SQLite file holding everything a scheduled run must remember.

    windows   per source: the windows done (the next run starts after the last one)
    runs      every window run: policy digest, series, cells (the design), counts, status
    sampled   every trace a run selected, with its cell (what the ledger turns into units)
    items     every item a run planned to write, per sink, with its deterministic id and status
    boost     per source and boost cluster: traces collected so far (also per one-shot `sample --state` run)
    scores    scores read back from the backend, by (trace, name, identifier)
    cursors   small named values, e.g. when scores were last read
    policies  every policy used, by digest (what produced each series)

One transaction per step (plan a window, mark a batch written, finish a window, store
scores), so a run killed at any point leaves a consistent file and the next run picks
up where it stopped. WAL mode lets `report --ledger` read while a sync writes.

`PRAGMA user_version` holds the schema version. Older files are upgraded one step at a
time; a file from a newer tracestrata, or without an upgrade path, is a `StateError`.

`lock_state` takes an exclusive, non-blocking `flock` on the state file itself (its
device and inode, so a symlink, another spelling or a hard link share one lock): a second
run on the same state fails at once with `LockedError` (exit 5) instead of waiting.

A path is checked before it is touched: a folder, a device, a pipe or a file that is not
SQLite is refused with one line and left as it was (no mode change, nothing written); the
store is narrowed to 0600 only once it has been read as a tracestrata store. Readers
(`status`, `report --ledger`, `plan --ledger`) open it read-only, so they work on a
read-only mount and never write into a file they were pointed at. A row edited by hand
into something unreadable is one `StateError` naming the table, the row and the fix.
"""

from __future__ import annotations

import contextlib
import functools
import fcntl
import json
import os
import sqlite3
import stat
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
ONE_SHOT = "sample|"  # boost rows of one-shot `sample --state` runs: this prefix and the run's source and window
SQLITE_MAGIC = b"SQLite format 3\x00"

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

    The lock is a `flock` on the store file itself (created 0600 if new, after the path is
    checked), so it belongs to the file's identity: two configs naming the same store
    through a symlink, another spelling or a hard link take the same lock. (SQLite's own
    locks are POSIX record locks, independent of `flock`.)
    """
    path = Path(path)
    check_state_path(path, must_exist=False)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o600)
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


def check_state_path(path: Path, *, must_exist: bool) -> None:
    """Refuse, touching nothing, a path that is not (or cannot become) a state store."""
    if str(path) == ":memory:":
        return
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if must_exist:
            raise StateError("no such state file", path=str(path)) from None
        return
    except OSError as exc:
        raise StateError(f"cannot open the state store: {exc.strerror or exc}", path=str(path)) from None
    if stat.S_ISDIR(info.st_mode):
        raise StateError("is a folder, not a state file: name a file in it (e.g. state.sqlite)", path=str(path))
    if not stat.S_ISREG(info.st_mode):
        raise StateError("not a regular file (a device, pipe or socket): name a state file", path=str(path))
    if info.st_size == 0:
        if must_exist:
            raise StateError("an empty file, not a state store: no sync has written it yet", path=str(path))
        return  # a new store (e.g. made by `touch`)
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise StateError(f"cannot read the state store: {exc.strerror or exc}", path=str(path)) from None
    if head != SQLITE_MAGIC:
        raise StateError(
            "not a readable state store (not an SQLite file): name another path, or move this file away",
            path=str(path),
        )


def _create_private(path: Path) -> None:
    """Create a new store readable by its owner only (0600: it holds trace ids and metadata); SQLite
    gives its -wal and -shm files the database file's mode."""
    if str(path) != ":memory:" and not path.exists():
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))


def _narrow(path: Path) -> None:
    """An existing store, once read as one, is narrowed to 0600 (never a file we refused)."""
    if str(path) == ":memory:":
        return
    info = path.stat()
    if stat.S_ISREG(info.st_mode) and info.st_mode & 0o077 and info.st_uid == os.getuid():
        os.chmod(path, 0o600)


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """Open for reading only; on a read-only mount (no -shm can be made) as an immutable file."""
    uri = Path(os.path.abspath(path)).as_uri()
    try:
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, timeout=30)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.OperationalError:
        if os.access(path.parent, os.W_OK):
            raise
    return sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None, timeout=30)


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
        """`create=False`: a reader (status, reports) that opens an existing store read-only."""
        self.path = Path(path)
        check_state_path(self.path, must_exist=not create)
        self.db: sqlite3.Connection | None = None
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                _create_private(self.path)
                self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self._upgrade()
                self._verify()
                _narrow(self.path)
            else:
                self.db = _connect_readonly(self.path)
                self._check_readable_version()
                self._verify()
        except BaseException as exc:
            if self.db is not None:
                self.db.close()
            if isinstance(exc, sqlite3.OperationalError) and "disk is full" in str(exc):
                raise StateError(f"cannot write the state store: {exc}; free some space and rerun", path=str(self.path)) from None
            if isinstance(exc, (sqlite3.DatabaseError, UnicodeDecodeError)):  # bytes that are not text: hand-edited
                raise StateError(f"not a readable state store ({exc})", path=str(self.path)) from None
            if isinstance(exc, OSError):
                raise StateError(f"cannot open the state store: {exc.strerror or exc}", path=str(self.path)) from None
            raise

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.db is not None:
            self.db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write step; a full disk or read-only store is one line naming the file (nothing half-done)."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
            hint = "free some space and rerun (what was done is kept)" if "full" in str(exc) else "check the file and its folder are writable"
            raise StateError(f"cannot write the state store: {exc}; {hint}", path=str(self.path)) from None

    def _check_readable_version(self) -> None:
        version = int(self.db.execute("PRAGMA user_version").fetchone()[0])
        if version == 0:
            raise StateError("not a tracestrata state store (an SQLite file without its tables)", path=str(self.path))
        if version > SCHEMA_VERSION:
            raise StateError(
                f"written by a newer tracestrata (schema {version}; this version reads up to {SCHEMA_VERSION})",
                path=str(self.path),
            )
        if version < SCHEMA_VERSION:
            raise StateError(
                f"written by an older tracestrata (schema {version}): run `tracestrata sync` once to upgrade it",
                path=str(self.path),
            )

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
        self._check_rows()

    def _check_rows(self) -> None:
        """Rows every command reads (runs, windows), checked in SQL before anything is done, so a
        hand-edited row stops a run with one line before it writes anything."""
        for table, key, column, bad, want in _ROW_CHECKS:
            row = self.db.execute(f"SELECT {key}, {column} FROM {table} WHERE {bad} LIMIT 1").fetchone()
            if row is not None:
                error = damaged(table, f"{key} {str(row[0])[:40]!r}", column, f"is not {want} (got {str(row[1])[:40]!r})")
                error.path = str(self.path)
                raise error

    @property
    def version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    # -- windows and runs ------------------------------------------------------------------

    def done_until(self, source: str) -> datetime | None:
        row = self.db.execute("SELECT max(window_end) FROM windows WHERE source = ?", (source,)).fetchone()
        if not row or not row[0]:
            return None
        return _read("windows", f"window_end {str(row[0])[:40]!r}", "window_end", row[0], _time, "a UTC time")

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

    def sampled_runs(self, source: str, *, ending_after: datetime | None = None) -> list[RunRow]:
        """The runs of `source` whose sample is written, whole or in part (done, writing or partial),
        ending after `ending_after` when given (a reporting period): what the judge judges and
        `sync` reads scores for."""
        return [
            r
            for r in self.runs(source, status=None)
            if r.status in SAMPLED_STATUSES and (ending_after is None or r.window_end > ending_after)
        ]

    def traffic(self, source: str, since: datetime, until: datetime) -> list[tuple[datetime, datetime, int]]:
        """(start, end, traces) of every sampled window of `source` inside [since, until), one per window."""
        rows = self.db.execute(
            "SELECT window_start, window_end, counts FROM runs WHERE source = ? AND window_start >= ? "
            "ORDER BY window_start, started_at",
            (source, format_timestamp(since - timedelta(days=1))),  # a margin: the exact cut is below
        )
        by_start: dict[datetime, tuple[datetime, datetime, int]] = {}
        for start_text, end_text, counts in rows:
            where = f"window_start {str(start_text)[:40]!r}"
            start = _read("runs", where, "window_start", start_text, _time, "a UTC time")
            end = _read("runs", where, "window_end", end_text, _time, "a UTC time")
            if since <= start and end <= until:
                data = _read("runs", where, "counts", counts, _json_of(dict), "a JSON object")
                by_start[start] = (start, end, _read("runs", where, "counts.traces", data.get("traces", 0), _int, "an integer"))
        return list(by_start.values())

    def next_series(self, source: str, policy_digest: str, policy: Mapping[str, Any] | None = None) -> int:
        """The series a new run of this digest belongs to: a change of what the policy samples
        starts a new one; a change of its `[review]` subsample alone (given `policy`) does not."""
        last = self.last_run(source)
        if last is None:
            return 1
        if last.policy_digest == policy_digest:
            return last.series
        before = self.policy(last.policy_digest)
        if policy is not None and before is not None and sampling_part(before) == sampling_part(policy):
            return last.series
        return last.series + 1

    # -- identity ----------------------------------------------------------------------------

    def sources(self) -> list[str]:
        """Every source key with a run or a done window, oldest first."""
        rows = self.db.execute(
            "SELECT source, min(started_at) FROM runs GROUP BY source "
            "UNION ALL SELECT source, min(done_at) FROM windows GROUP BY source"
        )
        first: dict[str, str] = {}
        for source, stamp in rows:
            first[source] = min(first.get(source, stamp), stamp)
        return sorted(first, key=lambda s: (first[s], s))

    def older_key(self, key: str, identity: Callable[[str], str]) -> str | None:
        """The key an older version gave the source `key` is, when the state has nothing under
        `key` but has a source whose `identity(old key)` is `key` (older keys counted read-back
        options). Of several (a job forked by an older version), the one furthest along, then
        the oldest."""
        known = self.sources()
        if key in known:
            return None
        matches = [old for old in known if identity(old) == key]
        if not matches:
            return None
        until = {old: self.done_until(old) for old in matches}
        epoch = datetime.min.replace(tzinfo=UTC)
        return max(matches, key=lambda o: ((until[o] or epoch), -known.index(o)))

    def adopt_source(self, key: str, identity: Callable[[str], str]) -> str | None:
        """Give `key` the history of the source it is (`older_key`), renamed in one transaction:
        the upgrade step for keys written before read-back options left the identity. Returns
        the old key adopted, or None."""
        old = self.older_key(key, identity)
        if old is None:
            return None
        with self.transaction() as db:
            for table in ("windows", "runs", "boost", "cursors"):
                db.execute(f"UPDATE {table} SET source = ? WHERE source = ?", (key, old))
        return old

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
        return [
            PlannedItem(r[0], r[1], r[2], r[3], _read("items", f"item_id {str(r[0])[:40]!r}", "payload", r[4], _json_of(dict), "a JSON object"))
            for r in rows
        ]

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

    def boost_before(self, run: str) -> dict[str, int]:
        """What every one-shot `sample` run but `run` (its source and window) collected per boost."""
        rows = self.db.execute(
            "SELECT name, sum(collected) FROM boost WHERE substr(source, 1, ?) = ? AND source != ? GROUP BY name",
            (len(ONE_SHOT), ONE_SHOT, ONE_SHOT + run),
        )
        return {name: int(n) for name, n in rows}

    def record_boost(self, run: str, taken: Mapping[str, int]) -> None:
        """Replace what one-shot run `run` collected per boost: a rerun of a window never counts twice."""
        with self.transaction() as db:
            db.execute("DELETE FROM boost WHERE source = ?", (ONE_SHOT + run,))
            db.executemany("INSERT INTO boost VALUES (?, ?, ?)", [(ONE_SHOT + run, k, int(n)) for k, n in taken.items() if n])

    # -- samples and scores -----------------------------------------------------------------

    def sampled(self, run_ids: Sequence[str]) -> list[tuple[str, str, str, dict[str, Any]]]:
        """(run_id, trace_id, cell, attrs) of the given runs."""
        out: list[tuple[str, str, str, dict[str, Any]]] = []
        for chunk in iter_chunks(run_ids, 500):
            marks = ",".join("?" * len(chunk))
            for run_id, trace_id, cell, attrs in self.db.execute(
                f"SELECT run_id, trace_id, cell, attrs FROM sampled WHERE run_id IN ({marks}) ORDER BY rowid", chunk
            ):
                where = f"run_id {str(run_id)[:40]!r}, trace_id {str(trace_id)[:40]!r}"
                out.append((run_id, trace_id, cell, _read("sampled", where, "attrs", attrs, _json_of(dict), "a JSON object")))
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
        out: list[Score] = []
        for r in rows:
            where = f"trace_id {str(r[0])[:40]!r}, name {str(r[1])[:40]!r}"
            value = _read("scores", where, "value", r[3], _score_value, 'a JSON object like {"number": 1.0}')
            updated = _read("scores", where, "updated_at", r[4], _time, "a UTC time") if r[4] else None
            out.append(Score(trace_id=r[0], name=r[1], value=value, identifier=r[2] or None, updated_at=updated))
        return out

    def policy(self, digest: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT policy FROM policies WHERE digest = ?", (digest,)).fetchone()
        return _read("policies", f"digest {digest[:12]!r}", "policy", row[0], _json_of(dict), "a JSON object") if row else None

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


def damaged(table: str, row: str, column: str, why: str) -> StateError:
    """One line for a row edited by hand into something unreadable: table, row, column and the fix."""
    return StateError(f"damaged row in table {table!r} ({row}): {column} {why}; {FIX}")


def _read(table: str, row: str, column: str, value: Any, convert: Callable[[Any], Any], want: str) -> Any:
    try:
        out = convert(value)
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError, RecursionError):
        raise damaged(table, row, column, f"is not {want} (got {str(value)[:40]!r})") from None
    return out


def _json_of(kind: type) -> Callable[[Any], Any]:
    def convert(text: Any) -> Any:
        value = json.loads(text)
        if not isinstance(value, kind):
            raise TypeError(kind.__name__)
        return value

    return convert


def _time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError("not text")
    return parse_timestamp(value)


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError("not an integer")
    return int(value)


def sampling_part(policy: Mapping[str, Any]) -> dict[str, Any]:
    """A policy's JSON without what does not change the first-phase sample (the `[review]`
    subsample drawn inside it)."""
    return {k: v for k, v in policy.items() if k != "review"}


def _run_row(row: Sequence[Any]) -> RunRow:
    where = f"run_id {str(row[0])[:40]!r}"

    def read(column: str, value: Any, convert: Callable[[Any], Any], want: str) -> Any:
        return _read("runs", where, column, value, convert, want)

    return RunRow(
        run_id=row[0],
        source=row[1],
        window_start=read("window_start", row[2], _time, "a UTC time like 2026-01-01T00:00:00Z"),
        window_end=read("window_end", row[3], _time, "a UTC time like 2026-01-01T01:00:00Z"),
        policy_digest=str(row[4]),
        series=read("series", row[5], _int, "an integer"),
        status=read("status", row[6], RunStatus, f"one of {', '.join(s.value for s in RunStatus)}"),
        cells=read("cells", row[9], _json_of(list), "a JSON list"),
        counts=read("counts", row[10], _json_of(dict), "a JSON object"),
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


def _score_value(text: Any) -> ScoreValue:
    value = _decode_value(_json_of(dict)(text))
    if isinstance(value, float) and value != value:
        raise ValueError("nan")
    return value


def _decode_value(data: Mapping[str, Any]) -> ScoreValue:
    if "bool" in data:
        return bool(data["bool"])
    if "label" in data:
        return str(data["label"])
    return float(data["number"])


__all__ = ["SAMPLED_STATUSES", "SCHEMA_VERSION", "ItemStatus", "PlannedItem", "RunRow", "RunStatus", "State", "lock_state"]
