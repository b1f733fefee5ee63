"""`tracestrata plan --config` against the fake Langfuse: counts pushed down to the metrics API
when the strata allow it, the same counts as pulling, and a clear fallback when they do not."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import orjson
from builders import policy_data, sync_config_toml, toml_text

from tracestrata.cli.main import main
from tracestrata.synthetic import generate_traces

T0 = datetime(2026, 11, 23, tzinfo=UTC)
NO_LIMITS = {"general": 0, "metrics": 0, "datasets": 0, "annotation_queues": 0}


def policy(field, extra):
    return policy_data("plan", strata=[{"field": field, **(extra or {})}], default=50, multiplier=None, signals=())


def run_plan(tmp_path, capsys, field, extra=None, *args):
    config = tmp_path / "sync.toml"
    config.write_text(
        sync_config_toml({"type": "langfuse", "rate_limits": NO_LIMITS}, policy(field, extra), state="state.sqlite")
    )
    code = main(["plan", "--config", str(config), "--since", "2026-11-23T00:00:00Z",
                 "--until", "2026-11-23T03:00:00Z", "--format", "json", *args])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out), out.err


def pulled_plan(tmp_path, capsys, records, field, extra=None):
    traces = tmp_path / "traces.jsonl"
    traces.write_bytes(b"".join(orjson.dumps(r.to_json()) + b"\n" for r in records))
    path = tmp_path / "policy.toml"
    path.write_text(toml_text(policy(field, extra)))
    assert main(["plan", "--source", f"jsonl:{traces}", "--policy", str(path), "--rate", "0.1", "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def populations(plan):
    return {s["stratum"]: s["population"] for s in plan["strata"]}


def test_groupable_strata_are_counted_without_pulling(fake, tmp_path, capsys, monkeypatch):
    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)
    records = list(generate_traces(600, start=T0, end=T0 + timedelta(hours=3), seed=4))
    fake.add_traces(records)
    before = len(fake.requests)
    plan, err = run_plan(tmp_path, capsys, "release", {"top": 1}, "--rate", "0.1")
    assert "no traces pulled" in err
    paths = [path for _, path, _ in fake.requests[before:]]
    assert not any(p.startswith("/api/public/v2/observations") for p in paths)
    assert populations(plan) == populations(pulled_plan(tmp_path, capsys, records, "release", {"top": 1}))


def test_metadata_strata_fall_back_to_pulling_and_say_why(fake, tmp_path, capsys, monkeypatch):
    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)
    records = list(generate_traces(300, start=T0, end=T0 + timedelta(hours=3), seed=5))
    fake.add_traces(records)
    plan, err = run_plan(tmp_path, capsys, "metadata.intent", None, "--rate", "0.1")
    assert "counting by pulling the window's metadata" in err
    assert populations(plan) == populations(pulled_plan(tmp_path, capsys, records, "metadata.intent"))
