"""`plan`'s three modes: named by `--mode` or inferred as before, one library call behind them,
and options that contradict a mode refused in one line (exit 2)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from builders import policy_toml

from tracestrata.cli.main import main
from tracestrata.errors import ConfigError, ExitCode
from tracestrata.plan.allocation import Plan
from tracestrata.plan.plan_json import plan_json
from tracestrata.plan.request import PlanMode, PlanRequest, infer_mode
from tracestrata.plan.run import plan
from tracestrata.synthetic import generate_traces

START = datetime(2026, 11, 23, tzinfo=UTC)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("modes")
    traces = root / "traces.jsonl"
    with traces.open("wb") as handle:
        for record in generate_traces(1500, start=START, end=START + timedelta(hours=2), seed=3):
            handle.write(orjson.dumps(record.to_json()) + b"\n")
    policy = root / "policy.toml"
    policy.write_text(policy_toml("modes", strata=[{"field": "metadata.intent", "top": 4}]))
    return traces, policy


def test_inferred_as_the_command_line_always_meant() -> None:
    assert infer_mode(ledger=None, config=None, metric=None) is PlanMode.SOURCE
    assert infer_mode(ledger=None, config="sync.toml", metric=None) is PlanMode.CONFIG
    assert infer_mode(ledger=None, config="sync.toml", metric="correct") is PlanMode.LEDGER
    assert infer_mode(ledger="state.sqlite", config=None, metric=None) is PlanMode.LEDGER


def test_the_library_call_is_what_the_command_prints(files: tuple[Path, Path], capsys) -> None:
    traces, policy = files
    result = plan(PlanRequest(PlanMode.SOURCE, source=f"jsonl:{traces}", policy=str(policy), budget=300))
    assert isinstance(result.plan, Plan) and result.plan.total == 300 and result.mode is PlanMode.SOURCE
    assert sum(c.population for c in result.counts) == 1500
    outputs = []
    for mode in ([], ["--mode", "source"]):
        args = ["plan", *mode, "--source", f"jsonl:{traces}", "--policy", str(policy), "--budget", "300"]
        assert main([*args, "--format", "json"]) == 0
        outputs.append(json.loads(capsys.readouterr().out))
    assert outputs[0] == outputs[1] == json.loads(json.dumps(plan_json(result.plan, result.counts)))


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--mode", "ledger", "--source", "jsonl:t.jsonl", "--policy", "p.toml", "--metric", "m"], "not both"),
        (["--mode", "ledger", "--metric", "correct"], "--mode ledger needs --ledger"),
        (["--ledger", "s.sqlite", "--metric", "correct", "--rate", "0.1"], "--rate: not in a ledger plan"),
        (["--ledger", "s.sqlite", "--metric", "correct", "--until", "2026-01-01"], "--until: not in a ledger plan"),
        (["--ledger", "s.sqlite", "--metric", "correct", "--skip-bad"], "--skip-bad"),
        (["--mode", "config", "--source", "jsonl:t.jsonl"], "either --config or --source"),
        (["--mode", "config"], "--mode config needs --config"),
        (["--mode", "ledger", "--config", "sync.toml"], "a ledger plan (--ledger, or --mode ledger --config) needs"),
        (["--mode", "config", "--config", "sync.toml", "--ledger", "s.sqlite"], "--ledger goes with --mode ledger"),
        (["--mode", "config", "--config", "sync.toml", "--metric", "correct"], "go with --ledger"),
        (["--mode", "config", "--config", "sync.toml", "--skip-bad"], "go with --mode source"),
        (["--mode", "source", "--config", "sync.toml"], "go with --mode config or ledger"),
        (["--source", "jsonl:t.jsonl", "--policy", "p.toml", "--metric", "correct"], "go with --ledger"),
        (["--source", "jsonl:t.jsonl", "--policy", "p.toml", "--rate", "0.1", "--rate-field", "x"], "not both"),
        (["--source", "jsonl:t.jsonl"], "give --source and --policy"),
        # options a mode would silently ignore
        (["--ledger", "s.sqlite", "--metric", "correct", "--no-design-effect"], "--no-design-effect: not in a ledger"),
        (["--ledger", "s.sqlite", "--metric", "m", "--proxy", "score:c", "--budget", "9"], "--budget (with --proxy score"),
        (["--ledger", "s.sqlite", "--metric", "m", "--proxy", "score:c", "--no-fpc"], "--no-fpc (with --proxy score"),
        (["--ledger", "s.sqlite", "--metric", "correct", "--jobs", "4"], "--jobs splits reading a --source"),
        (["--config", "sync.toml", "--jobs", "2"], "not in a config plan"),
    ],
)
def test_contradictions_are_one_line(args: list[str], needle: str, capsys) -> None:
    assert main(["plan", *args]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1, err


def test_the_library_refuses_a_contradictory_request() -> None:
    with pytest.raises(ConfigError, match="needs --metric"):
        plan(PlanRequest(PlanMode.LEDGER, ledger="state.sqlite"))


def test_a_weighted_policy_says_its_targets_are_sized_for_equal_probabilities(files: tuple[Path, Path],
                                                                               tmp_path: Path, capsys) -> None:
    traces, policy = files
    weighted = tmp_path / "weighted.toml"
    weighted.write_text(policy.read_text() + '\n[sampling]\nweight = "expr: sqrt(scores.heuristic * 2) + 0.1"\n')
    assert main(["plan", "--source", f"jsonl:{traces}", "--policy", str(weighted)]) == 0
    err = capsys.readouterr().err
    assert 'weight = "expr: sqrt(scores.heuristic * 2) + 0.1" draws unequal probabilities' in err
    assert main(["plan", "--source", f"jsonl:{traces}", "--policy", str(policy)]) == 0
    assert "unequal probabilities" not in capsys.readouterr().err
