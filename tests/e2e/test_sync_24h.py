"""End to end: `tracestrata sync` over 24 hourly windows of synthetic traffic, then the
24-window report against the synthetic truth.

The traffic has a compliance slice at 0.5% of volume and a `refund` cluster under a
boost. One run samples the whole day (24 windows, each its own design); the
simulated judge scores most sampled traces; the next run reads the scores back and
writes the report over the day. The global interval must cover the population
truth (fixed seeds: deterministic), the rare slice must be reported, and the boost
must stop once `collect` traces were gathered.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from builders import policy_data, sync_config_toml

from tracestrata.job.ledger import design_from_ledger
from tracestrata.job.state import State
from tracestrata.record import Score
from tracestrata.synthetic import generate_traces, judge, population_truth

T0 = datetime(2026, 11, 23, tzinfo=UTC)
COLLECT = 120

CONFIG = sync_config_toml(
    {"type": "files", "path": "traces.jsonl", "scores_path": "scores.jsonl", "sink_dir": "var/sink"},
    policy_data(
        "e2e-24h",
        strata=[{"field": "metadata.intent"}],
        default=12,
        signals=("error", "refusal", "thumbs-down"),
        boosts=[{"name": "refund-loop", "field": "metadata.intent", "equals": "refund", "collect": COLLECT}],
    ),
    window={"every": "1h", "settle": "15m", "start": "2026-11-23T00:00:00Z", "max_windows_per_run": 24},
    sink={"dataset": "judge-{date}"},
    scores={"names": ["correct", "quality"], "metric": "correct"},
    report={"dir": "var/reports", "period": "1d", "formats": ["json", "md", "html"]},
)


def tracestrata(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracestrata.cli.main", *args], capture_output=True, text=True, timeout=300
    )


def sync(config: Path, now: str) -> subprocess.CompletedProcess[str]:
    return tracestrata("sync", "--config", str(config), "--now", now)


@pytest.mark.slow
def test_24_hourly_windows_report_covers_truth_and_boost_turns_off(tmp_path: Path) -> None:
    records = list(generate_traces(9_600, start=T0, end=T0 + timedelta(hours=24), seed=2026))
    (tmp_path / "traces.jsonl").write_bytes(b"".join(orjson.dumps(r.to_json()) + b"\n" for r in records))
    config = tmp_path / "sync.toml"
    config.write_text(CONFIG)

    first = sync(config, "2026-11-24T00:20:00Z")
    assert first.returncode == 0, first.stderr
    assert len([x for x in first.stdout.splitlines() if x.startswith("2026-11-2")]) == 24

    # the judge scores every sampled trace except every 7th (missing at random within cells)
    by_id = {r.id: r for r in records}
    sampled = sorted(
        {orjson.loads(x)["trace_id"] for p in (tmp_path / "var" / "sink").rglob("*.jsonl") for x in p.read_bytes().splitlines()}
    )
    with (tmp_path / "scores.jsonl").open("wb") as handle:
        for i, trace_id in enumerate(sampled):
            if i % 7 == 3:
                continue
            verdict = judge(by_id[trace_id])
            for name in ("correct", "quality"):
                handle.write(orjson.dumps(Score(trace_id, name, verdict[name]).to_json()) + b"\n")

    second = sync(config, "2026-11-24T00:40:00Z")
    assert second.returncode == 0, second.stderr
    assert "scores:" in second.stdout and "report:" in second.stdout
    report = json.loads((tmp_path / "var" / "reports" / "report.json").read_text())
    truth = population_truth(records, "correct")
    estimate = report["estimate"]
    print(f"truth={truth:.4f} estimate={estimate}")
    assert estimate["ci_low"] <= truth <= estimate["ci_high"], (truth, estimate)
    assert report["population"] == len(records)
    strata = {row["stratum"]: row for row in report["strata"]}
    assert "compliance" in strata and strata["compliance"]["population"] == sum(
        1 for r in records if r.metadata["intent"] == "compliance"
    )
    assert strata["compliance"]["scored"] >= 2
    for fmt in ("md", "html"):
        assert (tmp_path / "var" / "reports" / f"report.{fmt}").stat().st_size > 0

    # the boost: exactly COLLECT refund traces taken at 100%, then back to normal sampling
    design, _ = design_from_ledger(tmp_path / "var" / "state.sqlite", since=None, until=datetime(2026, 11, 25, tzinfo=UTC))
    boost_cells = [c for c in design.cells if c.kind.value == "boost"]
    assert sum(c.sampled for c in boost_cells) == COLLECT
    assert all(c.sampled == c.population for c in boost_cells[:-1])  # taken at 100% while active
    last_boosted = max(c.window for c in boost_cells if c.window)
    later = [c for c in design.cells if c.window and c.window > last_boosted]
    assert later and not any(c.kind.value == "boost" for c in later)
    assert any(c.stratum == "refund" for c in later)  # refunds sampled again as a normal stratum
    with State(tmp_path / "var" / "state.sqlite") as state:
        assert state.boost_collected(next(iter({r.source for r in state.runs()}))) == {"refund-loop": COLLECT}

    third = sync(config, "2026-11-24T00:50:00Z")
    assert (third.returncode, third.stdout, third.stderr) == (0, "", "")

    # across the 24 windows, compare groups that are not strata (kept per trace in the ledger)
    for field in ("release", "metadata.persona"):
        compared = tracestrata(
            "report", "--ledger", str(tmp_path / "var" / "state.sqlite"), "--since", "7d",
            "--until", "2026-11-25T00:00:00Z", "--metric", "correct", "--compare", field, "--format", "json",
        )
        assert compared.returncode == 0, compared.stderr
        assert json.loads(compared.stdout)["compare"] and "compare_field_missing" not in compared.stdout, field
