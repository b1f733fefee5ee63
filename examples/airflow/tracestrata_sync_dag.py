"""An Airflow DAG with one task that runs `tracestrata sync` every hour.

Copy to your DAGs folder and set the Airflow Variable `tracestrata_config` to the
path of the sync config (credentials: environment variables of the worker, named
in the config). The module imports without Airflow installed, so it can be linted
and tested anywhere; the DAG is only defined when Airflow is present.

Exit codes map to Airflow states: partial (retries exhausted at the backend) fails
the task so Airflow's own retry runs it again — it continues where it stopped;
failing (the backend cannot be reached, or `[alert] failing_after` stopped runs in a
row), a config error and a backend refusal fail it without retries: look now;
"locked" (another run holds the state) is a skip.
"""

from __future__ import annotations

import importlib
from datetime import datetime, timedelta
from typing import Any


def sync_callable(config: str, now: str | None = None, **_: Any) -> dict[str, Any]:
    """Run one sync; returns a small summary (pushed to XCom by Airflow)."""
    from tracestrata.errors import ExitCode, LockedError, TracestrataError
    from tracestrata.job.config import load_config
    from tracestrata.job.logs import SyncLog
    from tracestrata.job.sync import run_sync
    from tracestrata.record import parse_timestamp

    cfg = load_config(config)
    try:
        outcome = run_sync(cfg, now=parse_timestamp(now) if now else None, log=SyncLog(secret_env=cfg.secret_env_vars))
    except LockedError:
        skip = _airflow_exception("AirflowSkipException")
        if skip is None:
            raise
        raise skip("another tracestrata run holds the state store") from None
    except TracestrataError as exc:
        if exc.exit_code == ExitCode.PARTIAL:
            raise
        fail = _airflow_exception("AirflowFailException")  # a retry cannot fix a config or a refusal
        raise (fail or RuntimeError)(str(exc)) from exc
    if outcome.failing:
        raise (_airflow_exception("AirflowFailException") or RuntimeError)(outcome.failing)
    if outcome.partial:
        raise RuntimeError(outcome.partial)
    return {
        "windows": [w.window.key for w in outcome.windows],
        "scores_changed": outcome.scores_changed,
        "pending": outcome.pending,
    }


def _airflow_exception(name: str) -> type[Exception] | None:
    """Airflow's own exception class (3: airflow.sdk.exceptions, 2: airflow.exceptions), None without Airflow."""
    for module in ("airflow.sdk.exceptions", "airflow.exceptions"):
        try:
            return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]
        except (ImportError, AttributeError):
            continue
    return None


try:
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG
except ImportError:
    try:  # Airflow 2
        from airflow import DAG
        from airflow.operators.python import PythonOperator
    except ImportError:  # Airflow not installed: nothing to schedule, the callable still works
        DAG = None

if DAG is not None:
    with DAG(
        dag_id="tracestrata_sync",
        schedule="20 * * * *",
        start_date=datetime(2026, 11, 1),
        catchup=False,  # tracestrata catches up by itself, from its own state
        max_active_runs=1,
        default_args={"retries": 3, "retry_delay": timedelta(minutes=5)},
        tags=["tracestrata", "llm-eval"],
    ) as dag:
        PythonOperator(
            task_id="sync",
            python_callable=sync_callable,
            op_kwargs={"config": "{{ var.value.tracestrata_config }}"},
        )
