"""A typo in a policy field path is one warning line on stderr (exit 0) in `sample`, `plan` and `sync`."""

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from builders import policy_data, policy_toml, sync_config_toml

from tracestrata.cli.main import main
from tracestrata.synthetic import generate_traces

T0 = datetime(2026, 11, 23, tzinfo=UTC)


@pytest.fixture()
def traces(tmp_path):
    path = tmp_path / "traces" / "day.jsonl"
    path.parent.mkdir()
    records = generate_traces(3000, start=T0, end=T0 + timedelta(hours=6), seed=4)
    path.write_bytes(b"".join(orjson.dumps(r.to_json()) + b"\n" for r in records))
    return path


def write_policy(tmp_path, name="policy.toml", **parts):
    path = tmp_path / name
    path.write_text(policy_toml("typo", **parts))
    return path


def warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if "warning" in line]


def test_sample_warns_once_about_a_strata_field_no_trace_has(tmp_path, traces, capsys):
    policy = write_policy(tmp_path, strata=({"field": "metadata.intnet", "top": 8},))
    assert main(["sample", "--source", f"jsonl:{traces}", "--policy", str(policy), "--out", str(tmp_path / "r")]) == 0
    lines = warnings(capsys.readouterr().err)
    assert lines == [
        "tracestrata: warning: strata field 'metadata.intnet' is missing on every trace of the window (3,000); "
        "closest field paths seen: metadata.intent"
    ]


def test_sample_warns_about_a_signal_field_no_trace_has_with_any_jobs(tmp_path, traces, capsys):
    signal = {"name": "refusal", "field": "metadata.refusl", "equals": True}
    policy = write_policy(tmp_path, signals=("error", signal))
    for jobs in ("1", "2"):
        out = tmp_path / f"r{jobs}"
        assert main(["sample", "--source", f"jsonl:{traces}", "--policy", str(policy), "--out", str(out), "--jobs", jobs]) == 0
        [line] = warnings(capsys.readouterr().err)
        assert "signal field 'metadata.refusl' is missing on every trace" in line
        assert line.endswith("closest field paths seen: metadata.refusal")


def test_a_field_present_on_some_traces_or_a_rare_signal_is_not_warned_about(tmp_path, traces, capsys):
    rare = {"name": "slow", "field": "latency_ms", "ge": 1e9}  # present everywhere, never fires
    policy = write_policy(tmp_path, signals=("error", rare), boosts=[
        {"name": "refunds", "field": "metadata.intent", "equals": "refund", "collect": 5}
    ])
    assert main(["sample", "--source", f"jsonl:{traces}", "--policy", str(policy), "--out", str(tmp_path / "r")]) == 0
    assert warnings(capsys.readouterr().err) == []


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_plan_warns_about_field_typos_and_a_budget_larger_than_the_window(tmp_path, traces, capsys, jobs):
    lines = traces.read_bytes().splitlines(keepends=True)
    parts = tmp_path / "parts"  # two files: two parts, counted by two processes with --jobs 2
    parts.mkdir()
    (parts / "a.jsonl").write_bytes(b"".join(lines[:1500]))
    (parts / "b.jsonl").write_bytes(b"".join(lines[1500:]))
    signal = {"name": "refusal", "field": "metadata.refusl", "equals": True}
    policy = write_policy(tmp_path, strata=({"field": "metadata.persnoa"},), signals=("error", signal))
    args = ["plan", "--source", f"jsonl:{parts}", "--policy", str(policy), "--budget", "5000", "--jobs", jobs]
    assert main(args) == 0
    lines = warnings(capsys.readouterr().err)
    assert lines == [
        "tracestrata: warning: strata field 'metadata.persnoa' is missing on every trace of the window (3,000); "
        "closest field paths seen: metadata.persona",
        "tracestrata: warning: signal field 'metadata.refusl' is missing on every trace of the window (3,000); "
        "closest field paths seen: metadata.refusal",
        "tracestrata: warning: --budget 5,000 is not below the whole window (3,000 traces): it has no effect",
    ]
    good = write_policy(tmp_path, "good.toml")
    assert main(["plan", "--source", f"jsonl:{parts}", "--policy", str(good), "--budget", "2999", "--jobs", jobs]) == 0
    assert warnings(capsys.readouterr().err) == []


def test_sync_warns_once_per_run_not_once_per_window(tmp_path, traces, capsys):
    policy = write_policy(tmp_path, strata=({"field": "metadata.intnet", "top": 8},))
    config = tmp_path / "sync.toml"
    config.write_text(
        sync_config_toml(
            {"type": "files", "path": "traces", "sink_dir": "var/sink"},
            str(policy),
            window={"every": "1h", "settle": "15m", "start": "2026-11-23T00:00:00Z"},
            sink={"dataset": "judge-{date}"},
        )
    )
    assert main(["sync", "--config", str(config), "--now", "2026-11-23T06:30:00Z"]) == 0
    captured = capsys.readouterr()
    assert sum(1 for line in captured.out.splitlines() if line.startswith("2026-11-23T")) == 6
    [line] = warnings(captured.err)
    assert line.startswith("warning: 2026-11-23T00:00:00Z/2026-11-23T01:00:00Z: strata field 'metadata.intnet'")
    assert line.endswith("closest field paths seen: metadata.intent")


def test_plan_config_warns_about_field_typos_with_the_paths_the_pulled_traces_have(tmp_path, traces, capsys):
    signal = {"name": "refusal", "field": "metadata.refusl", "equals": True}
    config = tmp_path / "sync.toml"
    config.write_text(
        sync_config_toml(
            {"type": "files", "path": "traces"},
            policy_data("typo", strata=[{"field": "metadata.intnet"}], signals=("error", signal)),
        )
    )
    args = ["plan", "--config", str(config), "--since", "2026-11-23T00:00:00Z", "--until", "2026-11-23T01:00:00Z"]
    assert main(args) == 0
    lines = warnings(capsys.readouterr().err)
    assert [line.split(" is ")[0] for line in lines] == [
        "tracestrata: warning: strata field 'metadata.intnet'",
        "tracestrata: warning: signal field 'metadata.refusl'",
    ]
    assert lines[0].endswith("closest field paths seen: metadata.intent")
    assert lines[1].endswith("closest field paths seen: metadata.refusal")
