"""`--judge module:function` (sync and async; bool, number, verdict, several scores), phoenix-evals
judges against the stub, and `tracestrata judge --sample` from the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from helpers import file_targets, items, scores_in

from tracestrata.errors import ConfigError
from tracestrata.judging import JudgeVerdict, RunnerSettings, load_judge, run_judge, verdicts_from

HERE = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(HERE))


@pytest.mark.parametrize("spec", ["stub_judges:ok", "stub_judges:ok_async"])
def test_sync_and_async_functions(spec: str, tmp_path: Path) -> None:
    sample = items(20)
    out = tmp_path / "s.jsonl"
    outcome = run_judge(sample, load_judge(spec), file_targets(out), RunnerSettings(name="correct"), progress=False)
    assert outcome.judged == 20
    values = {s.trace_id: s.value for s in scores_in(out, [i.trace_id for i in sample])}
    expect = {i.trace_id: (i.record.status == "ok") for i in sample}
    assert {k: bool(v) for k, v in values.items()} == expect


def test_rich_and_several_scores(tmp_path: Path) -> None:
    sample = items(3)
    out = tmp_path / "s.jsonl"
    run_judge(sample, load_judge("stub_judges:rich"), file_targets(out), RunnerSettings(name="correct"), progress=False)
    lines = [orjson.loads(line) for line in out.read_text().splitlines()]
    assert {line["label"] for line in lines} <= {"pass", "fail"} and all(line["reason"] for line in lines)
    assert lines[0]["metadata"]["inclusion_probability"] == 0.5 and lines[0]["identifier"] == "stub_judges:rich"
    out2 = tmp_path / "s2.jsonl"
    run_judge(sample, load_judge("stub_judges:several"), file_targets(out2), RunnerSettings(name="correct"), progress=False)
    assert len(scores_in(out2, [i.trace_id for i in sample], "quality")) == 3


def test_a_judge_that_raises_fails_its_traces_not_the_run(tmp_path: Path) -> None:
    outcome = run_judge(items(4), load_judge("stub_judges:broken"), file_targets(tmp_path / "s.jsonl"),
                        RunnerSettings(name="correct"), progress=False)
    assert (outcome.judged, outcome.failed, outcome.calls) == (0, 4, 4)
    assert outcome.first_error == "RuntimeError"  # its type only: a judge's message may quote the trace


def test_bad_specs_are_one_line_config_errors() -> None:
    with pytest.raises(ConfigError, match="cannot import"):
        load_judge("no_such_module_here:judge")
    with pytest.raises(ConfigError, match="has no"):
        load_judge("stub_judges:missing")
    with pytest.raises(ConfigError, match="not a phoenix.evals evaluator"):
        load_judge("phoenix-evals:stub_judges:ok")


def test_what_a_judge_may_return() -> None:
    assert verdicts_from(True) == (JudgeVerdict(True),)
    assert verdicts_from(3) == (JudgeVerdict(3.0),)
    assert verdicts_from("pass") == (JudgeVerdict("pass", label="pass"),)
    assert verdicts_from({"score": 0.5, "explanation": "meh"}) == (JudgeVerdict(0.5, reason="meh"),)
    assert verdicts_from([]) == ()
    with pytest.raises(ValueError):
        verdicts_from(None)
    with pytest.raises(ValueError):
        verdicts_from(float("nan"))


def test_phoenix_evals_classifier_against_the_stub(stub, monkeypatch, tmp_path: Path) -> None:
    pytest.importorskip("phoenix.evals")
    monkeypatch.setenv("STUB_JUDGE_URL", stub.url)
    sample = items(6)
    out = tmp_path / "s.jsonl"
    judge = load_judge("phoenix-evals:stub_judges:classifier")
    outcome = run_judge(sample, judge, file_targets(out), RunnerSettings(name="correct"), progress=False)
    assert (outcome.judged, outcome.failed) == (6, 0), outcome.first_error
    assert stub.calls == 6 and set(stub.by_trace) == {i.trace_id for i in sample}
    lines = [orjson.loads(line) for line in out.read_text().splitlines()]
    assert {line["label"] for line in lines} <= {"correct", "incorrect"}
    assert all(line["reason"] == "the stub says so" for line in lines)


def test_cli_judges_a_sample_directory_and_a_rerun_continues(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tracestrata.cli.main", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)

    assert cli("generate", "--traces", "2000", "--out", "traces.jsonl").returncode == 0
    policy = Path(__file__).resolve().parents[2] / "examples" / "policies" / "basic.toml"
    assert cli("sample", "--source", "jsonl:traces.jsonl", "--policy", str(policy), "--out", "run").returncode == 0
    first = cli("judge", "--sample", "run", "--judge", "stub_judges:ok", "--name", "correct", "--out", "scores.jsonl",
                "--max-calls", "50")
    assert first.returncode == 0, first.stderr
    assert "judged 50," in first.stderr and "deferred" in first.stderr
    second = cli("judge", "--sample", "run", "--judge", "stub_judges:ok", "--name", "correct", "--out", "scores.jsonl")
    assert "skipped 50 already scored" in second.stderr
    sampled = len((tmp_path / "run" / "sample.jsonl").read_text().splitlines())
    assert len((tmp_path / "scores.jsonl").read_text().splitlines()) == sampled
    report = cli("report", "--sample", "run", "--scores", "jsonl:scores.jsonl", "--metric", "correct")
    assert report.returncode == 0, report.stderr
    missing = cli("judge", "--sample", "run", "--judge", "stub_judges:ok", "--out", "x.jsonl")
    assert missing.returncode == 2 and "--name" in missing.stderr


def test_cli_reads_bodies_from_the_traces_the_sample_came_from(tmp_path: Path, monkeypatch) -> None:
    from click.testing import CliRunner

    from tracestrata.cli.main import cli
    from tracestrata.synthetic import generate_traces

    monkeypatch.chdir(tmp_path)
    from helpers import T0

    records = list(generate_traces(400, start=T0, end=T0.replace(hour=23), seed=2))
    lines = [orjson.dumps({**r.to_json(), "input": f"q {r.id}", "output": f"a {r.id}"}) for r in records]
    (tmp_path / "traces.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    policy = Path(__file__).resolve().parents[2] / "examples" / "policies" / "basic.toml"
    runner = CliRunner()
    assert runner.invoke(cli, ["sample", "--source", "jsonl:traces.jsonl", "--policy", str(policy), "--out", "run"]).exit_code == 0
    done = runner.invoke(cli, ["judge", "--sample", "run", "--bodies", "traces.jsonl", "--judge", "stub_judges:reads_bodies",
                               "--name", "bodies", "--out", "scores.jsonl"])
    assert done.exit_code == 0, done.output
    values = [orjson.loads(line)["value"] for line in (tmp_path / "scores.jsonl").read_text().splitlines()]
    assert values and all(v is True for v in values)
