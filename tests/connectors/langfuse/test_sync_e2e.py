"""`tracestrata.job.sync.run_sync` end to end against the fake Langfuse (through the entry point).

Six hourly windows of synthetic traffic; the sample goes to a daily dataset and a
review queue; faults on the way (a 429, a lost queue-item response) change nothing;
the simulated judge scores the sampled traces in "Langfuse"; the next run reads them
back and reports; a repeated run sends no write at all.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from builders import policy_data, sync_config_toml

from tracestrata.record import Score
from tracestrata.synthetic import generate_traces, judge, population_truth

sync = pytest.importorskip("tracestrata.job.sync")
config_module = pytest.importorskip("tracestrata.job.config")

T0 = datetime(2026, 11, 23, tzinfo=UTC)
CONFIG = sync_config_toml(
    {
        "type": "langfuse",
        "queue_journal_path": "var/queue-journal.jsonl",
        "score_config": "correct",
        "rate_limits": {"general": 0, "metrics": 0, "datasets": 0, "annotation_queues": 0},
    },
    policy_data("langfuse-e2e", strata=[{"field": "metadata.intent"}], default=8, signals=("error",)),
    window={"every": "1h", "settle": "15m", "start": "2026-11-23T00:00:00Z", "max_windows_per_run": 24},
    sink={"dataset": "judge-{date}", "queue": "review"},
    scores={"names": ["correct", "quality"], "metric": "correct"},
    report={"dir": "var/reports", "period": "1d", "formats": ["json", "md"]},
    retry={"attempts": 4, "total_seconds": 30, "initial": 0.01, "max_wait": 0.05},
)

WRITES = ("/api/public/dataset-items", "/api/public/v2/datasets", "/api/public/annotation-queues")


def posts(fake) -> int:
    return sum(1 for method, path, _ in fake.requests if method == "POST" and path.startswith(WRITES))


def test_sync_against_fake_langfuse(fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)
    records = list(generate_traces(1500, start=T0, end=T0 + timedelta(hours=6), seed=11))
    fake.add_traces(records, children=1)
    path = tmp_path / "sync.toml"
    path.write_text(CONFIG)
    config = config_module.load_config(path)

    fake.inject("429", path="/api/public/v2/observations", retry_after=0)
    fake.inject("drop_after", path="/api/public/annotation-queues/", count=1)  # the queue POST lands, answer lost
    first = sync.run_sync(config, now=T0 + timedelta(hours=6, minutes=20))
    assert first.partial is None
    assert len(first.windows) == 6
    assert sum(w.traces for w in first.windows) == len(records)

    dataset = fake.dataset_items("judge-2026-11-23")
    queued = [i["objectId"] for i in fake.queue_items("review")]
    sampled = sorted(i["sourceTraceId"] for i in dataset)
    assert len(sampled) == len(set(sampled)) == sum(w.selected for w in first.windows)
    assert sorted(queued) == sampled  # every sampled trace queued exactly once despite the lost response
    assert all(i["metadata"]["weight"] >= 1 for i in dataset)
    assert (tmp_path / "var" / "queue-journal.jsonl").exists()  # `*_path` options resolve beside the config

    # the judge scores the sample in Langfuse; the next run reads the scores back and reports
    by_id = {r.id: r for r in records}
    fake.add_scores(
        Score(trace_id, name, judge(by_id[trace_id])[name]) for trace_id in sampled for name in ("correct", "quality")
    )
    writes_before = posts(fake)
    second = sync.run_sync(config, now=T0 + timedelta(hours=6, minutes=40))
    assert second.partial is None and second.windows == []
    assert second.scores_changed == 2 * len(sampled)
    report = json.loads((tmp_path / "var" / "reports" / "report.json").read_text())
    assert report["estimate"]["n_scored"] == len(sampled)
    truth = population_truth(records, "correct")
    assert report["estimate"]["ci_low"] <= truth <= report["estimate"]["ci_high"]

    third = sync.run_sync(config, now=T0 + timedelta(hours=6, minutes=50))
    assert not third.changed
    assert posts(fake) == writes_before  # idempotent: nothing written again


def test_sync_retries_langfuse_under_the_config_retry_policy(fake, tmp_path: Path, monkeypatch) -> None:
    """A persistent 502: the client retries under [retry] (7 attempts), not its own 5, and each retry is a -v line."""
    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)
    fake.add_traces(list(generate_traces(50, start=T0, end=T0 + timedelta(hours=1), seed=3)))
    path = tmp_path / "sync.toml"
    path.write_text(CONFIG.replace('attempts = 4', 'attempts = 7'))
    config = config_module.load_config(path)
    fake.inject("502", path="/api/public/v2/observations", count=1000)
    log = sync.NullLog()
    outcome = sync.run_sync(config, now=T0 + timedelta(hours=1, minutes=20), log=log)
    assert outcome.partial is not None and "HTTP 502" in outcome.partial
    assert fake.count_requests("/api/public/v2/observations") == 7
    retries = [line["message"] for line in log.lines if line["event"] == "retry"]
    assert len(retries) == 6 and all("502" in m and "of 7, retrying in " in m for m in retries)


def _cli_sync(config: Path, env: dict[str, str]) -> "subprocess.CompletedProcess[str]":
    import os
    import subprocess
    import sys

    clean = {k: v for k, v in os.environ.items() if not k.startswith("LANGFUSE_")}
    return subprocess.run(
        [sys.executable, "-m", "tracestrata.cli.main", "sync", "--config", str(config), "--now", "2026-11-23T02:20:00Z"],
        capture_output=True, text=True, timeout=120, env={**clean, **env},
    )


def test_cli_wrong_or_missing_keys_one_line_and_exit_code(fake, tmp_path: Path) -> None:
    fake.add_traces(generate_traces(50, start=T0, end=T0 + timedelta(hours=2), seed=1))
    config = tmp_path / "sync.toml"
    config.write_text(CONFIG)
    wrong = _cli_sync(config, {**fake.env(), "LANGFUSE_SECRET_KEY": "-".join(("not", "the", "right", "one"))})
    assert wrong.returncode == 3, wrong.stderr
    lines = wrong.stderr.strip().splitlines()
    assert len(lines) == 1 and "LANGFUSE_SECRET_KEY" in lines[0] and "Traceback" not in wrong.stderr
    assert "-".join(("not", "the", "right", "one")) not in wrong.stderr + wrong.stdout

    missing = _cli_sync(config, {"LANGFUSE_BASE_URL": fake.url, "LANGFUSE_PUBLIC_KEY": fake.public_key})
    assert missing.returncode == 2, missing.stderr
    assert "LANGFUSE_SECRET_KEY" in missing.stderr and len(missing.stderr.strip().splitlines()) == 1
    assert fake.count_requests("/api/public/v2/observations") == 1  # only the refused call, none without keys
