"""`tracestrata report --proxy` in-process on a real sample whose manifest carries proxy totals.

The totals of `latency_ms` per cell come from a census of the same traces under the
same policy (every trace sampled), so they are the exact totals the sampler records.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from builders import run_report as report
from builders import write_judge_scores, write_synthetic_day

from tracestrata.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "examples" / "policies" / "basic.toml"
FIELD = "latency_ms"


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("proxy")
    traces, records = write_synthetic_day(folder, 3000, seed=5)
    census_policy = folder / "census.toml"
    census_policy.write_text(POLICY.read_text().replace("default = 200", "default = 100000")
                             .replace('"compliance" = 400', '"compliance" = 100000'))
    assert main(["sample", "--source", f"jsonl:{traces}", "--policy", str(census_policy),
                 "--out", str(folder / "census")]) == 0
    assert main(["sample", "--source", f"jsonl:{traces}", "--policy", str(POLICY), "--out", str(folder / "run")]) == 0
    totals: dict[str, dict[str, float]] = defaultdict(lambda: {"n": 0, "sum": 0.0, "sumsq": 0.0})
    for line in (folder / "census" / "sample.jsonl").read_text().splitlines():
        row = json.loads(line)
        t = totals[row["cell"]]
        t["n"] += 1
        t["sum"] += row[FIELD]
        t["sumsq"] += row[FIELD] ** 2
    manifest_path = folder / "run" / "manifest.json"
    plain_manifest = folder / "plain-manifest.json"
    plain_manifest.write_text(manifest_path.read_text())
    manifest = json.loads(manifest_path.read_text())
    for cell in manifest["cells"]:
        cell["proxy"] = {FIELD: totals[cell["cell"]]}
    manifest_path.write_text(json.dumps(manifest))
    write_judge_scores(folder / "scores.jsonl", folder / "run", records)
    return folder


def test_json_has_estimate_plain_and_proxy(run, capsys):
    code, out, _ = report(run, capsys, "--metric", "quality", "--format", "json", "--proxy", FIELD)
    assert code == 0
    data = json.loads(out)
    assert data["estimate"]["method"] == "difference+t"
    assert data["plain"]["method"] == "t"
    assert data["proxy"]["field"] == FIELD and "(all)" in data["proxy"]["lambda"]
    assert data["proxy"]["variance_ratio"] > 0
    assert all(row["proxy"]["field"] == FIELD for row in data["strata"])


def test_markdown_and_html_show_both(run, capsys, tmp_path):
    code, out, _ = report(run, capsys, "--metric", "correct", "--proxy", FIELD)
    assert code == 0 and "Plain estimate:" in out and "| plain |" in out
    html_out = tmp_path / "r.html"
    code, _, _ = report(run, capsys, "--metric", "correct", "--proxy", FIELD, "--format", "html", "--out", str(html_out))
    assert code == 0 and "Plain estimate:" in html_out.read_text()


def test_bad_proxy_input_is_one_line_exit_2(run, capsys, tmp_path):
    code, _, err = report(run, capsys, "--metric", "quality", "--proxy", "metadata.intent")
    assert code == 2 and "no proxy totals" in err and len(err.strip().splitlines()) == 1
    manifest_path = run / "run" / "manifest.json"
    saved = manifest_path.read_text()
    try:
        data = json.loads(saved)
        for cell in data["cells"]:
            cell["proxy"] = {"metadata.intent": {"n": cell["population"], "sum": 0.0, "sumsq": 0.0}}
        manifest_path.write_text(json.dumps(data))
        code, _, err = report(run, capsys, "--metric", "quality", "--proxy", "metadata.intent")
        assert code == 2 and "non-numeric proxy" in err and len(err.strip().splitlines()) == 1
        for cell in data["cells"]:
            cell["proxy"] = {"scores.heuristic": {"n": 0, "sum": 0.0, "sumsq": 0.0}}
        manifest_path.write_text(json.dumps(data))
        code, _, err = report(run, capsys, "--metric", "quality", "--proxy", "scores.heuristic")
        assert code == 2 and "missing on every trace" in err and len(err.strip().splitlines()) == 1
        manifest_path.write_text((run / "plain-manifest.json").read_text())
        code, _, err = report(run, capsys, "--metric", "quality", "--proxy", FIELD)
        assert code == 2 and "no proxy totals" in err
    finally:
        manifest_path.write_text(saved)


def test_two_phase_human_metric_with_the_judge_as_proxy(run, capsys, tmp_path):
    lines = (run / "scores.jsonl").read_text().splitlines()
    correct = [json.loads(x) for x in lines if json.loads(x)["name"] == "correct"]
    rows = [json.loads(x) for x in (run / "run" / "sample.jsonl").read_text().splitlines()]
    review = {r["id"] for r in rows if r.get("review") is True}  # two-phase reads the recorded review draw only
    human = []
    for i, s in enumerate(correct):
        if s["trace_id"] in review:  # the review subsample labelled; the humans overturn every 7th pass
            value = bool(s["value"]) and i % 7 != 0
            human.append(json.dumps({"trace_id": s["trace_id"], "name": "human_correct", "value": value}))
    scores = tmp_path / "scores.jsonl"
    scores.write_text("\n".join(lines + human) + "\n")
    capsys.readouterr()
    code = main(["report", "--sample", str(run / "run"), "--scores", f"jsonl:{scores}", "--metric", "human_correct",
                 "--proxy", "score:correct", "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert data["estimate"]["method"] == "two-phase+korn-graubard"
    assert data["proxy"]["field"] == "score:correct"
    dis = data["proxy"]["disagreement"]
    assert dis["reviewed"] == len(human) and dis["judge_minus_human"] > 0
    assert all("disagreement" in row["proxy"] for row in data["strata"])
    code = main(["report", "--sample", str(run / "run"), "--scores", f"jsonl:{scores}", "--metric", "human_correct",
                 "--proxy", "score:correct"])
    out = capsys.readouterr().out
    assert code == 0 and "Judge vs humans" in out and "judge − human" in out
    code = main(["report", "--sample", str(run / "run"), "--scores", f"jsonl:{scores}", "--metric", "human_correct",
                 "--proxy", "score:nope"])
    err = capsys.readouterr().err
    assert code == 2 and "nope" in err and len(err.strip().splitlines()) == 1


def test_from_a_clean_clone_generate_sample_judge_report_with_the_proxy(tmp_path, capsys):
    """The commands of docs/report.md's proxy walkthrough, as written, on the example policy."""
    from pathlib import Path

    policy = Path(__file__).resolve().parents[2] / "examples" / "policies" / "proxy.toml"
    traces, run_dir, scores = tmp_path / "traces.jsonl", tmp_path / "run", tmp_path / "scores.jsonl"
    assert main(["generate", "--traces", "20000", "--heuristic", "--out", str(traces)]) == 0
    assert main(["sample", "--source", f"jsonl:{traces}", "--policy", str(policy), "--out", str(run_dir)]) == 0
    assert main(["judge", "--sample", str(run_dir), "--out", str(scores)]) == 0
    capsys.readouterr()
    assert main(["report", "--sample", str(run_dir), "--scores", f"jsonl:{scores}", "--metric", "correct",
                 "--proxy", "scores.heuristic", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["estimate"]["method"] == "difference+wilson-effective-n"
    assert data["proxy"]["variance_ratio"] < 1.0

    # humans review the [review] subsample; the judge calibrated by them (two-phase)
    assert main(["judge", "--sample", str(run_dir), "--out", str(scores), "--humans", "human_correct"]) == 0
    capsys.readouterr()
    assert main(["report", "--sample", str(run_dir), "--scores", f"jsonl:{scores}", "--metric", "human_correct",
                 "--proxy", "score:correct", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    from tracestrata.record import TraceRecord
    from tracestrata.synthetic import human_label

    records = [TraceRecord.from_json(json.loads(line)) for line in traces.read_text().splitlines()]
    truth = sum(human_label(r) for r in records) / len(records)
    assert data["estimate"]["method"] == "two-phase+korn-graubard"
    assert data["estimate"]["ci_low"] <= truth <= data["estimate"]["ci_high"]
    assert data["proxy"]["disagreement"]["judge_minus_human"] > 0 and data["proxy"]["variance_ratio"] < 1.0
