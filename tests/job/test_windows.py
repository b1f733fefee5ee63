from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tracestrata.errors import ConfigError
from tracestrata.protocols import Window
from tracestrata.job.windows import (
    day_share,
    due_windows,
    format_duration,
    parse_duration,
    pending_count,
)

T0 = datetime(2026, 11, 23, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("15m", 900), ("1h", 3600), ("7d", 604800), ("2w", 1209600), ("1.5h", 5400)])
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "1", "h", "1y", "-1h", "one hour"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_format_duration() -> None:
    assert format_duration(timedelta(minutes=15)) == "15m"
    assert format_duration(timedelta(days=7)) == "1w"
    assert format_duration(timedelta(seconds=90)) == "90s"


def test_closed_windows_only_after_settle() -> None:
    now = T0 + timedelta(hours=3, minutes=10)  # window 02:00-03:00 not settled (needs 03:15)
    got = due_windows(start=T0, every=H, settle=timedelta(minutes=15), now=now, done_until=None)
    assert [w.start for w in got] == [T0, T0 + H]
    now = T0 + timedelta(hours=3, minutes=15)
    got = due_windows(start=T0, every=H, settle=timedelta(minutes=15), now=now, done_until=None)
    assert len(got) == 3 and got[-1].end == T0 + 3 * H


def test_resume_after_done_in_order_with_cap() -> None:
    now = T0 + timedelta(hours=30)
    got = due_windows(start=T0, every=H, settle=timedelta(0), now=now, done_until=T0 + 5 * H, cap=4)
    assert [w.start for w in got] == [T0 + i * H for i in range(5, 9)]
    assert all(a.end == b.start for a, b in zip(got, got[1:]))
    assert pending_count(start=T0, every=H, settle=timedelta(0), now=now, done_until=T0 + 5 * H) == 25


def test_nothing_due_when_caught_up() -> None:
    now = T0 + timedelta(hours=5, minutes=20)
    assert due_windows(start=T0, every=H, settle=timedelta(minutes=15), now=now, done_until=T0 + 5 * H) == []
    assert pending_count(start=T0, every=H, settle=timedelta(minutes=15), now=now, done_until=T0 + 5 * H) == 0


def test_first_window_in_the_future_is_an_error() -> None:
    with pytest.raises(ConfigError, match="future") as info:
        due_windows(start=T0, every=H, settle=timedelta(0), now=T0 - H, done_until=None)
    assert info.value.field == "window.start"


def test_window_not_yet_closed_is_not_an_error() -> None:
    assert due_windows(start=T0, every=H, settle=timedelta(minutes=15), now=T0 + timedelta(minutes=30), done_until=None) == []


from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=200, deadline=None)
@given(
    every_min=st.integers(1, 24 * 60),
    settle_min=st.integers(0, 600),
    elapsed_min=st.integers(0, 20_000),
    done=st.integers(0, 60),
    cap=st.one_of(st.none(), st.integers(1, 30)),
)
def test_due_windows_properties(every_min: int, settle_min: int, elapsed_min: int, done: int, cap: int | None) -> None:
    every, settle = timedelta(minutes=every_min), timedelta(minutes=settle_min)
    now = T0 + timedelta(minutes=elapsed_min)
    done_until = T0 + every * done if done else None
    got = due_windows(start=T0, every=every, settle=settle, now=now, done_until=done_until, cap=cap)
    if cap is not None:
        assert len(got) <= cap
    for window in got:
        assert window.end + settle <= now  # closed
        assert window.end - window.start == every
        assert (window.start - T0) % every == timedelta(0)  # on the grid
        assert done_until is None or window.start >= done_until  # not done
    assert all(a.end == b.start for a, b in zip(got, got[1:]))  # in order, no gap
    if got:
        assert got[0].start == (done_until or T0)  # the oldest not-done first
    total = pending_count(start=T0, every=every, settle=settle, now=now, done_until=done_until)
    assert len(got) == (total if cap is None else min(cap, total))


def test_day_share_expects_the_traffic_of_the_24_hours_before_the_window() -> None:
    window = Window(T0 + 30 * H, T0 + 31 * H)
    assert day_share(window, []).of(800) == pytest.approx(1 / 24)  # nothing before: its duration
    earlier = [(T0 + i * H, T0 + (i + 1) * H, 1000) for i in range(30)]
    share = day_share(window, earlier)  # only the 24 windows before it count
    assert share.expected == 24_000 and share.of(1200) == pytest.approx(0.05)
    first_hours = day_share(Window(T0 + 3 * H, T0 + 4 * H), earlier[:3])  # 3 hours seen: scaled to 24
    assert first_hours.expected == 24_000
    assert day_share(window, [(T0, T0 + H, 0)]).expected is None  # no traffic seen: its duration
    assert share.of(10**9) == 1.0
