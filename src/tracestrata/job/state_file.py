"""The state store as a file: its path checked before it is touched, its lock, how it is opened.

`lock_state` takes an exclusive, non-blocking `flock` on the state file itself (its
device and inode, so a symlink, another spelling or a hard link share one lock): a second
run on the same state fails at once with `LockedError` (exit 5) instead of waiting.

A path is checked before it is touched: a folder, a device, a pipe or a file that is not
SQLite is refused with one line and left as it was (no mode change, nothing written); the
store is narrowed to 0600 only once it has been read as a tracestrata store.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

from tracestrata.errors import LockedError, StateError

SQLITE_MAGIC = b"SQLite format 3\x00"


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


__all__ = ["SQLITE_MAGIC", "check_state_path", "lock_state"]
