"""`tracestrata sync` as a scheduler runs it: a subprocess, its output and its exit code."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from builders import sync_config_toml

from tracestrata.synthetic import generate_traces

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
T0 = datetime(2026, 11, 23, tzinfo=UTC)
NOW = "2026-11-23T06:30:00Z"

def config_text(policy: Path, type_: str, source: dict, start: str) -> str:
    return sync_config_toml(
        {"type": type_, **source},
        str(policy),
        window={"every": "1h", "settle": "15m", "start": start},
        sink={"dataset": "judge-{date}", "batch_size": 20},
        scores={"names": ["correct"], "metric": "correct"},
        report={"dir": "var/reports", "formats": ["json"]},
        retry={"attempts": 3, "total_seconds": 5, "initial": 0.05},
    )


def setup(tmp: Path, *, type_: str = "files", source: dict | None = None, start: str = "2026-11-23T00:00:00Z") -> Path:
    traces = tmp / "traces"
    traces.mkdir(exist_ok=True)
    records = generate_traces(600, start=T0, end=T0 + timedelta(hours=6), seed=11)
    (traces / "day.jsonl").write_bytes(b"".join(orjson.dumps(r.to_json()) + b"\n" for r in records))
    if source is None:
        source = {"path": "traces", "sink_dir": "var/sink", "scores_path": "scores.jsonl"}
    config = tmp / "sync.toml"
    config.write_text(
        config_text(REPO / "examples" / "policies" / "basic.toml", type_, source, start)
    )
    return config


def run(config: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ, PYTHONPATH=str(FIXTURES), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "tracestrata.cli.main", "sync", "--config", str(config), "--now", NOW, *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )


def sink_bytes(tmp: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in (tmp / "var" / "sink").rglob("*.jsonl")}


def test_one_line_per_window_then_quiet_and_idempotent(tmp_path: Path) -> None:
    config = setup(tmp_path)
    first = run(config)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert sum(1 for line in lines if line.startswith("2026-11-23T")) == 6
    assert first.stderr == ""
    before = sink_bytes(tmp_path)
    second = run(config)
    assert (second.returncode, second.stdout, second.stderr) == (0, "", "")
    assert sink_bytes(tmp_path) == before
    verbose = run(config, "-v")
    assert verbose.returncode == 0 and verbose.stdout == ""
    assert "no closed window" in verbose.stderr
    as_json = run(config, "-v", "--log-format", "json")
    events = [orjson.loads(line) for line in as_json.stderr.splitlines()]
    assert events and all({"time", "level", "event", "message"} <= set(e) for e in events)


def test_second_overlapping_run_exits_5_at_once(tmp_path: Path) -> None:
    config = setup(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(FIXTURES), TRACESTRATA_DEBUG_WRITE_HOOK="sleep:1.0")
    slow = subprocess.Popen(
        [sys.executable, "-m", "tracestrata.cli.main", "sync", "--config", str(config), "--now", NOW],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while not list((tmp_path / "var" / "sink").rglob("*.jsonl")):  # the first run is writing
            assert time.monotonic() < deadline and slow.poll() is None
            time.sleep(0.05)
        second = run(config)
        assert second.returncode == 5, second.stderr
        assert second.stdout == ""
        assert second.stderr.count("\n") == 1 and "another tracestrata run holds this state store" in second.stderr
        assert slow.poll() is None  # the first run was still going: the second did not wait for it
    finally:
        slow.kill()
        slow.wait()
    resumed = run(config)
    assert resumed.returncode == 0, resumed.stderr


@pytest.mark.parametrize(
    ("case", "code", "needle"),
    [
        ("missing config", 2, "no such file"),
        ("bad toml", 2, "not valid TOML"),
        ("unknown key", 2, "window.every_hour: unknown key"),
        ("unknown source", 2, "source.type: unknown source 'nosuch'"),
        ("missing credential", 2, "source.token_env: environment variable TS_E2E_UNSET_TOKEN is not set"),
        ("future window", 2, "window.start: the first window starts in the future"),
        ("corrupt state", 2, "not a readable state store"),
    ],
)
def test_bad_input_is_one_line_with_a_documented_code(tmp_path: Path, case: str, code: int, needle: str) -> None:
    config = setup(tmp_path)
    text = config.read_text()
    if case == "missing config":
        config = tmp_path / "nope.toml"
    elif case == "bad toml":
        config.write_text(text + "\n[window\n")
    elif case == "unknown key":
        config.write_text(text.replace('every = "1h"', 'every = "1h"\nevery_hour = true'))
    elif case == "unknown source":
        config.write_text(text.replace('type = "files"', 'type = "nosuch"'))
    elif case == "missing credential":
        config.write_text(text.replace('type = "files"', 'type = "http_jsonl_connector:create"').replace(
            'path = "traces"', 'base_url = "http://127.0.0.1:9"\ntoken_env = "TS_E2E_UNSET_TOKEN"'))
    elif case == "future window":
        config.write_text(text.replace("2026-11-23T00:00:00Z", "2026-12-01T00:00:00Z"))
    elif case == "corrupt state":
        (tmp_path / "var").mkdir()
        (tmp_path / "var" / "state.sqlite").write_bytes(b"garbage" * 1000)
    result = run(config, env={"TS_E2E_UNSET_TOKEN": ""})
    assert result.returncode == code, result.stderr
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("tracestrata: error: ")
    assert needle in result.stderr


def test_secret_never_in_output_errors_or_state(tmp_path: Path) -> None:
    sys.path.insert(0, str(FIXTURES))
    from fault_proxy import StaticServer

    secret = "-".join(("e2e", "never", "logged", "1c7d5b0f"))
    served = tmp_path / "served"
    served.mkdir()
    config = setup(tmp_path)  # also writes traces/day.jsonl
    (served / "traces.jsonl").write_bytes((tmp_path / "traces" / "day.jsonl").read_bytes())
    (served / "scores.jsonl").write_bytes(b"")
    with StaticServer(served, token=secret) as server:
        source = {"base_url": server.url, "token_env": "TS_E2E_TOKEN", "sink_dir": "var/sink"}
        config = setup(tmp_path, type_="http_jsonl_connector:create", source=source)
        wrong = run(config, "-v", env={"TS_E2E_TOKEN": "wrong-" + secret})
        assert wrong.returncode == 3, wrong.stderr
        assert "TS_E2E_TOKEN" in wrong.stderr and secret not in wrong.stderr
        leaky = setup(tmp_path, type_="http_jsonl_connector:create", source={**source, "leaky_errors": True})
        echoed = run(leaky, env={"TS_E2E_TOKEN": "wrong-" + secret})
        assert echoed.returncode == 3 and "server said: bad token ***" in echoed.stderr
        assert secret not in echoed.stderr
        config = setup(tmp_path, type_="http_jsonl_connector:create", source=source)
        right = run(config, "-v", "--log-format", "json", env={"TS_E2E_TOKEN": secret})
        assert right.returncode == 0, right.stderr
        assert "2026-11-23T05:00:00Z" in right.stdout
    for result in (wrong, echoed, right):
        assert secret not in result.stdout + result.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name != "sync.toml":
            assert secret.encode() not in path.read_bytes(), path
