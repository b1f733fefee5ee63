"""A repeated trace id in a window: sync counts it once, warns, and passes the window (no IntegrityError)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

from test_sync import NOW, RECORDS, T0, MemConnector, make_config, sink_lines

from tracestrata.job.logs import NullLog
from tracestrata.job.sync import run_sync


def test_sync_passes_a_window_with_a_repeated_trace(tmp_path: Path) -> None:
    records = [dataclasses.replace(r, timestamp=T0 + timedelta(hours=i % 6, minutes=1)) for i, r in enumerate(RECORDS)]
    first_window = [r for r in records if r.timestamp < T0 + timedelta(hours=1)]
    noisy = [*records, first_window[0], first_window[0], first_window[1]]
    config = make_config(tmp_path)
    log = NullLog()
    outcome = run_sync(config, now=NOW, log=log, connector=MemConnector(tmp_path, noisy))
    assert outcome.exit_code == 0
    assert sum(w.traces for w in outcome.windows) == len(RECORDS)
    warned = [x for x in log.lines if x["event"] == "duplicates"]
    assert len(warned) == 1 and warned[0]["duplicates"] == 3
    sink_lines(tmp_path)  # no item twice
    again = run_sync(config, now=NOW, log=NullLog(), connector=MemConnector(tmp_path, noisy))
    assert again.exit_code == 0 and not again.windows
