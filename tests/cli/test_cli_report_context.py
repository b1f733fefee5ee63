"""`tracestrata report` says what it covers: the context of a sample directory, in every format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from builders import run_report as report
from builders import write_judge_scores, write_synthetic_day

from tracestrata.cli.main import main

POLICY = Path(__file__).resolve().parents[2] / "examples" / "policies" / "basic.toml"


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("context")
    traces, records = write_synthetic_day(folder, 3000, seed=5)
    assert main(["sample", "--source", f"jsonl:{traces}", "--policy", str(POLICY), "--out", str(folder / "run")]) == 0
    write_judge_scores(folder / "scores.jsonl", folder / "run", records, keep=lambda i: i % 4 != 0)
    return folder


def test_a_sample_report_states_source_policy_counts_and_version(run, capsys):
    code, out, _ = report(run, capsys, "--metric", "correct", "--format", "json")
    assert code == 0
    ctx = json.loads(out)["context"]
    manifest = json.loads((run / "run" / "manifest.json").read_text())
    assert ctx["policy"] == {"digest": manifest["policy_digest"], "seed": manifest["seed"]}
    assert ctx["source"]["backend"] == "jsonl" and ctx["source"]["key"] == manifest["source"]
    assert ctx["sampled"] == len((run / "run" / "sample.jsonl").read_text().splitlines())
    assert 0 < ctx["judged"] < ctx["sampled"]
    assert ctx["tool"]["version"] and ctx["generated_at"].endswith("Z")


def test_markdown_and_html_define_the_metric_and_the_terms(run, capsys, tmp_path):
    code, out, _ = report(run, capsys, "--metric", "quality")
    assert code == 0 and "**Metric.** quality: the average 'quality' score" in out
    assert "Columns: *population*: traces of the stratum" in out and "*naive mean*:" in out
    page = tmp_path / "r.html"
    code, _, _ = report(run, capsys, "--metric", "verdict", "--format", "html", "--out", str(page))
    text = page.read_text()
    assert code == 0 and 'id="context"' in text and "the share of all traces in the period with each" in text


def test_trends_and_watching_need_a_ledger(run, capsys):
    code, _, err = report(run, capsys, "--metric", "correct", "--by", "day")
    assert code == 2 and "--by and --watch go with --ledger" in err
