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


def installed_checkout(tmp: Path) -> Path:
    """The README's layout: a checkout with the cron example and the `.venv` that `make install` made."""
    repo = tmp / "opt-tracestrata"
    (repo / "examples" / "cron").mkdir(parents=True)
    shutil.copy(EXAMPLES / "cron" / "tracestrata-sync.sh", repo / "examples" / "cron" / "tracestrata-sync.sh")
    (repo / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    return repo


def crontab_command() -> str:
    lines = [x for x in (EXAMPLES / "cron" / "crontab").read_text().splitlines() if x.strip() and not x.startswith("#")]
    schedule = [x for x in lines if "tracestrata-sync.sh" in x]
    assert len(schedule) == 1
    fields = schedule[0].split(None, 5)
    assert len(fields) == 6, schedule[0]
    return fields[5]


def cron_run(command: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a crontab command the way cron does: `sh -c` in an almost empty environment."""
    bare = {"PATH": "/usr/bin:/bin", "HOME": str(home), "SHELL": "/bin/sh", "LOGNAME": "cron", **env}
    return subprocess.run(["env", "-i", *[f"{k}={v}" for k, v in bare.items()], "sh", "-c", command],
                          capture_output=True, text=True, timeout=120)


def test_crontab_line_runs_under_cron_environment_twice_second_quiet(tmp_path: Path) -> None:
    config = workspace(tmp_path)
    envfile = tmp_path / "env"
    envfile.write_text("TS_CRON_EXAMPLE=loaded\n")
    repo = installed_checkout(tmp_path)
    command = crontab_command().replace("/opt/tracestrata", str(repo)) + " --now 2026-11-23T03:30:00Z"
    env = {"TRACESTRATA_CONFIG": str(config), "TRACESTRATA_ENV": str(envfile)}
    first = cron_run(command, tmp_path, **env)
    assert first.returncode == 0, first.stderr
    assert len([line for line in first.stdout.splitlines() if line.startswith("2026-11-23T")]) == 3
    sink = {p: p.read_bytes() for p in (tmp_path / "var" / "sink").rglob("*.jsonl")}
    state_rows = _item_count(tmp_path / "var" / "state.sqlite")
    second = cron_run(command, tmp_path, **env)
    assert (second.returncode, second.stdout, second.stderr) == (0, "", "")
    assert {p: p.read_bytes() for p in (tmp_path / "var" / "sink").rglob("*.jsonl")} == sink
    assert _item_count(tmp_path / "var" / "state.sqlite") == state_rows


def test_cron_wrapper_symlinked_elsewhere_still_finds_the_checkout(tmp_path: Path) -> None:
    config = workspace(tmp_path)
    repo = installed_checkout(tmp_path)
    link = tmp_path / "bin" / "tracestrata-sync"
    link.parent.mkdir()
    link.symlink_to(repo / "examples" / "cron" / "tracestrata-sync.sh")
    run = cron_run(f"sh {link} --now 2026-11-23T03:30:00Z --dry-run", tmp_path, TRACESTRATA_CONFIG=str(config))
    assert run.returncode == 0, run.stderr


def test_cron_wrapper_without_an_install_says_what_to_set(tmp_path: Path) -> None:
    repo = tmp_path / "checkout"
    (repo / "examples" / "cron").mkdir(parents=True)
    shutil.copy(EXAMPLES / "cron" / "tracestrata-sync.sh", repo / "examples" / "cron")
    run = cron_run(f"sh {repo}/examples/cron/tracestrata-sync.sh", tmp_path)
    assert run.returncode == 127 and run.stdout == ""
    assert len(run.stderr.splitlines()) == 1
    assert f"{repo}/.venv/bin/tracestrata" in run.stderr and "TRACESTRATA=" in run.stderr


def test_cron_wrapper_uses_tracestrata_when_set(tmp_path: Path) -> None:
    config = workspace(tmp_path)
    run = cron_run(f"sh {EXAMPLES}/cron/tracestrata-sync.sh --now 2026-11-23T03:30:00Z --dry-run", tmp_path,
                   TRACESTRATA=tracestrata_command(), TRACESTRATA_CONFIG=str(config), HOME=str(tmp_path / "nohome"))
    assert run.returncode == 0, run.stderr


def _item_count(path: Path) -> int:
    import sqlite3

    db = sqlite3.connect(path)
    try:
        return int(db.execute("SELECT count(*) FROM items").fetchone()[0])
    finally:
        db.close()


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
