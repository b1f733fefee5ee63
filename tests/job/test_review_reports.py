"""The job reports what people label: `[report] metrics`, a `[[label]]` with a judge reported
two-phase beside the judge alone, judge-vs-human per stratum in Markdown, HTML and JSON, and
how much of the review subsample is labelled (warned when uneven across strata)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from test_identity import NOW, POLICY, _config, _setup

from tracestrata.job.config import load_config
from tracestrata.job.state import State
from tracestrata.job.sync import run_sync
from tracestrata.record import format_timestamp

LABEL = '[[label]]\nname = "correct_human"\ndescription = "Is the answer correct?"\njudge = "correct"'


def _write_scores(tmp_path: Path, *, skip_stratum: str | None = None) -> dict[str, int]:
    """The judge on every sampled trace, humans on the review subsample (maybe not one stratum's)."""
    rng = random.Random(3)
    with State(tmp_path / "state.sqlite") as state:
        sampled = state.sampled([r.run_id for r in state.runs()])
    lines, labelled = [], {"reviewed": 0, "labelled": 0}
    for _, trace_id, _, attrs in sampled:
        judge = rng.random() < 0.8
        lines.append({"trace_id": trace_id, "name": "correct", "value": judge})
        if attrs.get("review"):
            labelled["reviewed"] += 1
            if attrs["stratum"] != skip_stratum:
                labelled["labelled"] += 1
                lines.append({"trace_id": trace_id, "name": "correct_human", "value": judge if rng.random() < 0.9 else not judge})
    (tmp_path / "scores" / "scores.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return labelled


def _run(tmp_path: Path, **extra: str) -> tuple[Path, dict[str, int]]:
    _setup(tmp_path)
    config = load_config(_config(tmp_path, review="[policy.review]\ntarget = 3",
                                 labels=LABEL + '\n[sink]\nqueue = "review-{date}"',
                                 report='metrics = ["correct", "correct_human"]', **extra))
    run_sync(config, now=NOW)
    return tmp_path / "sync.toml", {}


def test_a_label_with_a_judge_is_reported_two_phase_beside_the_judge_in_every_format(tmp_path: Path) -> None:
    path, _ = _run(tmp_path)
    counts = _write_scores(tmp_path)
    outcome = run_sync(load_config(path), now=NOW)
    reports = tmp_path / "reports"
    assert {p.name for p in outcome.reports} == {
        "report.json", "report.md", "report.html", "report-correct_human.json", "report-correct_human.md",
        "report-correct_human.html", "review.md"}
    judge = json.loads((reports / "report.json").read_text())
    human = json.loads((reports / "report-correct_human.json").read_text())
    assert judge["metric"] == "correct" and "proxy" not in judge
    assert judge["context"]["generated_at"] == format_timestamp(NOW.replace(microsecond=0))  # the job's --now
    assert human["metric"] == "correct_human" and human["estimate"]["method"].startswith("two-phase")
    assert human["proxy"]["disagreement"]["reviewed"] == counts["labelled"]
    assert all("disagreement" in row["proxy"] for row in human["strata"] if row.get("proxy"))
    assert human["review"]["reviewed"] == counts["reviewed"] and human["review"]["labelled"] == counts["labelled"]
    md = (reports / "report-correct_human.md").read_text()
    html = (reports / "report-correct_human.html").read_text()
    for text in (md, html):
        assert "Judge vs humans on" in text and "judge − human" in text
        assert f"Review subsample: {counts['labelled']} of {counts['reviewed']} traces have a 'correct_human' label" in text.replace("&#x27;", "'")


def test_labels_covering_the_review_subsample_unevenly_are_warned(tmp_path: Path) -> None:
    path, _ = _run(tmp_path)
    with State(tmp_path / "state.sqlite") as state:
        strata = sorted({a["stratum"] for _, _, _, a in state.sampled([r.run_id for r in state.runs()]) if a.get("review")})
    _write_scores(tmp_path, skip_stratum=strata[0])
    run_sync(load_config(path), now=NOW)
    human = json.loads((tmp_path / "reports" / "report-correct_human.json").read_text())
    codes = {w["code"] for w in human["warnings"]}
    assert "uneven_review_coverage" in codes and human["review"]["uneven"] is True
    assert human["review"]["by_stratum"][strata[0]]["labelled"] == 0


def test_the_reviewers_list_is_exactly_the_review_subsample_in_review_order(tmp_path: Path) -> None:
    from tracestrata.sampling.review_draw import review_order

    path, _ = _run(tmp_path)
    config = load_config(path)
    with State(tmp_path / "state.sqlite") as state:
        runs = sorted(state.runs(), key=lambda r: r.window_start)
        expected = []
        for run in runs:
            rows = {t: a for _, t, _, a in state.sampled([run.run_id]) if a.get("review")}
            expected += [(t, rows[t]["stratum"]) for t in review_order(list(rows), config.policy)]
    _write_scores(tmp_path)
    run_sync(config, now=NOW)
    text = (tmp_path / "reports" / "review.md").read_text()
    table = [line.split(" | ") for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [(cells[5].strip(" `|"), cells[2]) for cells in table] == expected
    assert {cells[3] for cells in table} <= {"failure", "boost", "normal"}
    assert all(cells[4] == "yes" for cells in table)  # every one labelled by _write_scores
    assert "correct" not in text.replace("correct_human", "")  # no judge verdict in the reviewers' list
    # the sink's queue holds the same traces in the same order
    from tracestrata.connectors.files.sinks import read_items

    queued = [json.loads(line)["trace_id"] for f in sorted((tmp_path / "sink" / "queues").glob("*.jsonl"))
              for line in f.read_text().splitlines()]
    assert queued == [t for t, _ in expected]


def test_changing_the_report_settings_writes_the_reports_again_without_new_data(tmp_path: Path) -> None:
    """`[report] metrics`/`confidence` edited between runs: the next run writes the reports under the new
    settings, though no window or score changed; unchanged settings stay quiet."""
    from test_identity import _setup

    _setup(tmp_path)

    def config(report: str) -> Path:
        return _config(tmp_path, review="[policy.review]\ntarget = 3",
                       labels=LABEL + '\n[sink]\nqueue = "review-{date}"', report=report)

    run_sync(load_config(config('metrics = ["correct"]')), now=NOW)
    _write_scores(tmp_path)
    first = run_sync(load_config(config('metrics = ["correct"]')), now=NOW)
    assert "report.json" in {p.name for p in first.reports}
    assert not run_sync(load_config(config('metrics = ["correct"]')), now=NOW).reports  # up to date
    reports = tmp_path / "reports"
    assert not (reports / "report-correct_human.json").exists()
    added = run_sync(load_config(config('metrics = ["correct", "correct_human"]')), now=NOW)
    assert "report-correct_human.json" in {p.name for p in added.reports}
    assert json.loads((reports / "report.json").read_text())["confidence"] == 0.95
    run_sync(load_config(config('metrics = ["correct", "correct_human"]\nconfidence = 0.9')), now=NOW)
    assert json.loads((reports / "report.json").read_text())["confidence"] == 0.9
    assert not run_sync(load_config(config('metrics = ["correct", "correct_human"]\nconfidence = 0.9')),
                        now=NOW).reports
