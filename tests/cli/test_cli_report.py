"""`tracestrata report` in-process, on a real sample directory from the real sampler."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from builders import run_report as report
from builders import ledger_cells, plan_window, write_judge_scores, write_synthetic_day

from tracestrata.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "examples" / "policies" / "basic.toml"


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    traces, records = write_synthetic_day(folder, 4000, seed=3)
    assert main(["sample", "--source", f"jsonl:{traces}", "--policy", str(POLICY), "--out", str(folder / "run")]) == 0
    write_judge_scores(folder / "scores.jsonl", folder / "run", records, keep=lambda i: i % 10 != 9)  # 1 in 10 unscored
    return folder


def test_json_report_on_a_real_sample(run, capsys):
    code, out, _ = report(run, capsys, "--metric", "correct", "--format", "json", "--compare", "release")
    assert code == 0
    data = json.loads(out)
    assert data["kind"] == "rate" and data["estimate"]["method"] == "korn-graubard"
    assert data["population"] == 4000
    assert data["estimate"]["ci_low"] < data["estimate"]["mean"] < data["estimate"]["ci_high"]
    # failures are oversampled and judged worse: the naive mean sits below the reweighted one
    assert data["naive"]["mean"] < data["estimate"]["mean"]
    assert "unscored_sampled" in {w["code"] for w in data["warnings"]}
    assert data["compare"]["groups"] == ["v41", "v42"]


def test_markdown_default_and_html_out(run, capsys, tmp_path):
    code, out, _ = report(run, capsys, "--metric", "quality")
    assert code == 0 and out.startswith("## quality (mean")
    page = tmp_path / "r.html"
    code, out, err = report(run, capsys, "--metric", "verdict", "--format", "html", "--out", str(page))
    assert code == 0 and out == "" and f"wrote {page}" in err
    assert page.read_text().startswith("<!DOCTYPE html>")


def test_bad_score_line_is_one_line_error_or_skipped(run, capsys, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text((run / "scores.jsonl").read_text() + '{"trace_id": "x", "name": "correct"}\n')
    n = len(bad.read_text().splitlines())
    capsys.readouterr()
    args = ["report", "--sample", str(run / "run"), "--scores", f"jsonl:{bad}", "--metric", "correct"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err == f"tracestrata: error: {bad}:{n}: value: missing\n"
    assert main([*args, "--skip-bad", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["warnings"][0]["code"] == "bad_score_lines" and data["warnings"][0]["count"] == 1


def test_booleans_mixed_with_fractions_under_one_name_are_refused(run, capsys, tmp_path):
    mixed = tmp_path / "mixed.jsonl"
    lines = (run / "scores.jsonl").read_text().splitlines()
    first = next(json.loads(x) for x in lines if json.loads(x)["name"] == "correct")
    mixed.write_text("\n".join([*lines, json.dumps({**first, "value": 0.7})]) + "\n")
    capsys.readouterr()
    code = main(["report", "--sample", str(run / "run"), "--scores", f"jsonl:{mixed}", "--metric", "correct"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("tracestrata: error: correct: mixes booleans with numbers (") and "0.7" in err


def test_usage_errors(run, capsys):
    code, _, err = report(run, capsys, "--metric", "nope")
    assert code == 2 and "no score named 'nope'" in err and "Traceback" not in err
    capsys.readouterr()
    assert main(["report", "--metric", "correct"]) == 2
    assert main(["report", "--sample", str(run / "run"), "--metric", "correct"]) == 2
    assert main(["report", "--sample", str(run), "--scores", "jsonl:x", "--metric", "m"]) == 2  # not a sample dir
    assert main(["report", "--ledger", str(run / "missing.db"), "--since", "7d", "--metric", "correct"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "exactly one of --sample" in err


def test_help(capsys):
    assert main(["report", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--compare" in out and "--ledger" in out and "--skip-bad" in out


def test_ledger_report_spans_windows(tmp_path, capsys):
    from datetime import timedelta

    from tracestrata.job.state import State
    from tracestrata.record import Score

    t0, hour = datetime(2026, 11, 23, tzinfo=UTC), timedelta(hours=1)
    path = tmp_path / "state.sqlite"
    with State(path) as state:
        for h in range(3):
            run_id = f"run-{h}"
            cells, sampled = ledger_cells(run_id)
            plan_window(state, run_id, t0 + h * hour, cells, sampled)
            run = state.open_run("files", t0 + h * hour)
            state.finish_run(run)
            state.store_scores([Score(t, "correct", i % 2 == 0) for i, (t, _, _) in enumerate(sampled)])
    capsys.readouterr()
    code = main(["report", "--ledger", str(path), "--since", "2h", "--until", "2026-11-23T03:00:00Z",
                 "--metric", "correct", "--format", "json"])
    assert code == 0, capsys.readouterr().err
    data = json.loads(capsys.readouterr().out)
    assert data["population"] == 88  # the last two windows, one cell per (window, cell)
    assert [row["stratum"] for row in data["strata"]] == ["a"]
    assert data["estimate"]["n_scored"] == 10
    assert main(["report", "--ledger", str(path), "--since", "soon", "--metric", "correct"]) == 2
