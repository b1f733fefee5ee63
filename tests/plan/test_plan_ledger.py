"""`tracestrata plan --ledger`: strata sized from the spreads the sync ledger measured.

A files-connector sync over 3 daily windows of synthetic traffic with the heuristic proxy
and a review subsample, judged (`correct`) and reviewed (`human_correct`): the plan is
Neyman allocation on the residual SD with a floor, and says how many reviews each
stratum needs for a two-phase half-width.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from builders import policy_data, sync_config_toml

from tracestrata.cli.main import main
from tracestrata.job import config as config_module
from tracestrata.job import sync
from tracestrata.job.state import State
from tracestrata.plan.residual import ReviewInput, SpreadInput, residual_neyman, reviews_needed
from tracestrata.synthetic import generate_traces, judge

T0 = datetime(2026, 11, 23, tzinfo=UTC)
POLICY = {
    **policy_data("plan-ledger", strata=[{"field": "metadata.intent", "top": 8}], default=60),
    "proxy": [{"field": "scores.heuristic"}],
    "review": {"target": 20},
}


@pytest.fixture(scope="module")
def ledger(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("plan-ledger")
    records = list(generate_traces(9000, start=T0, end=T0 + timedelta(days=3), seed=5, heuristic=True))
    (tmp / "traces").mkdir()
    (tmp / "traces" / "all.jsonl").write_bytes(b"".join(orjson.dumps(r.to_json()) + b"\n" for r in records))
    (tmp / "scores.jsonl").write_bytes(b"")
    path = tmp / "sync.toml"
    path.write_text(sync_config_toml(
        {"type": "files", "path": "traces", "sink_dir": "var/sink", "scores_path": "scores.jsonl"},
        POLICY,
        window={"every": "1d", "settle": "0s", "start": "2026-11-23T00:00:00Z"},
        scores={"names": ["correct", "human_correct"], "metric": "correct"},
        report={"dir": "var/reports", "formats": []},
    ))
    config = config_module.load_config(path)
    now = T0 + timedelta(days=3, hours=1)
    sync.run_sync(config, now=now)
    with State(tmp / "var" / "state.sqlite") as state:
        sampled = state.sampled([run.run_id for run in state.runs()])
    by_id = {r.id: r for r in records}
    lines = []
    for _run, trace_id, _cell, attrs in sampled:
        human = bool(judge(by_id[trace_id])["correct"])
        # the LLM judge passes half the failures humans catch
        llm = human or (int(trace_id[:4], 16) % 2 == 0)
        lines.append({"trace_id": trace_id, "name": "correct", "value": llm})
        if attrs.get("review"):
            lines.append({"trace_id": trace_id, "name": "human_correct", "value": human})
    (tmp / "scores.jsonl").write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    sync.run_sync(config, now=now)
    return tmp / "var" / "state.sqlite"


def test_residual_neyman_from_the_ledger(ledger: Path, capsys) -> None:
    code = main(["plan", "--ledger", str(ledger), "--metric", "correct", "--proxy", "scores.heuristic",
                 "--half-width", "0.03", "--floor", "10", "--format", "json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    plan = json.loads(out.out)
    assert plan["method"] == "residual-neyman" and "3 windows" in out.err
    rows = {r["stratum"]: r for r in plan["strata"]}
    measured = [r for r in rows.values() if not r["pooled"]]
    assert sum(r["residual_sd"] for r in measured) < sum(r["plain_sd"] for r in measured)
    assert plan["global_half_width"] <= 0.03 and plan["plain_total"] > plan["total"]
    assert all(r["target"] >= min(10, r["population"]) for r in rows.values())
    # n_h ∝ N_h S_h where the floor and the population do not bind
    free = [r for r in rows.values() if min(10, r["population"]) < r["target"] < r["population"]]
    ratios = [r["target"] / (r["population"] * r["residual_sd"]) for r in free]
    assert len(free) >= 3 and max(ratios) / min(ratios) < 1.1

    assert main(["plan", "--ledger", str(ledger), "--metric", "correct", "--proxy", "scores.heuristic",
                 "--budget", "300"]) == 0
    table = capsys.readouterr().out
    assert "residual sd" in table and "total: 300 of" in table and "% sampled" in table

    assert main(["plan", "--ledger", str(ledger), "--metric", "correct", "--proxy", "scores.heuristic",
                 "--half-width", "0.03", "--format", "toml"]) == 0
    assert "[targets]" in capsys.readouterr().out


def test_reviews_per_stratum_for_a_two_phase_half_width(ledger: Path, capsys) -> None:
    code = main(["plan", "--ledger", str(ledger), "--metric", "human_correct", "--proxy", "score:correct",
                 "--half-width", "0.15", "--format", "json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    plan = json.loads(out.out)
    assert plan["method"] == "two-phase-reviews" and plan["rate"] is True
    reachable = [r for r in plan["strata"] if r["reachable"]]
    assert reachable and all(r["half_width"] <= 0.15 for r in reachable)
    assert all(2 <= r["reviews"] <= r["judged"] for r in plan["strata"])
    assert plan["review_target"] == max(r["reviews"] for r in plan["strata"])
    assert main(["plan", "--ledger", str(ledger), "--metric", "human_correct", "--proxy", "score:correct",
                 "--half-width", "0.15", "--format", "toml"]) == 0
    assert "[review]\ntarget = " in capsys.readouterr().out


def test_ledger_plan_mistakes_are_one_line(ledger: Path, tmp_path: Path, capsys) -> None:
    for args, needle in [
        (["--metric", "correct", "--proxy", "scores.nope"], "no proxy totals"),
        (["--metric", "nope"], "no score named 'nope'"),
        (["--metric", "correct", "--source", "jsonl:x.jsonl"], "not both"),
    ]:
        code = main(["plan", "--ledger", str(ledger), *args])
        err = capsys.readouterr().err
        assert code == 2 and needle in err and "Traceback" not in err, err
    assert main(["plan", "--ledger", str(tmp_path / "none.sqlite"), "--metric", "correct"]) == 2
    assert main(["plan", "--metric", "correct", "--source", "jsonl:x", "--policy", "p.toml"]) == 2


def test_residual_neyman_by_hand() -> None:
    strata = [SpreadInput("a", 10_000, 0.2, 0.4), SpreadInput("b", 10_000, 0.4, 0.4), SpreadInput("c", 50, 0.3, 0.3)]
    plan = residual_neyman(strata, budget=630, floor=30)
    targets = plan.targets()
    assert targets["c"] == 30 and targets["a"] + targets["b"] == 600
    assert targets["b"] == 2 * targets["a"]  # N equal: n ∝ S
    w = [10_000 / 20_050, 10_000 / 20_050, 50 / 20_050]
    want = 1.959964 * math.sqrt(sum(wi**2 * s.sd**2 * (1 - targets[s.stratum] / s.population) / targets[s.stratum]
                                    for wi, s in zip(w, strata, strict=True)))
    assert plan.global_half_width == pytest.approx(want, rel=1e-5)


def test_reviews_needed_is_the_smallest_that_reaches_the_half_width() -> None:
    s = ReviewInput("a", 5000, 200, 0.85, human_sd=0.357, residual_sd=0.2, cells=2)
    row = reviews_needed(s, 0.08, floor=2)
    assert row.reachable and row.half_width <= 0.08
    assert reviews_needed(s, 0.08, floor=row.reviews - 1).reviews == row.reviews  # the smallest
    assert reviews_needed(s, 0.2).reviews == 30  # the floor
    smaller = reviews_needed(ReviewInput("a", 5000, 200, 0.85, 0.357, 0.1, 2), 0.08, floor=2)
    assert smaller.reviews < row.reviews  # a judge that tracks humans better needs fewer reviews
    hopeless = reviews_needed(ReviewInput("a", 5000, 20, 0.85, 0.357, 0.2, 2), 0.02)
    assert not hopeless.reachable and hopeless.reviews == 20


def test_report_over_the_ledger_uses_its_proxy_totals(ledger: Path, capsys) -> None:
    assert main(["report", "--ledger", str(ledger), "--metric", "correct", "--proxy", "scores.heuristic",
                 "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["estimate"]["method"] == "difference+wilson-effective-n" and data["proxy"]["variance_ratio"] < 1
    assert main(["report", "--ledger", str(ledger), "--metric", "human_correct", "--proxy", "score:correct",
                 "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["estimate"]["method"] == "two-phase+korn-graubard"
    assert data["proxy"]["disagreement"]["judge_minus_human"] > 0  # the judge passes failures humans catch


def test_a_period_without_windows_is_one_line(ledger: Path, capsys) -> None:
    code = main(["plan", "--ledger", str(ledger), "--metric", "correct", "--since", "1d"])
    err = capsys.readouterr().err
    assert code == 2 and "no finished window" in err and len(err.strip().splitlines()) == 1


def test_config_with_a_metric_plans_from_the_jobs_ledger(ledger: Path, capsys) -> None:
    config = ledger.parent.parent / "sync.toml"
    assert main(["plan", "--config", str(config), "--metric", "correct", "--proxy", "scores.heuristic",
                 "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["method"] == "residual-neyman"


def test_daily_targets_plan_a_day_of_windows(tmp_path: Path, capsys) -> None:
    """Under `[targets] per = "day"` with hourly windows the plan sizes the last day (its 24 windows summed)."""
    records = list(generate_traces(4000, start=T0, end=T0 + timedelta(days=2), seed=8, heuristic=True))
    (tmp_path / "traces").mkdir()
    (tmp_path / "traces" / "all.jsonl").write_bytes(b"".join(orjson.dumps(r.to_json()) + b"\n" for r in records))
    policy = {**POLICY, "targets": {"default": 60, "per": "day"}}
    path = tmp_path / "sync.toml"
    path.write_text(sync_config_toml(
        {"type": "files", "path": "traces", "sink_dir": "var/sink", "scores_path": "scores.jsonl"},
        policy,
        window={"every": "1h", "settle": "0s", "start": "2026-11-23T00:00:00Z", "max_windows_per_run": 48},
        scores={"names": ["correct"], "metric": "correct"},
        report={"dir": "var/reports", "formats": []},
    ))
    (tmp_path / "scores.jsonl").write_bytes(b"")
    config = config_module.load_config(path)
    now = T0 + timedelta(days=2, hours=1)
    sync.run_sync(config, now=now)
    with State(tmp_path / "var" / "state.sqlite") as state:
        sampled = state.sampled([run.run_id for run in state.runs()])
    by_id = {r.id: r for r in records}
    (tmp_path / "scores.jsonl").write_bytes(b"".join(
        orjson.dumps({"trace_id": t, "name": "correct", "value": bool(judge(by_id[t])["correct"])}) + b"\n"
        for _r, t, _c, _a in sampled))
    sync.run_sync(config, now=now)
    assert main(["plan", "--ledger", str(tmp_path / "var" / "state.sqlite"), "--metric", "correct", "--proxy",
                 "scores.heuristic", "--budget", "420", "--format", "json"]) == 0
    out = capsys.readouterr()
    assert "the 24 windows of the last 1d (daily targets)" in out.err
    day_two = sum(1 for r in records if r.timestamp >= T0 + timedelta(days=1))
    assert sum(row["population"] for row in json.loads(out.out)["strata"]) == day_two


def _with_weight(ledger: Path, folder: Path, sampling: dict[str, object]) -> Path:
    """A copy of the ledger whose stored policies have this `[sampling]` table."""
    import shutil
    import sqlite3

    copy = folder / f"weighted-{len(list(folder.iterdir()))}.sqlite"
    shutil.copy(ledger, copy)
    with sqlite3.connect(copy) as con:
        for digest, text in con.execute("SELECT digest, policy FROM policies").fetchall():
            con.execute("UPDATE policies SET policy = ? WHERE digest = ?",
                        (json.dumps({**json.loads(text), "sampling": sampling}), digest))
    return copy


@pytest.mark.parametrize(
    ("sampling", "needle"),
    [
        # the floor the forecast used is named, and for "auto" why it was chosen
        ({"weight": "proxy_uncertainty:scores.heuristic", "floor": "auto"}, 'floor = "auto": '),
        ({"weight": "expr: sqrt(scores.heuristic * (1 - scores.heuristic)) + 0.05", "floor": 0.2}, ", floor 0.2, "),
        # a field the ledger does not keep: no forecast (it was "1.00x as wide": every size the floor)
        ({"weight": "cost", "floor": "auto"}, "does not record cost on the judged traces"),
        ({"weight": "expr: cost * 2", "floor": 0.1}, "does not record cost"),
        # a weight this version refuses (a newer version's ledger): a note, not an internal error
        ({"weight": "expr: exp(scores.heuristic)", "floor": "auto"}, "a weight this version does not read"),
    ],
)
def test_the_weighting_forecast_names_its_floor_or_why_there_is_none(ledger: Path, tmp_path: Path, capsys,
                                                                      sampling, needle) -> None:
    copy = _with_weight(ledger, tmp_path, sampling)
    code = main(["plan", "--ledger", str(copy), "--metric", "correct", "--proxy", "scores.heuristic"])
    err = capsys.readouterr().err
    assert code == 0 and needle in err and "Traceback" not in err, err
    if "floor" in needle:
        assert "x as wide for --proxy scores.heuristic" in err
