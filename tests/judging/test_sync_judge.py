"""`[judge]` inside `sync`: one scheduled command pulls, samples, writes, judges, reads back and reports;
traces the judge failed on are counted in the report among the unscored."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from builders import sync_config_toml

from tracestrata.job.config import load_config
from tracestrata.job.logs import SyncLog
from tracestrata.job.sync import run_sync
from tracestrata.synthetic import generate_traces

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 23, tzinfo=UTC)
NOW = T0 + timedelta(hours=3, minutes=30)


@pytest.fixture(autouse=True)
def importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent))


def make(tmp_path: Path, judge: str, *, name: str = "correct", metrics: tuple[str, ...] = ("correct",),
         **judge_options: object) -> Path:
    traces = tmp_path / "traces.jsonl"
    records = generate_traces(300, start=T0, end=T0 + timedelta(hours=3), seed=8)
    traces.write_bytes(b"".join(orjson.dumps(r.to_json()) + b"\n" for r in records))
    config = tmp_path / "sync.toml"
    config.write_text(sync_config_toml(
        {"type": "files", "path": str(traces), "sink_dir": "sink", "scores_path": "scores"},
        str(ROOT / "examples" / "policies" / "basic.toml"),
        state="state.sqlite",
        window={"every": "1h", "settle": "15m", "start": "2026-11-23T00:00:00Z"},
        scores={"names": list(metrics), "metric": metrics[0]},
        report={"dir": "reports", "formats": ["json"], "metrics": list(metrics)},
        retry={"attempts": 2, "total_seconds": 5, "initial": 0.0, "max_wait": 0.0},
        judge={"judge": judge, "name": name, "concurrency": 4, **judge_options},
    ))
    return config


def test_one_sync_judges_reads_back_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = load_config(make(tmp_path, "stub_judges:ok"))
    run_sync(config, now=NOW, log=SyncLog())
    out = capsys.readouterr().out
    assert "judge correct (stub_judges:ok): judged " in out and "scores: " in out
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    sampled = report["estimate"]["n_scored"]
    assert sampled > 0 and not any(w["code"] == "judge_failed" for w in report.get("warnings", []))
    run_sync(config, now=NOW, log=SyncLog())  # nothing new: judges nothing, says nothing
    assert capsys.readouterr().out == ""


def test_judge_failures_are_counted_in_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = load_config(make(tmp_path, "stub_judges:fails_on_errors"))
    outcome = run_sync(config, now=NOW, log=SyncLog())
    err = capsys.readouterr().err
    assert "failed " in err and "first failure: TimeoutError" in err
    assert "the judge gave up" not in err  # not our text: a judge's message may quote the trace
    assert outcome.exit_code == 4 and "partial: the judge failed on" in (outcome.partial or "")
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    warning = next(w for w in report["warnings"] if w["code"] == "judge_failed")
    lines = (tmp_path / "scores" / "tracestrata-judge.jsonl").read_text().splitlines()
    assert warning["count"] > 0 and len(lines) == report["estimate"]["n_scored"]  # the failed ones stay unscored


def test_a_judge_error_quoting_the_body_leaks_nowhere(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config_path = make(tmp_path, "stub_judges:leaky")
    traces = tmp_path / "traces.jsonl"
    lines = [orjson.loads(line) for line in traces.read_bytes().splitlines()]
    traces.write_bytes(b"".join(
        orjson.dumps({**line, "input": "q", "output": f"BODY-{line['id']}-TEXT"}) + b"\n" for line in lines
    ))
    run_sync(load_config(config_path), now=NOW, log=SyncLog())
    out, err = capsys.readouterr()
    assert "first failure: ValueError" in err
    found = [path for path in tmp_path.rglob("*") if path.is_file() and path != traces and b"BODY-" in path.read_bytes()]
    assert "BODY-" not in out + err and not found


def test_judge_config_command_judges_the_windows_asked_for(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tracestrata.cli.main import cli

    config_path = make(tmp_path, "stub_judges:ok")
    text = config_path.read_text()
    config_path.write_text(text[: text.index("[judge]")])  # no [judge]: sync samples, the command judges
    run_sync(load_config(config_path), now=NOW, log=SyncLog())
    args = ["judge", "--config", str(config_path), "--judge", "stub_judges:ok", "--name", "correct", "--now",
            NOW.isoformat()]
    one = CliRunner().invoke(cli, [*args, "--window", "2026-11-23T01:00:00Z/2026-11-23T02:00:00Z"])
    assert one.exit_code == 0, one.output
    judged = int(one.output.split("judged ")[1].split(",")[0])
    rest = CliRunner().invoke(cli, args)
    assert rest.exit_code == 0 and f"skipped {judged} already scored" in rest.output
    bad = CliRunner().invoke(cli, [*args, "--window", "2026-11-23T01:00:00Z"])
    assert bad.exit_code == 2 and "START/END" in bad.output


def test_a_new_score_destination_is_judged_anew(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tracestrata.cli.main import cli

    config_path = make(tmp_path, "stub_judges:ok")
    text = config_path.read_text()
    config_path.write_text(text[: text.index("[judge]")])
    run_sync(load_config(config_path), now=NOW, log=SyncLog())
    args = ["judge", "--config", str(config_path), "--judge", "stub_judges:ok", "--name", "correct", "--now",
            NOW.isoformat()]
    one = CliRunner().invoke(cli, args)
    judged = int(one.output.split("judged ")[1].split(",")[0])
    assert one.exit_code == 0 and judged > 0, one.output
    config_path.write_text(config_path.read_text().replace('"scores"', '"scores2"'))
    moved = CliRunner().invoke(cli, args)
    assert moved.exit_code == 0 and f"judged {judged}, skipped 0 already scored" in moved.output, moved.output
    again = CliRunner().invoke(cli, args)
    assert f"judged 0, skipped {judged} already scored" in again.output
    assert len((tmp_path / "scores2" / "tracestrata-judge.jsonl").read_text().splitlines()) == judged


def test_an_unwritable_scores_path_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tracestrata.cli.main import main

    config_path = make(tmp_path, "stub_judges:ok")
    text = config_path.read_text()
    config_path.write_text(text[: text.index("[judge]")].replace('"scores"', '"afile/scores.jsonl"'))
    (tmp_path / "afile").write_text("not a folder\n")
    run_sync(load_config(config_path), now=NOW, log=SyncLog())
    capsys.readouterr()
    code = main(["judge", "--config", str(config_path), "--judge", "stub_judges:ok", "--name", "correct", "--now",
                 NOW.isoformat()])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "afile/scores.jsonl: cannot write" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "afile").read_text() == "not a folder\n"


def test_judge_exits_4_when_the_endpoint_kept_failing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tracestrata.cli.main import main

    config_path = make(tmp_path, "stub_judges:ok")
    text = config_path.read_text()
    config_path.write_text(text[: text.index("[judge]")])
    run_sync(load_config(config_path), now=NOW, log=SyncLog())
    capsys.readouterr()
    args = ["judge", "--config", str(config_path), "--name", "correct", "--now", NOW.isoformat(), "--judge"]
    code = main([*args, "stub_judges:fails_on_errors"])
    err = capsys.readouterr().err
    assert code == 4, err
    assert "judged " in err and "tracestrata: error: partial: the judge failed on" in err
    assert main([*args, "stub_judges:broken"]) == 0  # a judge raising is its bug, not a partial run


def test_a_refused_judge_key_still_reads_scores_and_reports_then_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tracestrata.cli.main import main

    config_path = make(tmp_path, "stub_judges:refused")
    code = main(["sync", "--config", str(config_path), "--now", NOW.isoformat()])
    err = capsys.readouterr().err
    assert code == 3, err
    assert err.strip().splitlines()[-1] == (
        "tracestrata: error: the judge endpoint refused the key (HTTP 401): check STUB_JUDGE_KEY"
    )
    assert (tmp_path / "reports" / "report.json").exists()  # the reports were refreshed all the same
    outcome = run_sync(load_config(config_path), now=NOW, log=SyncLog())
    assert outcome.exit_code == 3 and outcome.judge_error is not None


def test_the_judge_failed_warning_goes_to_the_judges_report_only(tmp_path: Path) -> None:
    config = load_config(make(tmp_path, "stub_judges:several_fails_on_errors", name="quality",
                              metrics=("correct", "quality")))
    run_sync(config, now=NOW, log=SyncLog())

    def codes(name: str) -> list[str]:
        report = json.loads((tmp_path / "reports" / name).read_text())
        return [w["code"] for w in report.get("warnings", [])]

    assert "judge_failed" in codes("report-quality.json")
    assert "judge_failed" not in codes("report.json")


def test_judge_config_reads_a_state_an_older_version_keyed(tmp_path: Path) -> None:
    import sqlite3

    from click.testing import CliRunner

    from tracestrata.cli.main import cli
    from tracestrata.job.config import source_identity

    config_path = make(tmp_path, "stub_judges:ok")
    text = config_path.read_text()
    config_path.write_text(text[: text.index("[judge]")])
    config = load_config(config_path)
    run_sync(config, now=NOW, log=SyncLog())
    legacy = config.legacy_source_key()
    assert legacy != config.source_key() and source_identity(legacy) == config.source_key()
    with sqlite3.connect(config.state) as db:  # what an older version wrote
        for table in ("windows", "runs", "boost", "cursors"):
            db.execute(f"UPDATE {table} SET source = ?", (legacy,))
    args = ["judge", "--config", str(config_path), "--judge", "stub_judges:ok", "--name", "correct", "--now",
            NOW.isoformat()]
    done = CliRunner().invoke(cli, args)
    assert done.exit_code == 0 and "nothing sampled" not in done.output, done.output
    assert int(done.output.split("judged ")[1].split(",")[0]) > 0


def warnings_of(tmp_path: Path) -> dict[str, int]:
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    return {w["code"]: w["count"] for w in report.get("warnings", []) if w["code"].startswith("judge_")}


def judged_ids(tmp_path: Path) -> set[str]:
    lines = (tmp_path / "scores" / "tracestrata-judge.jsonl").read_text().splitlines()
    return {orjson.loads(line)["trace_id"] for line in lines}


def test_a_judge_stopped_by_a_refused_key_reports_this_runs_unscored_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import itertools

    import stub_judges

    config_path = make(tmp_path, "stub_judges:fails_on_errors")
    assert run_sync(load_config(config_path), now=NOW, log=SyncLog()).exit_code == 4
    failed = warnings_of(tmp_path)["judge_failed"]
    before = judged_ids(tmp_path)
    assert failed >= 3
    # the next run judges two of the failed traces, then the endpoint refuses the key (exit 3)
    monkeypatch.setattr(stub_judges, "_calls", itertools.count(1))
    config_path.write_text(config_path.read_text().replace("stub_judges:fails_on_errors", "stub_judges:refuses_after_two"))
    outcome = run_sync(load_config(config_path), now=NOW, log=SyncLog())
    assert outcome.exit_code == 3 and outcome.judge_error is not None
    assert len(judged_ids(tmp_path) - before) == 2
    assert warnings_of(tmp_path) == {"judge_failed": failed - 2}  # this run's list, not the previous run's


def test_traces_deferred_by_the_budget_are_counted_apart_from_failures(tmp_path: Path) -> None:
    config_path = make(tmp_path, "stub_judges:fails_on_errors")
    run_sync(load_config(config_path), now=NOW, log=SyncLog())
    failed = warnings_of(tmp_path)["judge_failed"]
    assert failed >= 2
    # a budget of one call: one failed trace is judged, the rest wait for a later run (not a failure)
    text = config_path.read_text().replace("stub_judges:fails_on_errors", "stub_judges:ok")
    config_path.write_text(text.replace('name = "correct"', 'name = "correct"\nmax_calls_per_run = 1'))
    outcome = run_sync(load_config(config_path), now=NOW, log=SyncLog())
    assert outcome.exit_code == 0
    assert warnings_of(tmp_path) == {"judge_deferred": failed - 1}
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    deferred = next(w for w in report["warnings"] if w["code"] == "judge_deferred")
    assert "budget" in deferred["message"] and "failed" not in deferred["message"]
