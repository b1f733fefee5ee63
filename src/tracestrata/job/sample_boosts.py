"""Boost progress across one-shot `tracestrata sample` runs, kept in the job's state store.

`sample` is stateless unless given `--state FILE`: the same traces, policy and seed give the
same sample however often it runs. With it, FILE is a state store (SQLite, the one `sync`
keeps) whose `boost` table holds what each run (source and window) collected, so boost
progress carries across windows and a rerun of a window neither counts twice nor changes
its sample. Boost counts used to live in a JSON file (`tracestrata-boost.json`); such a
file is no longer read, and saying so beats ignoring it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from tracestrata.errors import StateError
from tracestrata.job.state import State
from tracestrata.job.state_file import lock_state

OLD_BOOST_FILE = "tracestrata-boost.json"
"""Where boost counts were kept before they moved into the state store (next to `--out`)."""


def old_boost_file(out: Path) -> Path | None:
    """The old JSON boost file beside `out`, when there is one (no longer read)."""
    old = out.parent / OLD_BOOST_FILE
    return old if old.is_file() else None


def _refuse_old_json(path: Path) -> None:
    """A `--state` naming a JSON file (the old boost counts file) is one line, not "not an SQLite file"."""
    try:
        with path.open("rb") as handle:
            head = handle.read(64).lstrip()
    except OSError:
        return  # missing or unreadable: the state store says why
    if head.startswith(b"{"):
        raise StateError(
            "a JSON file (the old boost counts file?), no longer read: boost counts now live in a state store "
            "(SQLite); name a new file for --state (e.g. boosts.sqlite) and move this one away",
            path=str(path),
        )


@contextlib.contextmanager
def boost_store(path: Path | None) -> Iterator[State | None]:
    """The state store of `--state FILE`, locked and open while the run samples (None: stateless)."""
    if path is None:
        yield None
        return
    _refuse_old_json(path)
    with lock_state(path), State(path) as state:
        yield state


__all__ = ["OLD_BOOST_FILE", "boost_store", "old_boost_file"]
