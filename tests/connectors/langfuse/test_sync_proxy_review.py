"""`sync` with `[scores] proxy` and a `[review]` policy against the fake Langfuse.

The proxy score is read for each window by time range (pages, not per trace) and
recorded in every cell's totals over all traces; the whole sample goes to the dataset,
only the review subsample to the annotation queue.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from builders import policy_data, sync_config_toml

from tracestrata.errors import ConfigError
from tracestrata.job import config as config_module
from tracestrata.job import sync
from tracestrata.job.state import State
from tracestrata.record import Score
from tracestrata.synthetic import generate_traces, human_label, judge

T0 = datetime(2026, 11, 23, tzinfo=UTC)
POLICY = {
    **policy_data("proxy-e2e", strata=[{"field": "metadata.intent"}], default=8, signals=("error",)),
    "proxy": [{"field": "scores.heuristic"}],
    "review": {"target": 3},
}


def config_text(policy=POLICY, proxy="heuristic", report_proxy=None, metric="correct") -> str:
    return sync_config_toml(
        {"type": "langfuse", "score_config": "correct", "queue_journal_path": "var/journal.jsonl",
         "rate_limits": {"general": 0, "metrics": 0, "datasets": 0, "annotation_queues": 0}},
        policy,
        window={"every": "1h", "settle": "15m", "start": "2026-11-23T00:00:00Z", "max_windows_per_run": 24},
        sink={"dataset": "judge-{date}", "queue": "review"},
        scores={"names": ["correct", "human_correct"], "metric": metric, "proxy": proxy},
        report={"dir": "var/reports", "period": "1d", "formats": ["json"],
                **({"proxy": report_proxy} if report_proxy else {})},
        retry={"attempts": 3, "total_seconds": 30, "initial": 0.01, "max_wait": 0.05},
    )


def test_proxy_filled_by_time_range_and_review_subsample_queued(fake, tmp_path: Path, monkeypatch) -> None:
    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)
    records = list(generate_traces(600, start=T0, end=T0 + timedelta(hours=3), seed=4))
    fake.add_traces(records, children=0)
    scored = records[::2]  # half the traces have the online score, a minute after they ran
    fake.add_scores(
        Score(r.id, "heuristic", (i % 10) / 10, updated_at=r.timestamp + timedelta(minutes=1))
        for i, r in enumerate(scored)
    )
    path = tmp_path / "sync.toml"
    path.write_text(config_text())
    config = config_module.load_config(path)
    result = sync.run_sync(config, now=T0 + timedelta(hours=3, minutes=20))
    assert result.partial is None and len(result.windows) == 3

    with State(tmp_path / "var" / "state.sqlite") as state:
        runs = state.runs()
        cells = [c for run in runs for c in run.cells]
        sampled = state.sampled([run.run_id for run in runs])
    assert sum(c["proxy"]["scores.heuristic"]["n"] for c in cells) == len(scored)
    assert sum(c["population"] for c in cells) == len(records)
    expected = sum((i % 10) / 10 for i in range(len(scored)))
    assert abs(sum(c["proxy"]["scores.heuristic"]["sum"] for c in cells) - expected) < 1e-6

    dataset = {i["sourceTraceId"] for i in fake.dataset_items("judge-2026-11-23")}
    queued = [i["objectId"] for i in fake.queue_items("review")]
    reviewed = {trace_id for _run, trace_id, _cell, attrs in sampled if attrs.get("review")}
    assert len(dataset) == len(sampled)
    assert sorted(queued) == sorted(reviewed) and set(queued) < dataset
    per_stratum = Counter((run, attrs["stratum"]) for run, _t, _c, attrs in sampled if attrs.get("review"))
    assert per_stratum and max(per_stratum.values()) <= 3
    score_pages = [q for m, p, q in fake.requests if p == "/api/public/v3/scores" and "fromTimestamp" in q]
    stamps = [r.timestamp + timedelta(minutes=1) for r in scored]
    in_range = [
        sum(1 for t in stamps if T0 + timedelta(hours=h) <= t < T0 + timedelta(hours=h + 1, minutes=15))
        for h in range(3)
    ]
    assert len(score_pages) == sum(max(1, -(-n // 100)) for n in in_range)  # one request per page, none per trace


def test_proxy_the_policy_does_not_record_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "sync.toml"
    path.write_text(config_text(policy={k: v for k, v in POLICY.items() if k != "proxy"}))
    with pytest.raises(ConfigError, match="scores.proxy"):
        config_module.load_config(path)


def test_the_periodic_report_uses_the_ledgers_proxy_totals(fake, tmp_path: Path, monkeypatch) -> None:
    """The ledger keeps each cell's proxy totals, so the sync report (and `report --ledger --proxy`) can use them."""
    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)
    records = list(generate_traces(600, start=T0, end=T0 + timedelta(hours=3), seed=4, heuristic=True))
    fake.add_traces(records, children=0)
    fake.add_scores(Score(r.id, "heuristic", r.scores["heuristic"], updated_at=r.timestamp + timedelta(minutes=1))
                    for r in records)
    path = tmp_path / "sync.toml"
    path.write_text(config_text(report_proxy="scores.heuristic"))
    config = config_module.load_config(path)
    now = T0 + timedelta(hours=3, minutes=20)
    sync.run_sync(config, now=now)
    with State(tmp_path / "var" / "state.sqlite") as state:
        sampled = [t for _r, t, _c, _a in state.sampled([run.run_id for run in state.runs()])]
    by_id = {r.id: r for r in records}
    fake.add_scores(Score(t, "correct", bool(judge(by_id[t])["correct"])) for t in sampled)
    sync.run_sync(config, now=now)
    report = json.loads((tmp_path / "var" / "reports" / "report.json").read_text())
    assert report["estimate"]["method"] == "difference+wilson-effective-n"
    assert report["proxy"]["field"] == "scores.heuristic" and report["plain"]["method"] == "korn-graubard"
    assert report["proxy"]["variance_ratio"] < 1.0


def test_a_report_proxy_the_policy_does_not_record_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "sync.toml"
    path.write_text(config_text(report_proxy="scores.nope"))
    with pytest.raises(ConfigError, match="report.proxy") as info:
        config_module.load_config(path)
    assert info.value.line is not None


def test_human_reviews_read_back_calibrate_the_judge(fake, tmp_path: Path, monkeypatch) -> None:
    """Humans score the queued (review) traces in Langfuse; sync reads their labels back like judge
    scores and the periodic report is the two-phase estimate of the human metric."""
    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)
    records = list(generate_traces(600, start=T0, end=T0 + timedelta(hours=3), seed=6, heuristic=True))
    fake.add_traces(records, children=0)
    path = tmp_path / "sync.toml"
    path.write_text(config_text(report_proxy="score:correct", metric="human_correct"))
    config = config_module.load_config(path)
    now = T0 + timedelta(hours=3, minutes=20)
    sync.run_sync(config, now=now)
    by_id = {r.id: r for r in records}
    queued = {i["objectId"] for i in fake.queue_items("review")}
    with State(tmp_path / "var" / "state.sqlite") as state:
        sampled = [t for _r, t, _c, _a in state.sampled([run.run_id for run in state.runs()])]
    fake.add_scores(Score(t, "correct", bool(judge(by_id[t])["correct"])) for t in sampled)
    fake.add_scores(Score(t, "human_correct", human_label(by_id[t])) for t in queued)
    sync.run_sync(config, now=now)
    report = json.loads((tmp_path / "var" / "reports" / "report.json").read_text())
    assert report["estimate"]["method"] == "two-phase+korn-graubard"
    assert report["proxy"]["disagreement"]["reviewed"] == len(queued)
    assert report["proxy"]["disagreement"]["judge_minus_human"] > 0
