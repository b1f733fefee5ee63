"""Faults: a fault-injecting proxy on 127.0.0.1 between `tracestrata sync` and its backend.

429 with Retry-After, 5xx, a read timeout and a dropped connection are retried with
backoff (retry.py) and the run completes; a backend that stays down spends the retry
budget, the run stops with exit 4 ("partial") after recording what it did, and the
next run continues from there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from builders import sync_config_toml

from tracestrata.synthetic import generate_traces

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
sys.path.insert(0, str(FIXTURES))

from fault_proxy import Fault, FaultProxy, served_traces  # noqa: E402

T0 = datetime(2026, 11, 23, tzinfo=UTC)

def config_text(policy: Path, url: str, attempts: int) -> str:
    return sync_config_toml(
        {"type": "http_jsonl_connector:create", "base_url": url, "sink_dir": "sink", "timeout": 1.0},
        str(policy),
        state="state.sqlite",
        window={"every": "1h", "settle": "15m", "start": "2026-11-23T00:00:00Z"},
        sink={"dataset": "judge-{date}"},
        scores={"names": ["correct"]},
        report={"formats": []},
        retry={"attempts": attempts, "total_seconds": 20, "initial": 0.05, "max_wait": 0.5},
    )


@pytest.fixture
def backend(tmp_path: Path):  # type: ignore[no-untyped-def]
    records = generate_traces(300, start=T0, end=T0 + timedelta(hours=4), seed=21)
    with served_traces(tmp_path / "served", records) as proxy:
        yield proxy


def write_config(tmp: Path, url: str, attempts: int) -> Path:
    path = tmp / "sync.toml"
    path.write_text(config_text(REPO / "examples" / "policies" / "basic.toml", url, attempts))
    return path


def sync(config: Path, now: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracestrata.cli.main", "sync", "--config", str(config), "--now", now, *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(FIXTURES)])),
        timeout=120,
    )


def sink_ids(tmp: Path) -> list[str]:
    return [orjson.loads(x)["item_id"] for p in (tmp / "sink").rglob("*.jsonl") for x in p.read_bytes().splitlines()]


def test_transient_faults_are_retried_and_the_run_completes(tmp_path: Path, backend: FaultProxy) -> None:
    config = write_config(tmp_path, backend.url, attempts=6)
    backend.push(
        Fault.status(429, retry_after=1),
        Fault.status(503),
        Fault.timeout(3),
        Fault.drop(),
        Fault.status(502),
    )
    result = sync(config, "2026-11-23T02:30:00Z", "-v")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n2026-11-23T01:00:00Z") + result.stdout.startswith("2026-11-23T00") == 2
    kinds = [what for _, _, what in backend.log]
    assert kinds[:6] == ["status 429", "status 503", "timeout", "drop", "status 502", "pass"]
    assert "HTTP 429" in result.stderr and "retrying in 1." in result.stderr  # Retry-After honoured
    assert "timed out" in result.stderr and "connection" in result.stderr


def test_budget_spent_stops_partial_then_next_run_continues(tmp_path: Path, backend: FaultProxy) -> None:
    config = write_config(tmp_path, backend.url, attempts=3)
    backend.push(Fault.pass_(), Fault.pass_())  # two windows pull fine...
    backend.always(Fault.status(503))  # ...then the backend stays down
    stopped = sync(config, "2026-11-23T04:30:00Z")
    assert stopped.returncode == 4, stderr_of(stopped)
    done_lines = [line for line in stopped.stdout.splitlines() if line.startswith("2026-11-23T")]
    assert len(done_lines) == 2
    assert stopped.stderr.count("\n") == 1 and "retries exhausted" in stopped.stderr and "HTTP 503" in stopped.stderr
    assert sum(1 for *_, what in backend.log if what == "status 503") == 3  # the attempts budget
    partial_ids = sink_ids(tmp_path)

    backend.clear()
    resumed = sync(config, "2026-11-23T04:30:00Z")
    assert resumed.returncode == 0, resumed.stderr
    assert [line[:20] for line in resumed.stdout.splitlines() if line.startswith("2026")] == [
        "2026-11-23T02:00:00Z",
        "2026-11-23T03:00:00Z",
    ]
    ids = sink_ids(tmp_path)
    assert len(ids) == len(set(ids)) and set(partial_ids) <= set(ids)
    assert sync(config, "2026-11-23T04:30:00Z").stdout == ""


def test_fatal_errors_are_not_retried(tmp_path: Path, backend: FaultProxy) -> None:
    config = write_config(tmp_path, backend.url, attempts=5)
    backend.always(Fault.status(404))
    result = sync(config, "2026-11-23T01:30:00Z")
    assert result.returncode == 3, result.stderr
    assert len(backend.log) == 1
    assert "HTTP 404" in result.stderr and result.stderr.count("\n") == 1


def stderr_of(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def test_the_config_retry_budget_governs_the_phoenix_connector(tmp_path: Path) -> None:
    """A persistent 502 from Phoenix: the connector retries under [retry], not its own 3 attempts / 20 s."""
    budget = 4.0
    config = tmp_path / "sync.toml"
    config.write_text(
        sync_config_toml(
            {"type": "phoenix", "base_url": "PROXY", "project": "default", "timeout": 2},
            str(REPO / "examples" / "policies" / "basic.toml"),
            state="state.sqlite",
            window={"every": "1h", "settle": "15m", "start": "2026-11-23T00:00:00Z"},
            report={"formats": []},
            retry={"attempts": 100, "total_seconds": budget, "initial": 0.2, "max_wait": 1.0},
        )
    )
    with FaultProxy("http://127.0.0.1:9") as proxy:
        proxy.always(Fault.status(502))
        config.write_text(config.read_text().replace("PROXY", proxy.url))
        result = sync(config, "2026-11-23T01:30:00Z", "-v")
        requests = len(proxy.log)
    assert result.returncode == 4, stderr_of(result)
    retries = [line for line in result.stderr.splitlines() if line.startswith("retry: ")]
    assert requests > 3 and len(retries) == requests - 1  # one -v line per retry, each with the reason and wait
    assert all("HTTP 502" in line and "of 100, retrying in " in line for line in retries)
    waits = [float(line.rsplit("retrying in ", 1)[1].rstrip("s)")) for line in retries]
    assert budget - 1.0 - 0.1 * len(waits) <= sum(waits) <= budget + 0.1 * len(waits)  # the budget, spent and honoured


def test_connector_retry_options_in_a_sync_config_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "sync.toml"
    config.write_text(
        sync_config_toml(
            {"type": "phoenix", "base_url": "http://127.0.0.1:9", "retry_attempts": 3},
            str(REPO / "examples" / "policies" / "basic.toml"),
        )
    )
    result = sync(config, "2026-11-23T01:30:00Z")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "source.retry_attempts" in result.stderr and "[retry]" in result.stderr
