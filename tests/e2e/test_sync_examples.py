"""The scheduling examples run as written: cron wrapper end to end, Airflow DAG, GitHub workflow."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from builders import sync_config_toml

from tracestrata.job.config import load_config
from tracestrata.synthetic import generate_traces

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
T0 = datetime(2026, 11, 23, tzinfo=UTC)

def config_text(policy: Path) -> str:
    return sync_config_toml(
        {"type": "files", "path": "traces.jsonl", "sink_dir": "var/sink", "scores_path": "scores.jsonl"},
        str(policy),
        window={"every": "1h", "settle": "15m", "start": "2026-11-23T00:00:00Z"},
        sink={"dataset": "judge-{date}"},
        scores={"names": ["correct"], "metric": "correct"},
        report={"dir": "var/reports", "formats": ["json"]},
    )


def workspace(tmp: Path) -> Path:
    records = generate_traces(200, start=T0, end=T0 + timedelta(hours=3), seed=9)
    (tmp / "traces.jsonl").write_bytes(b"".join(orjson.dumps(r.to_json()) + b"\n" for r in records))
    config = tmp / "sync.toml"
    config.write_text(config_text(EXAMPLES / "policies" / "basic.toml"))
    return config


def tracestrata_command() -> str:
    found = Path(sys.executable).parent / "tracestrata"
    return str(found) if found.exists() else (shutil.which("tracestrata") or "tracestrata")


def test_cron_wrapper_twice_second_run_quiet_and_writes_nothing(tmp_path: Path) -> None:
    config = workspace(tmp_path)
    envfile = tmp_path / "env"
    envfile.write_text("TS_CRON_EXAMPLE=loaded\n")
    env = dict(os.environ, TRACESTRATA=tracestrata_command(), TRACESTRATA_CONFIG=str(config), TRACESTRATA_ENV=str(envfile))
    wrapper = EXAMPLES / "cron" / "tracestrata-sync.sh"
    args = ["sh", str(wrapper), "--now", "2026-11-23T03:30:00Z"]
    first = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert first.returncode == 0, first.stderr
    assert len([line for line in first.stdout.splitlines() if line.startswith("2026-11-23T")]) == 3
    sink = {p: p.read_bytes() for p in (tmp_path / "var" / "sink").rglob("*.jsonl")}
    state_rows = _item_count(tmp_path / "var" / "state.sqlite")
    second = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert (second.returncode, second.stdout, second.stderr) == (0, "", "")
    assert {p: p.read_bytes() for p in (tmp_path / "var" / "sink").rglob("*.jsonl")} == sink
    assert _item_count(tmp_path / "var" / "state.sqlite") == state_rows


def _item_count(path: Path) -> int:
    import sqlite3

    db = sqlite3.connect(path)
    try:
        return int(db.execute("SELECT count(*) FROM items").fetchone()[0])
    finally:
        db.close()


def test_crontab_line_points_at_the_wrapper() -> None:
    lines = [x for x in (EXAMPLES / "cron" / "crontab").read_text().splitlines() if x and not x.startswith("#")]
    schedule = [x for x in lines if "tracestrata-sync.sh" in x]
    assert len(schedule) == 1 and len(schedule[0].split()[:5]) == 5


def test_airflow_dag_imports_without_airflow_and_runs_sync(tmp_path: Path) -> None:
    if importlib.util.find_spec("airflow") is not None:
        pytest.skip("airflow is installed; this checks the no-airflow path")
    spec = importlib.util.spec_from_file_location("tracestrata_sync_dag", EXAMPLES / "airflow" / "tracestrata_sync_dag.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.DAG is None
    config = workspace(tmp_path)
    summary = module.sync_callable(str(config), now="2026-11-23T03:30:00Z")
    assert len(summary["windows"]) == 3 and summary["pending"] == 0
    assert module.sync_callable(str(config), now="2026-11-23T03:30:00Z")["windows"] == []


def test_github_workflow_is_valid_and_keeps_state_and_summary() -> None:
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load((EXAMPLES / "github-actions" / "tracestrata-sync.yml").read_text())
    triggers = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads `on` as a boolean
    assert triggers["schedule"][0]["cron"]
    steps = workflow["jobs"]["sync"]["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert any(u.startswith("actions/cache/restore") for u in uses)
    assert any(u.startswith("actions/cache/save") for u in uses)
    text = (EXAMPLES / "github-actions" / "tracestrata-sync.yml").read_text()
    assert "GITHUB_STEP_SUMMARY" in text and "tracestrata sync --config" in text
    assert workflow["concurrency"]["group"]
    config = load_config(EXAMPLES / "github-actions" / "sync.toml")
    assert config.secret_env_vars == ("PHOENIX_API_KEY",)
