"""`sample` with a weighted policy, then `report` and `report --proxy` read each trace's own pi
from `sample.jsonl`: the same estimate as the library's on the design the sample directory holds."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from builders import write_jsonl
from click.testing import CliRunner

from tracestrata.cli.main import cli
from tracestrata.estimate.estimators import ScoredFrame, StratifiedEstimator, UnequalFrame
from tracestrata.record import TraceRecord
from tracestrata.sampling.manifest import read_sample_dir
from tracestrata.synthetic import generate_traces, judge

WEIGHTED = Path(__file__).resolve().parents[2] / "examples" / "policies" / "weighted.toml"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_report_weighs_each_judged_trace_by_its_own_pi(tmp_path):
    traces = write_jsonl(tmp_path / "t.jsonl", generate_traces(5000, start=T0, end=T0 + timedelta(hours=6),
                                                               seed=9, heuristic=True))
    runner = CliRunner()
    out = runner.invoke(cli, ["sample", "--source", f"jsonl:{traces}", "--policy", str(WEIGHTED),
                              "--out", str(tmp_path / "run")])
    assert out.exit_code == 0, out.output
    rows = [json.loads(x) for x in (tmp_path / "run" / "sample.jsonl").read_text().splitlines()]
    assert all("size" in r and abs(r["weight"] * r["inclusion_probability"] - 1.0) < 1e-12 for r in rows)
    scores = [{"trace_id": r["id"], "name": "correct", "value": judge(TraceRecord.from_json(r))["correct"]}
              for r in rows]
    (tmp_path / "scores.jsonl").write_text("".join(json.dumps(s) + "\n" for s in scores))
    args = ["report", "--sample", str(tmp_path / "run"), "--scores", f"jsonl:{tmp_path / 'scores.jsonl'}",
            "--metric", "correct", "--format", "json"]
    plain = runner.invoke(cli, args)
    assert plain.exit_code == 0, plain.output
    data = json.loads(plain.output)
    manifest, sample_rows = read_sample_dir(tmp_path / "run")
    design = manifest.design(sample_rows)
    values = {s["trace_id"]: float(s["value"]) for s in scores}
    assert isinstance(ScoredFrame.build(design, values), UnequalFrame)
    expected = StratifiedEstimator().estimate(design, values)
    assert abs(data["estimate"]["mean"] - expected.mean) < 1e-12
    assisted = runner.invoke(cli, [*args, "--proxy", "scores.heuristic"])
    assert assisted.exit_code == 0, assisted.output
    proxy = json.loads(assisted.output)
    assert proxy["proxy"]["estimator"] == "difference" and 0 < proxy["estimate"]["mean"] < 1
