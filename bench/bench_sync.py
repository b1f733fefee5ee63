"""Benchmark: what the scheduled job costs on top of sampling.

Everything is measured in this run, on the same synthetic traffic, and printed as
ratios (speed is never asserted in a test):

  bare      `sample_records` on each window's records (the sampling alone)
  sync      `run_sync` over the same windows: pull from an in-memory source, sample,
            record the plan in the SQLite state, write dataset items (files sink),
            mark them written, finish the window, read scores back, write the report
  no-op     `run_sync` again on the same schedule (nothing to do: the hourly steady state)

    python bench/bench_sync.py            # 48 hourly windows, 2,000 traces each
    python bench/bench_sync.py --quick    # 6 windows x 500
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tracestrata.connectors.files.scores import FilesScoreSource
from tracestrata.connectors.files.sinks import FilesSampleSink
from tracestrata.job.config import parse_config
from tracestrata.job.logs import NullLog
from tracestrata.job.sync import run_sync
from tracestrata.protocols import SinkKind, Window
from tracestrata.record import TraceRecord
from tracestrata.policy.parse import load_policy
from tracestrata.sampling.samplers import sample_records
from tracestrata.synthetic import generate_traces

POLICY = Path(__file__).resolve().parents[1] / "examples" / "policies" / "crossed.toml"
T0 = datetime(2026, 11, 1, tzinfo=UTC)


class Memory:
    name = "bench"

    def __init__(self, root: Path, by_hour: dict[datetime, list[TraceRecord]]) -> None:
        self.root, self.by_hour = root, by_hour

    def iter_traces(self, window: Window, *, metadata_keys: Sequence[str] = ()) -> Iterator[TraceRecord]:
        return iter(self.by_hour.get(window.start, []))

    def trace_source(self) -> Memory:
        return self

    def sample_sink(self, kind: SinkKind, name: str) -> FilesSampleSink:
        return FilesSampleSink(self.root / "sink", kind, name)

    def score_source(self) -> FilesScoreSource:
        return FilesScoreSource(self.root / "scores.jsonl")

    def close(self) -> None:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", type=int, default=48)
    parser.add_argument("--per-window", type=int, default=2000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.windows, args.per_window = 6, 500
    hours = args.windows
    records = list(generate_traces(hours * args.per_window, start=T0, end=T0 + timedelta(hours=hours), seed=1))
    by_hour: dict[datetime, list[TraceRecord]] = {}
    for record in records:
        by_hour.setdefault(record.timestamp.replace(minute=0, second=0, microsecond=0), []).append(record)
    policy = load_policy(POLICY)

    started = time.perf_counter()
    selected = 0
    boost: dict[str, int] = {}
    for hour in sorted(by_hour):
        result = sample_records(by_hour[hour], policy, boost_collected=boost)
        boost = dict(result.boost_collected)
        selected += len(result.selected)
    bare = time.perf_counter() - started

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = parse_config(
            {
                "state": "state.sqlite",
                "source": {"type": "bench"},
                "policy": str(POLICY),
                "window": {"start": T0.isoformat(), "max_windows_per_run": hours, "late_check": 0},
                "sink": {"dataset": "judge-{date}", "batch_size": 200},
                "scores": {"names": ["correct"], "metric": "correct"},
                "report": {"dir": "reports", "period": "7d"},
            },
            path=root / "sync.toml",
        )
        now = T0 + timedelta(hours=hours, minutes=30)
        connector = Memory(root, by_hour)
        started = time.perf_counter()
        outcome = run_sync(config, now=now, log=NullLog(), connector=connector)
        first = time.perf_counter() - started
        started = time.perf_counter()
        again = run_sync(config, now=now, log=NullLog(), connector=connector)
        noop = time.perf_counter() - started
    assert len(outcome.windows) == hours and not again.windows
    written = sum(w.written for w in outcome.windows)
    print(f"{hours} windows, {len(records):,} traces, {selected:,} sampled, {written:,} items written")
    print(f"bare sampling        {bare:8.3f} s   ({len(records) / bare:,.0f} traces/s)")
    print(f"sync (first run)     {first:8.3f} s   sync/bare = {first / bare:.2f}x")
    print(f"sync (nothing to do) {noop:8.3f} s   no-op/first = {noop / first:.3f}x")
    print(f"per written item     {(first - bare) / max(written, 1) * 1e3:8.3f} ms over sampling")


if __name__ == "__main__":
    main()
