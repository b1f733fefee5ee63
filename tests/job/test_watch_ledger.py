"""Alarms through a real ledger: 90 daily windows, a 0.5% slice whose failure rate doubles on day 60."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from builders import daily_ledger

from tracestrata.job.report_page import WatchSettings, watch_ledger
from tracestrata.job.state import State

START = datetime(2026, 1, 1, tzinfo=UTC)
STRATA = (("billing", 12_000, 60, 0.08), ("tech", 7_900, 60, 0.12), ("compliance", 100, 50, 0.08))


def _watch(tmp_path, change):
    path = tmp_path / "state.sqlite"
    with State(path) as state:
        daily_ledger(state, 90, STRATA, start=START, seed=3, change=change)
    return watch_ledger(path, WatchSettings(("correct",)), until=START + timedelta(days=90))


def test_no_change_in_90_days_raises_no_alarm(tmp_path):
    detections, trends = _watch(tmp_path, None)
    assert len(trends[0].periods) == 90 and len(detections) == 4  # the global series and three strata
    assert not any(d.alarm for d in detections)


def test_a_rare_slice_that_doubles_on_day_60_is_flagged_with_its_start(tmp_path):
    detections, _ = _watch(tmp_path, ("compliance", 59))
    standing = {d.stratum: d for d in detections if d.alarm}
    assert set(standing) == {"compliance"}
    d = standing["compliance"]
    assert d.since == "2026-03-01" and d.baseline < 0.1 < d.now and d.ci_low > 0
