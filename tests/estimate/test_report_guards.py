"""Issue 22, silent wrong results: a proxy missing on most traces falls back to the plain estimate
with a warning; two-phase uses only the labels of the recorded review subsample."""

from __future__ import annotations

import json
from pathlib import Path

from tracestrata.cli.main import main

REPO = Path(__file__).resolve().parents[2]


def report_json(capsys, *argv: str) -> dict:
    code = main(["report", *argv, "--format", "json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def test_a_proxy_missing_on_most_traces_falls_back_to_the_plain_estimate(tmp_path, capsys):
    traces = tmp_path / "t.jsonl"
    assert main(["generate", "--traces", "3000", "--start", "2026-01-01T00:00:00Z", "--heuristic", "--out", str(traces)]) == 0
    rows = [json.loads(line) for line in traces.read_text().splitlines()]
    for i, row in enumerate(rows):
        if i % 100:  # the proxy on 1% of the traces
            row["scores"].pop("heuristic", None)
    traces.write_text("".join(json.dumps(r) + "\n" for r in rows))
    sample = tmp_path / "s"
    assert main(["sample", "--source", f"jsonl:{traces}", "--policy", str(REPO / "examples/policies/proxy.toml"), "--out", str(sample)]) == 0
    assert main(["judge", "--sample", str(sample), "--out", str(tmp_path / "j.jsonl")]) == 0
    capsys.readouterr()
    common = ["--sample", str(sample), "--scores", f"jsonl:{tmp_path / 'j.jsonl'}", "--metric", "correct"]
    plain = report_json(capsys, *common)
    assisted = report_json(capsys, *common, "--proxy", "scores.heuristic")
    assert "proxy_sparse" in {w["code"] for w in assisted["warnings"]}
    assert assisted["estimate"]["mean"] == plain["estimate"]["mean"]
    assert assisted["estimate"]["ci_low"] == plain["estimate"]["ci_low"] and 0 <= assisted["estimate"]["ci_low"] <= 1


def test_two_phase_uses_only_labels_in_the_recorded_review_subsample(tmp_path, capsys):
    traces = tmp_path / "t.jsonl"
    assert main(["generate", "--traces", "4000", "--start", "2026-01-01T00:00:00Z", "--heuristic", "--out", str(traces)]) == 0
    sample = tmp_path / "s"
    assert main(["sample", "--source", f"jsonl:{traces}", "--policy", str(REPO / "examples/policies/proxy.toml"), "--out", str(sample)]) == 0
    scores = tmp_path / "j.jsonl"
    assert main(["judge", "--sample", str(sample), "--out", str(scores), "--humans", "human"]) == 0
    capsys.readouterr()
    rows = [json.loads(line) for line in (sample / "sample.jsonl").read_text().splitlines()]
    outside = [r["id"] for r in rows if r.get("review") is not True][:40]
    assert outside, "the policy draws a review subsample inside the sample"
    common = ["--sample", str(sample), "--metric", "human", "--proxy", "score:correct"]
    clean = report_json(capsys, *common, "--scores", f"jsonl:{scores}")
    extra = tmp_path / "extra.jsonl"
    extra.write_text(scores.read_text() + "".join(json.dumps({"trace_id": t, "name": "human", "value": False}) + "\n" for t in outside))
    dirty = report_json(capsys, *common, "--scores", f"jsonl:{extra}")
    warning = next(w for w in dirty["warnings"] if w["code"] == "labels_outside_review")
    assert warning["count"] == len(outside)
    assert dirty["estimate"]["mean"] == clean["estimate"]["mean"]  # the 40 labels outside the draw move nothing
    # ... in the plain column beside it either: both columns read the same labels
    assert dirty["plain"]["mean"] == clean["plain"]["mean"] and dirty["plain"]["n_scored"] == clean["plain"]["n_scored"]
    for a, b in zip(dirty["strata"], clean["strata"], strict=True):
        assert a["plain"]["mean"] == b["plain"]["mean"]
