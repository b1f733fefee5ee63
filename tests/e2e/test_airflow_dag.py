"""The Airflow DAG example runs under a real Airflow: `airflow dags test`, twice, then a dead backend.

Airflow lives in a venv of its own (`pip install -e '.[airflow]'`; scripts/test.sh makes
`.venv-airflow`, ~1.5 min): Airflow 3 pins fastapi below what arize-phoenix needs, so it
cannot share the dev venv. TRACESTRATA_AIRFLOW_VENV points at another one.
"""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from builders import sync_config_toml

from tracestrata.synthetic import generate_traces

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "examples" / "airflow"
VENV = Path(os.environ.get("TRACESTRATA_AIRFLOW_VENV", REPO / ".venv-airflow"))
AIRFLOW = VENV / "bin" / "airflow"

pytestmark = pytest.mark.skipif(
    not AIRFLOW.exists(),
    reason=f"Airflow is not installed in {VENV} (scripts/test.sh makes it: python3 -m venv .venv-airflow && "
    ".venv-airflow/bin/pip install -e '.[airflow]'; its own venv because Airflow pins fastapi below arize-phoenix)",
)


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("airflow-home")
    env = {
        "PATH": f"{VENV / 'bin'}:/usr/bin:/bin",
        "HOME": str(home),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    migrate = subprocess.run([str(AIRFLOW), "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    return env


def dags_test(env: dict[str, str], config: Path) -> subprocess.CompletedProcess[str]:
    """`airflow dags test`: a real DAG run (parse, render the Variable, run the task, record its state)."""
    run_env = {**env, "AIRFLOW_VAR_TRACESTRATA_CONFIG": str(config)}
    return subprocess.run([str(AIRFLOW), "dags", "test", "tracestrata_sync"], env=run_env, capture_output=True,
                          text=True, timeout=240)


def test_dag_runs_sync_and_a_second_run_has_nothing_to_do(tmp_path: Path, airflow_env: dict[str, str]) -> None:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=3)
    records = generate_traces(300, start=start, end=today, seed=5)
    (tmp_path / "traces.jsonl").write_bytes(b"".join(orjson.dumps(r.to_json()) + b"\n" for r in records))
    config = tmp_path / "sync.toml"
    config.write_text(sync_config_toml(
        {"type": "files", "path": "traces.jsonl", "sink_dir": "var/sink"},
        str(REPO / "examples" / "policies" / "basic.toml"),
        window={"every": "1d", "start": start.strftime("%Y-%m-%dT%H:%M:%SZ")},
        sink={"dataset": "judge-{date}"},
    ))
    first = dags_test(airflow_env, config)
    log = first.stdout + first.stderr
    assert first.returncode == 0, log[-4000:]
    assert log.count("written to dataset") >= 2 and "new_state=success" in log, log[-4000:]
    second = dags_test(airflow_env, config)
    log = second.stdout + second.stderr
    assert second.returncode == 0, log[-4000:]
    assert "written to dataset" not in log and "new_state=success" in log, log[-4000:]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"type": "phoenix", "base_url": "http://127.0.0.1:9"}, "AirflowFailException: failing: the backend cannot be reached"),
        ({"type": "phoenix", "base_url": "http://127.0.0.1:9", "projct": "x"}, "AirflowFailException: "),
    ],
    ids=["dead-backend", "config-typo"],
)
def test_failing_job_fails_the_task_without_retries(
    tmp_path: Path, airflow_env: dict[str, str], source: dict[str, str], message: str
) -> None:
    config = tmp_path / "sync.toml"
    config.write_text(sync_config_toml(
        source,
        str(REPO / "examples" / "policies" / "basic.toml"),
        window={"every": "1d", "start": (datetime.now(UTC) - timedelta(days=3)).strftime("%Y-%m-%dT00:00:00Z")},
    ))
    run = dags_test(airflow_env, config)
    log = run.stdout + run.stderr
    assert run.returncode != 0, log[-4000:]
    assert message in log, log[-4000:]
    assert "new_state=failed" in log and "up_for_retry" not in log, log[-4000:]
