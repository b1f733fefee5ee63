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

import sqlite3
from collections.abc import Mapping
from pathlib import Path

from tracestrata.errors import StateError
from tracestrata.job.state_file import _connect_readonly, _create_private, _narrow, check_state_path, lock_state
from tracestrata.job.state_rows import damaged
from tracestrata.job.state_runs import RunLog
from tracestrata.job.state_schema import _ROW_CHECKS, MIGRATIONS, SCHEMA_VERSION, _expected_tables, _tables
from tracestrata.job.state_scores import ScoreLog

ONE_SHOT = "sample|"  # boost rows of one-shot `sample --state` runs: this prefix and the run's source and window


class State(RunLog, ScoreLog):
    """An open state store. Use as a context manager; every public write is one transaction.

    The reads and writes live in the table stores it is made of (`RunLog`: windows, runs and
    items; `ScoreLog`: scores, cursors, policies); this class opens, checks and upgrades the file."""

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


__all__ = ["ONE_SHOT", "State"]
