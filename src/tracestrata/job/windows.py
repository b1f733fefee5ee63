"""Which time windows a scheduled run should process.

Windows are a fixed grid `[start + k*every, start + (k+1)*every)`. A window is
*closed* once its end is at least `settle` in the past: traces take time to arrive
in a backend, and settle is how long we wait for them. Closed windows not yet done
are processed oldest first, at most `cap` per run, so a job that was down for a
day catches up over its next runs without one huge run.

Late traces: a trace that reaches the backend after its window was processed is
not sampled and is not counted in that window's population (the design describes
the traces present when the window was pulled). Pick `settle` above your ingestion
delay; `docs/sync.md` says how to check.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from tracestrata.errors import ConfigError
from tracestrata.protocols import Window
from tracestrata.record import format_timestamp
from tracestrata.policy.model import DAY, WindowShare

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_DURATION = timedelta(days=36525)


def parse_duration(value: str) -> timedelta:
    """`90s`, `15m`, `1h`, `7d`, `2w` -> timedelta; ValueError otherwise."""
    match = _DURATION.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"expected a duration like 15m, 1h or 7d, got {value!r}")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not seconds <= MAX_DURATION.total_seconds():
        raise ValueError(f"expected a duration of at most 100 years, got {value!r}")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def window_at(start: datetime, every: timedelta, index: int) -> Window:
    return Window(start + every * index, start + every * (index + 1))


def due_windows(
    *,
    start: datetime,
    every: timedelta,
    settle: timedelta,
    now: datetime,
    done_until: datetime | None,
    cap: int | None = None,
) -> list[Window]:
    """Closed windows from `done_until` (or `start`) on, oldest first, at most `cap`.

    Raises `ConfigError` when the first window starts in the future: that is a
    mistake in `window.start` (or `--now`), not a quiet "nothing to do".
    """
    if every <= timedelta(0):
        raise ConfigError("must be a positive duration", field="window.every")
    if start > now:
        raise ConfigError(
            f"the first window starts in the future ({format_timestamp(start)} > now {format_timestamp(now)})",
            field="window.start",
        )
    first = 0
    if done_until is not None and done_until > start:
        first = -(-(done_until - start) // every)  # ceil: resume on the grid
    out: list[Window] = []
    index = first
    while cap is None or len(out) < cap:
        window = window_at(start, every, index)
        if window.end + settle > now:
            break
        out.append(window)
        index += 1
    return out


def last_closed_window(*, start: datetime, every: timedelta, settle: timedelta, now: datetime) -> Window:
    """The most recent window on the grid that is closed at `now` (ended `settle` ago)."""
    closed_until = now - settle
    if closed_until < start + every:
        raise ConfigError(
            f"no window is closed yet (the first ends at {format_timestamp(start + every)}, plus settle)",
            field="window.start",
        )
    return window_at(start, every, (closed_until - start) // every - 1)


def day_share(window: Window, earlier: Iterable[tuple[datetime, datetime, int]]) -> WindowShare:
    """The share of a day's targets `window` takes (`[targets] per = "day"`), from the traffic before it.

    `earlier` are (start, end, traces) of windows already sampled. The day is expected to
    hold the traces of the windows in the 24 hours before `window`, scaled up to 24 hours
    by the time they cover (so a job's first hours extrapolate from what they saw); the
    window's share is then its own traces over that. Without any earlier window, the
    share is its duration over a day.
    """
    lookback = window.start - DAY
    seen = [(s, e, n) for s, e, n in earlier if s >= lookback and e <= window.start]
    covered = sum(((e - s) for s, e, _ in seen), timedelta(0))
    traces = sum(n for _, _, n in seen)
    if covered <= timedelta(0) or traces == 0:
        return WindowShare(None, window.end - window.start)
    return WindowShare(traces * (DAY / covered), window.end - window.start)


def pending_count(*, start: datetime, every: timedelta, settle: timedelta, now: datetime, done_until: datetime | None) -> int:
    """How many closed windows are not done (to say how far behind a capped run is)."""
    begin = max(start, done_until) if done_until is not None else start
    closed_until = now - settle
    if closed_until <= begin:
        return 0
    return int((closed_until - begin) // every)


__all__ = ["day_share", "due_windows", "format_duration", "last_closed_window", "parse_duration", "pending_count", "window_at"]
