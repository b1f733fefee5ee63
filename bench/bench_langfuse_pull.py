"""Benchmark: pulling root observations from the (fake) Langfuse, connector vs the SDK's own calls.

Both sides pull the same window of N root observations (default 100,000) from one
fake server running in a child process (contract checks off, so the server costs
the same for both), in the same run, alternating, and we print ratios:

  connector  `LangfuseTraceSource.iter_traces(window)`: every page, mapped to TraceRecords
  sdk        `LangfuseAPI.observations.get_many(...)` looped over the cursor with the same
             fields/limit/filters, yielding the SDK's ObservationV2 models (no mapping)

and the number of HTTP requests the connector made per 1,000 traces (goal: 1, the
page-size limit). Goal for speed: connector records/s >= SDK records/s / 1.2.

    python bench/bench_langfuse_pull.py                  # 100k traces, 2 rounds
    python bench/bench_langfuse_pull.py --traces 20000 --rounds 1   # smoke run
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FAKE = REPO / "tests" / "fixtures" / "langfuse_fake.py"
START = datetime(2026, 1, 1, tzinfo=UTC)
PUBLIC_KEY, SECRET_KEY = "-".join(("fake", "public")), "-".join(("fake", "private"))  # the fake's made-up keys


def start_fake(traces: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(FAKE), "--traces", str(traces), "--no-validate"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        proc.kill()
        raise SystemExit(f"the fake did not start: {url!r}")
    return proc, url


def pull_connector(url: str) -> tuple[int, int]:
    from tracestrata.connectors.langfuse import create
    from tracestrata.connectors.langfuse.ratelimit import DEFAULT_LIMITS
    from tracestrata.protocols import Window

    env = {"LANGFUSE_BASE_URL": url, "LANGFUSE_PUBLIC_KEY": PUBLIC_KEY, "LANGFUSE_SECRET_KEY": SECRET_KEY}
    conn = create({"rate_limits": {k: 0 for k in DEFAULT_LIMITS}}, env=env)
    try:
        window = Window(START, START + timedelta(days=1))
        count = sum(1 for _ in conn.trace_source().iter_traces(window, metadata_keys=["intent"]))
        return count, conn.client.requests["general"]
    finally:
        conn.close()


def pull_sdk(url: str) -> tuple[int, int]:
    from langfuse.api.client import LangfuseAPI

    from tracestrata.connectors.langfuse.settings import DEFAULT_FIELDS

    api = LangfuseAPI(base_url=url, username=PUBLIC_KEY, password=SECRET_KEY, timeout=60)
    cursor: str | None = None
    count = requests = 0
    while True:
        page = api.observations.get_many(
            fields=DEFAULT_FIELDS,
            expand_metadata="intent",
            limit=1000,
            cursor=cursor,
            is_root_observation=True,
            from_start_time=START,
            to_start_time=START + timedelta(days=1),
        )
        requests += 1
        count += len(page.data)
        cursor = page.meta.cursor
        if not cursor or not page.data:
            return count, requests


def timed(fn: Callable[[str], tuple[int, int]], url: str) -> tuple[float, int, int]:
    t0 = time.perf_counter()
    count, requests = fn(url)
    return time.perf_counter() - t0, count, requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    proc, url = start_fake(args.traces)
    try:
        pull_connector(url)  # warm-up: imports, server caches
        results: dict[str, list[float]] = {"connector": [], "sdk": []}
        requests = 0
        for _ in range(args.rounds):
            for name, fn in (("connector", pull_connector), ("sdk", pull_sdk)):
                seconds, count, made = timed(fn, url)
                if count != args.traces:
                    raise SystemExit(f"{name} pulled {count} of {args.traces} traces")
                results[name].append(seconds)
                if name == "connector":
                    requests = made
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)

    ours = statistics.median(results["connector"])
    sdk = statistics.median(results["sdk"])
    print(f"pull of {args.traces:,} root observations from the fake Langfuse ({args.rounds} rounds, median)")
    print(f"  connector (records)      {args.traces / ours:>10,.0f} records/s  ({ours:.2f} s)")
    print(f"  sdk get_many (models)    {args.traces / sdk:>10,.0f} records/s  ({sdk:.2f} s)")
    print(f"  connector/sdk speed      {sdk / ours:.2f}x   (goal >= {1 / 1.2:.2f}x)")
    print(f"  requests per 1,000 traces {1000 * requests / args.traces:.2f}   (goal 1.00)")


if __name__ == "__main__":
    main()
