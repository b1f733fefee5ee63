"""A dead backend turns the job red: exit 6 (failing) with the run count and the oldest pending window;
`tracestrata status` answers from the state alone and exits 6 when stale or failing."""

from __future__ import annotations

import json
import os
import re
import socket
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
POLICY = str(REPO / "examples" / "policies" / "basic.toml")
FAST_RETRY = {"attempts": 2, "total_seconds": 2, "initial": 0.05, "max_wait": 0.1}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracestrata.cli.main", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(FIXTURES), os.environ.get("PYTHONPATH", "")])),
        timeout=120,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write(tmp: Path, source: dict, **alert: object) -> Path:
    path = tmp / "sync.toml"
    tables: dict = {"sink": {"dataset": "judge-{date}"}, "report": {"formats": []}, "retry": FAST_RETRY}
    if alert:
        tables["alert"] = alert
    path.write_text(
        sync_config_toml(source, POLICY, state="state.sqlite", window={"every": "1h", "settle": "15m", "start": "2026-11-23T00:00:00Z"}, **tables)
    )
    return path


@pytest.fixture
def backend(tmp_path: Path):  # type: ignore[no-untyped-def]
    records = generate_traces(200, start=T0, end=T0 + timedelta(hours=4), seed=5)
    with served_traces(tmp_path / "served", records) as proxy:
        yield proxy


def test_unreachable_phoenix_is_failing_on_the_first_run(tmp_path: Path) -> None:
    config = write(tmp_path, {"type": "phoenix", "base_url": f"http://127.0.0.1:{free_port()}", "project": "p"})
    result = cli("sync", "--config", str(config), "--now", "2026-11-23T03:30:00Z")
    assert result.returncode == 6, result.stderr
    line = result.stderr.strip()
    assert "\n" not in line and "internal error" not in line
    assert "cannot be reached" in line and "1 consecutive failed run" in line
    assert "oldest pending window 2026-11-23T00:00:00Z/2026-11-23T01:00:00Z closed 2h 15m ago" in line


def test_the_same_failure_on_consecutive_runs_turns_red_then_recovers(tmp_path: Path, backend: FaultProxy) -> None:
    config = write(tmp_path, {"type": "http_jsonl_connector:create", "base_url": backend.url, "sink_dir": "sink", "timeout": 1.0}, failing_after=2)
    now = ("--now", "2026-11-23T02:30:00Z")
    backend.always(Fault.status(503))
    first = cli("sync", "--config", str(config), *now)
    assert first.returncode == 4, first.stderr  # one stopped run: partial, the next run continues
    second = cli("sync", "--config", str(config), *now)
    assert second.returncode == 6, second.stderr
    assert "2 consecutive failed runs" in second.stderr and "HTTP 503" in second.stderr
    assert "oldest pending window 2026-11-23T00:00:00Z/2026-11-23T01:00:00Z" in second.stderr

    red = cli("status", "--config", str(config), "--now", "2026-11-23T02:31:00Z", "--format", "json")
    assert red.returncode == 6
    data = json.loads(red.stdout)
    assert data["consecutive_failures"] == 2 and data["pending_windows"] == 2 and not data["ok"]
    assert "failing" in red.stderr

    backend.clear()
    assert cli("sync", "--config", str(config), *now).returncode == 0
    green = cli("status", "--config", str(config), "--now", "2026-11-23T02:31:00Z")
    assert green.returncode == 0, green.stdout + green.stderr
    assert green.stdout.startswith("OK") and re.search(r"^failures in a row +0$", green.stdout, re.M)
    assert re.search(r"^pending windows +0$", green.stdout, re.M) and "series 1 " in green.stdout

    stale = cli("status", "--config", str(config), "--now", "2026-11-23T09:00:00Z", "--max-age", "3h")
    assert stale.returncode == 6 and "stale: last success" in stale.stderr


def test_status_of_a_job_that_never_ran_is_stale(tmp_path: Path) -> None:
    config = write(tmp_path, {"type": "files", "path": str(tmp_path)})
    result = cli("status", "--config", str(config), "--now", "2026-11-23T03:30:00Z")
    assert result.returncode == 6
    assert result.stdout.startswith("STALE") and re.search(r"^pending windows +3$", result.stdout, re.M)
    assert result.stderr.strip().endswith("never run (no state file yet)")


def test_status_shows_each_boost_s_progress(tmp_path: Path) -> None:
    traces = tmp_path / "traces"
    traces.mkdir()
    records = list(generate_traces(3000, start=T0, end=T0 + timedelta(hours=2), seed=3))
    (traces / "day.jsonl").write_bytes(b"".join(orjson.dumps(r.to_json()) + b"\n" for r in records))
    config = tmp_path / "sync.toml"
    config.write_text(
        sync_config_toml(
            {"type": "files", "path": "traces", "sink_dir": "sink"},
            str(REPO / "examples" / "policies" / "crossed.toml"),
            state="state.sqlite",
            window={"every": "1h", "settle": "15m", "start": "2026-11-23T00:00:00Z"},
            report={"formats": []},
        )
    )
    assert cli("sync", "--config", str(config), "--now", "2026-11-23T02:30:00Z").returncode == 0
    shown = cli("status", "--config", str(config), "--now", "2026-11-23T02:31:00Z", "--format", "json")
    boost = json.loads(shown.stdout)["boosts"]["refund-loop"]
    refunds = sum(r.metadata.get("intent") == "refund" for r in records)
    assert boost == {"collected": min(refunds, 300), "collect": 300}
    text = cli("status", "--config", str(config), "--now", "2026-11-23T02:31:00Z").stdout
    assert re.search(rf"^boost refund-loop +{min(refunds, 300)}/300 collected", text, re.M)
