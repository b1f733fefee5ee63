"""What every table store of the state shares: the open connection, its path, and the
transaction one write step runs in (see `State`, which composes the stores)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from tracestrata.errors import StateError


class StoreBase:
    """An open connection to a state store; a subclass adds the reads and writes of some tables."""

    path: Path
    db: sqlite3.Connection

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


__all__ = ["StoreBase"]
