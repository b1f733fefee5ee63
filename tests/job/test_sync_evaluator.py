"""`[report] evaluator`: the job (files connector) reports a declared evaluator's own scores beside its report, then is quiet."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from builders import write_jsonl

from tracestrata.errors import ConfigError
from tracestrata.job.config import parse_config
from tracestrata.job.logs import NullLog
from tracestrata.job.sync import run_sync
from tracestrata.record import Score
from tracestrata.evaluators.sampling_value import sampling_value
from tracestrata.synthetic import generate_traces, judge

T0 = datetime(2026, 11, 23, tzinfo=UTC)
H = timedelta(hours=1)
RECORDS = list(generate_traces(3000, start=T0, end=T0 + 6 * H, seed=4))
NOW = T0 + 6 * H + timedelta(minutes=30)
RATE = 0.2
POLICY: dict[str, Any] = {
    "seed": "unit",
    "strata": [{"field": "metadata.intent"}],
    "targets": {"default": 6},
    "evaluator": [{"name": "helpful", "rate": RATE, "hashes": "observation",
                   "filter": [{"field": "metadata.intent", "not_equals": "billing"}]}],
}


def make_config(root: Path, **report: Any):
    data: dict[str, Any] = {
        "state": "state.sqlite",
        "source": {"type": "files", "path": str(write_jsonl(root / "traces.jsonl", RECORDS)),
                   "scores_path": str(root / "scores.jsonl"), "sink_dir": str(root / "sink")},
        "policy": POLICY,
        "window": {"every": "1h", "settle": "10m", "start": "2026-11-23T00:00:00Z"},
        "scores": {"names": ["correct"], "metric": "correct"},
        "report": {"dir": "reports", "period": "1d", "formats": ["json", "md"], "evaluator": "helpful", **report},
    }
    return parse_config(data, path=root / "sync.toml")


def test_evaluator_report_beside_the_report_then_quiet(tmp_path: Path) -> None:
    judged = [r for r in RECORDS if r.metadata["intent"] != "billing" and sampling_value(r.span_id) < RATE]
    with (tmp_path / "scores.jsonl").open("wb") as handle:  # what the evaluator wrote on ingestion
        for r in judged:
            value = judge(r)["correct"]
            handle.write(orjson.dumps(Score(r.id, "helpful", value).to_json()) + b"\n")
    config = make_config(tmp_path)
    outcome = run_sync(config, now=NOW)
    path = tmp_path / "reports" / "evaluator-helpful.json"
    assert path in outcome.reports and (tmp_path / "reports" / "evaluator-helpful.md").exists()
    report = json.loads(path.read_text())
    assert report["metric"] == "helpful"
    assert report["population"] == sum(r.metadata["intent"] != "billing" for r in RECORDS)
    assert report["estimate"]["n_scored"] == len(judged)
    codes = {w["code"] for w in report["warnings"]}
    assert "evaluator_filter" in codes and "scores_outside_sample" not in codes

    log = NullLog()
    quiet = run_sync(config, now=NOW + timedelta(minutes=5), log=log)
    assert not quiet.changed and [x for x in log.lines if x["level"] != "debug"] == []


def test_an_undeclared_evaluator_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        make_config(tmp_path, evaluator="nope")
    assert caught.value.field == "report.evaluator" and "declared: helpful" in str(caught.value)
