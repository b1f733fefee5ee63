"""`tracestrata plan --config`: a sync config's source and policy; usage errors are one line."""

import json
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from builders import policy_data, sync_config_toml

from tracestrata.cli.main import main
from tracestrata.errors import ExitCode
from tracestrata.synthetic import generate_traces

T0 = datetime(2026, 11, 23, tzinfo=UTC)
CONFIG = sync_config_toml(
    {"type": "files", "path": "traces.jsonl"},
    policy_data("x", strata=[{"field": "metadata.intent"}], default=20, multiplier=None, signals=()),
)


@pytest.fixture
def config(tmp_path):
    records = generate_traces(400, start=T0, end=T0 + timedelta(hours=2), seed=3)
    (tmp_path / "traces.jsonl").write_bytes(b"".join(orjson.dumps(r.to_json()) + b"\n" for r in records))
    path = tmp_path / "sync.toml"
    path.write_text(CONFIG)
    return path


def test_config_source_pulls_the_window_and_plans(config, capsys):
    args = ["plan", "--config", str(config), "--since", "2026-11-23T00:00:00Z", "--until", "2026-11-23T01:00:00Z"]
    assert main([*args, "--format", "json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert 150 < plan["population"] < 250  # one of the two hours
    assert {s["stratum"] for s in plan["strata"]} >= {"billing", "tech"}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--source", "jsonl:x.jsonl"], "either --config or --source"),
        ([], None),
    ],
)
def test_usage_errors(config, capsys, extra, message):
    args = ["plan", *extra] + (["--config", str(config)] if message else [])
    assert main(args) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert (message or "give --source and --policy, or --config") in err
