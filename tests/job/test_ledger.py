from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from builders import ledger_cells, plan_window

from tracestrata.design import CellKind, cell_id
from tracestrata.errors import StateError
from tracestrata.job.ledger import design_from_ledger
from tracestrata.job.state import State
from tracestrata.record import Score

T0 = datetime(2026, 11, 23, tzinfo=UTC)
H = timedelta(hours=1)


def add_run(state: State, hour: int, digest: str, *, done: bool = True, source: str = "files") -> str:
    start = T0 + hour * H
    run_id = f"run-{source}-{hour}-{digest}"
    cells, sampled = ledger_cells(run_id, boost=(1, 1))
    plan_window(state, run_id, start, cells, sampled, digest=digest, source=source)
    run = state.open_run(source, start)
    assert run is not None
    if done:
        state.finish_run(run)
    state.store_scores([Score(t, "correct", i % 2 == 0) for i, (t, _, _) in enumerate(sampled)])
    return run_id


def test_windows_are_more_strata(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with State(path) as state:
        for hour in range(3):
            add_run(state, hour, "d1")
    design, scores = design_from_ledger(path, since=None, until=T0 + 3 * H)
    assert len(design.cells) == 9
    windows = {c.window for c in design.cells}
    assert len(windows) == 3
    window = "2026-11-23T00:00:00Z/2026-11-23T01:00:00Z"
    assert cell_id("a", CellKind.FAILURE, window) in design.cell_index()
    assert f"{window}#a#boost:refund" in design.cell_index()
    index = design.cell_index()
    assert all(unit.cell in index for unit in design.units)
    assert len(design.units) == 18
    assert sum(c.population for c in design.cells) == 135
    assert {s.trace_id for s in scores} == {u.trace_id for u in design.units}


def test_since_until_select_windows_by_end(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with State(path) as state:
        for hour in range(6):
            add_run(state, hour, "d1")
    design, _ = design_from_ledger(path, since=timedelta(hours=2), until=T0 + 5 * H)
    assert sorted({c.window for c in design.cells}) == [
        "2026-11-23T03:00:00Z/2026-11-23T04:00:00Z",
        "2026-11-23T04:00:00Z/2026-11-23T05:00:00Z",
    ]


def test_only_the_latest_policy_series_and_only_done_runs(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with State(path) as state:
        add_run(state, 0, "old")
        add_run(state, 1, "old")
        add_run(state, 2, "new")
        add_run(state, 3, "new")
        add_run(state, 4, "new", done=False)
    design, scores = design_from_ledger(path, since=None, until=T0 + 10 * H)
    assert sorted({c.window[11:13] for c in design.cells if c.window}) == ["02", "03"]
    assert all("-new" in u.trace_id for u in design.units)
    assert all("-new" in s.trace_id and "-4-" not in s.trace_id for s in scores)
    older, _ = design_from_ledger(path, since=None, until=T0 + 10 * H, series=1)
    assert len({c.window for c in older.cells}) == 2


def test_missing_state_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="no such state file"):
        design_from_ledger(tmp_path / "nope.sqlite", since=None)


def test_ledger_rows_fold_top_over_the_whole_period(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Value c: 300 traces in window 1 (in the top 2), 100 in window 2 (folded there): one row of 400."""
    import json

    import orjson
    from builders import sync_config_toml

    from tracestrata.cli.main import main
    from tracestrata.synthetic import generate_traces

    mix = [{"a": 500, "c": 300, "d": 100}, {"a": 500, "b": 350, "c": 100, "d": 50}]
    lines, scores = [], []
    for hour, counts in enumerate(mix):
        values = [v for v, n in counts.items() for _ in range(n)]
        records = generate_traces(len(values), start=T0 + hour * H, end=T0 + (hour + 1) * H, seed=hour)
        for i, (record, value) in enumerate(zip(records, values, strict=True)):
            row = {**record.to_json(), "id": f"w{hour}-{i}", "metadata": {"intent": value}, "status": "ok"}
            lines.append(orjson.dumps(row))
            scores.append({"trace_id": row["id"], "name": "correct", "value": value != "c" or i % 4 != 0})
    (tmp_path / "traces.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (tmp_path / "scores.jsonl").write_bytes(b"\n".join(orjson.dumps(s) for s in scores) + b"\n")
    policy = {"seed": "refold", "strata": [{"field": "metadata.intent", "top": 2}], "targets": {"default": 40}}
    (tmp_path / "sync.toml").write_text(sync_config_toml(
        {"type": "files", "path": "traces.jsonl", "scores_path": "scores.jsonl"}, policy,
        state="state.sqlite", window={"every": "1h", "settle": "0m", "start": "2026-11-23T00:00:00Z"},
        scores={"names": ["correct"]}, report={"formats": []},
    ))
    assert main(["sync", "--config", str(tmp_path / "sync.toml"), "--now", "2026-11-23T02:30:00Z"]) == 0
    capsys.readouterr()
    code = main(["report", "--ledger", str(tmp_path / "state.sqlite"), "--since", "1d",
                 "--until", "2026-11-23T03:00:00Z", "--metric", "correct", "--format", "json"])
    assert code == 0, capsys.readouterr().err
    data = json.loads(capsys.readouterr().out)
    rows = {r["stratum"]: r for r in data["strata"]}
    assert {k: r["population"] for k, r in rows.items()} == {"a": 1000, "c": 400, "(other)": 500}
    assert data["population"] == 1900
    c = rows["c"]
    assert c["covered_population"] == pytest.approx(400)  # both windows' c traces are in the row's estimate
    assert c["ci_low"] <= 0.75 <= c["ci_high"]  # c is right 3 times in 4
