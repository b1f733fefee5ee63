"""Benchmark: pulling root-span metadata from a real local Phoenix, connector vs the raw calls.

All three pull the same window of N root spans (each carrying ~2 KB of input/output
text, like a real chat trace) from one Phoenix started by this script, in the same
run, alternating, best of `--rounds`; we print records/second and ratios:

  connector  `PhoenixTraceSource.iter_traces(window)`: Arrow span query, mapped to TraceRecords
  rest       `GET /v1/projects/{p}/spans?parent_id=null&limit=1000` over the cursor, JSON decoded
             (no mapping) -- the listing every attribute, bodies included, comes back from
  client     `phoenix.client.Client().spans.get_spans_dataframe(query=SpanQuery().where(
             "parent_id is None").select(<the connector's columns>))` -> a pandas DataFrame

Goals: connector >= 5x rest; connector >= client / 1.3.
With `--demo` it also runs `tracestrata demo` (its own server) and prints where the time goes.

    python bench/bench_phoenix_pull.py                       # 5,000 traces, 3 rounds
    python bench/bench_phoenix_pull.py --traces 2000 --rounds 2 --demo
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tracestrata.connectors.phoenix import create
from tracestrata.demo.phoenix_server import seed_records, start_server
from tracestrata.connectors.phoenix.source import COLUMNS
from tracestrata.protocols import Window
from tracestrata.record import TraceRecord
from tracestrata.synthetic import generate_traces

START = datetime(2026, 1, 5, tzinfo=UTC)
PROJECT = "bench"
BODY = ("The customer asked about their invoice and the assistant explained the charges. " * 13)[:1000]


def bodies(record: TraceRecord) -> dict[str, str]:
    return {"input.value": f"{record.id} {BODY}", "output.value": f"{BODY} {record.id}"}


def pull_connector(base_url: str, window: Window) -> int:
    with create({"base_url": base_url, "project": PROJECT}) as conn:
        return sum(1 for _ in conn.trace_source().iter_traces(window))


def pull_rest(base_url: str, window: Window) -> int:
    n = 0
    params: dict[str, str | int] = {
        "parent_id": "null",
        "limit": 1000,
        "start_time": window.start.isoformat(),
        "end_time": window.end.isoformat(),
    }
    with httpx.Client(base_url=base_url, timeout=120) as client:
        while True:
            body = client.get(f"/v1/projects/{PROJECT}/spans", params=params).json()
            n += len(body["data"])
            if not body.get("next_cursor"):
                return n
            params["cursor"] = body["next_cursor"]


def pull_client(base_url: str, window: Window) -> int:
    from phoenix.client import Client
    from phoenix.client.types.spans import SpanQuery

    client = Client(base_url=base_url)
    query = SpanQuery().where("parent_id is None").select(*COLUMNS)
    frame = client.spans.get_spans_dataframe(
        query=query, project_identifier=PROJECT, start_time=window.start, end_time=window.end, limit=1_000_000
    )
    return len(frame)


def best_rate(fn: Callable[[str, Window], int], base_url: str, window: Window) -> tuple[float, int]:
    started = time.perf_counter()
    n = fn(base_url, window)
    return n / (time.perf_counter() - started), n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--demo", action="store_true", help="also time `tracestrata demo` end to end")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="tracestrata-bench-phoenix-"))
    try:
        t0 = time.perf_counter()
        server = start_server(workdir / "server")
        t_start = time.perf_counter() - t0
        window = Window(START, START + timedelta(days=1))
        records = list(generate_traces(args.traces, start=window.start, end=window.end, seed=1))
        t0 = time.perf_counter()
        seed_records(server.base_url, PROJECT, records, extra_attributes=bodies)
        t_seed = time.perf_counter() - t0
        print(f"server start {t_start:.1f}s; seeded {len(records)} traces (~2 KB bodies each) in {t_seed:.1f}s "
              f"({len(records) / t_seed:.0f}/s stored)")
        rates: dict[str, list[float]] = {"connector": [], "rest": [], "client": []}
        pulls = {"connector": pull_connector, "rest": pull_rest, "client": pull_client}
        for round_ in range(args.rounds):
            for name, fn in pulls.items():
                rate, n = best_rate(fn, server.base_url, window)
                if n != len(records):
                    raise SystemExit(f"{name} pulled {n} of {len(records)}")
                rates[name].append(rate)
            print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:,.0f}/s" for k, v in rates.items()))
        best = {k: max(v) for k, v in rates.items()}
        print()
        print(f"records/s (best of {args.rounds}): " + ", ".join(f"{k} {v:,.0f}" for k, v in best.items()))
        print(f"connector / rest   = {best['connector'] / best['rest']:.2f}x   (goal >= 5x)")
        print(f"connector / client = {best['connector'] / best['client']:.2f}x   (goal >= {1 / 1.3:.2f}x, i.e. within 1.3x)")
        server.stop()

        if args.demo:
            from tracestrata.demo.run import run_demo

            t0 = time.perf_counter()
            result = run_demo(workdir=workdir / "demo", echo=lambda _m: None)
            wall = time.perf_counter() - t0
            print()
            print(f"tracestrata demo ({result.traces} traces, {result.sampled} sampled): wall {wall:.1f}s")
            for phase, seconds in sorted(result.timings.items(), key=lambda kv: -kv[1]):
                print(f"  {phase:<32} {seconds:6.1f}s  {100 * seconds / wall:5.1f}%")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
