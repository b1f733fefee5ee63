"""The demo's policy on the demo's default day (2500 traces, 40 per stratum), without Phoenix:
the heuristic proxy narrows the interval of `correct`, and the plain one stays beside it."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta

from tracestrata.estimate.report import build_report
from tracestrata.demo.run import POLICY
from tracestrata.record import Score
from tracestrata.policy.parse import parse_policy
from tracestrata.sampling.samplers import sample_records
from tracestrata.synthetic import generate_traces, judge, population_truth

START = datetime(2026, 1, 5, tzinfo=UTC)


def test_the_demo_day_gets_a_narrower_interval_from_its_heuristic() -> None:
    records = list(generate_traces(2500, start=START, end=START + timedelta(days=1), seed=0, heuristic=True))
    policy = parse_policy(tomllib.loads(POLICY.format(target=40, review=10)), source="demo policy")
    result = sample_records(records, policy)
    scores = [Score(p.record.id, "correct", judge(p.record)["correct"]) for p in result.selected]
    report = build_report(result.design(), scores, "correct", proxy="scores.heuristic").to_json()
    assisted, plain = report["estimate"], report["plain"]
    truth = population_truth(records, "correct")
    assert assisted["method"] == "difference+wilson-effective-n"
    ratio = (assisted["ci_high"] - assisted["ci_low"]) / (plain["ci_high"] - plain["ci_low"])
    assert ratio < 0.9
    assert assisted["ci_low"] <= truth <= assisted["ci_high"]
    assert plain["ci_low"] <= truth <= plain["ci_high"]
