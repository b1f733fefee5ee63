from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from builders import plan_window

from tracestrata.errors import LockedError, StateError
from tracestrata.job import state_schema as state_module
from tracestrata.job.state_schema import SCHEMA_VERSION
from tracestrata.job.state_rows import PlannedItem
from tracestrata.job.state import State
from tracestrata.job.state_file import lock_state
from tracestrata.record import Score

T0 = datetime(2026, 11, 23, tzinfo=UTC)
H = timedelta(hours=1)


def plan(state: State, run_id: str, start: datetime, digest: str = "d1", n: int = 3, source: str = "files") -> None:
    plan_window(
        state,
        run_id,
        start,
        [{"cell": "a#normal", "stratum": "a", "values": {}, "kind": "normal", "population": 10, "sampled": n}],
        [(f"{run_id}-t{i}", "a#normal", {"stratum": "a"}) for i in range(n)],
        digest=digest,
        source=source,
        items=[PlannedItem(f"{run_id}-i{i}", "dataset", "ds", f"{run_id}-t{i}", {"i": i}) for i in range(n)],
        boost_collected={"refund": n},
    )


def test_fresh_store_has_current_schema(tmp_path: Path) -> None:
    with State(tmp_path / "s.sqlite") as state:
        assert state.version == SCHEMA_VERSION
        assert state.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert state.done_until("files") is None


def test_plan_write_finish_resume(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with State(path) as state:
        plan(state, "r1", T0)
        run = state.open_run("files", T0)
        assert run is not None and run.status == "writing" and run.series == 1
        assert [p.item_id for p in state.pending_items("r1")] == ["r1-i0", "r1-i1", "r1-i2"]
        state.mark_written(["r1-i0"])
    with State(path) as state:  # a new process resumes
        run = state.open_run("files", T0)
        assert run is not None
        assert [p.item_id for p in state.pending_items("r1")] == ["r1-i1", "r1-i2"]
        state.mark_written(["r1-i1", "r1-i2"])
        state.finish_run(run)
        assert state.open_run("files", T0) is None
        assert state.done_until("files") == T0 + H
        assert state.item_counts("r1") == {"written": 3}
        assert state.boost_collected("files") == {"refund": 3}
        assert [r.run_id for r in state.runs("files")] == ["r1"]


def test_policy_change_starts_a_new_series(tmp_path: Path) -> None:
    with State(tmp_path / "s.sqlite") as state:
        plan(state, "r1", T0, "d1")
        plan(state, "r2", T0 + H, "d1")
        plan(state, "r3", T0 + 2 * H, "d2")
        plan(state, "r4", T0 + 3 * H, "d1")
        assert [r.series for r in state.runs("files", status=None)] == [1, 1, 2, 3]


def test_sampled_runs_are_the_written_ones_in_the_period(tmp_path: Path) -> None:
    with State(tmp_path / "s.sqlite") as state:
        plan(state, "r1", T0)
        plan(state, "r2", T0 + H)
        plan(state, "r3", T0 + 2 * H, source="other")
        run = state.open_run("files", T0)
        assert run is not None
        state.finish_run(run)  # r1 done, r2 still writing: both have a sample
        assert [r.run_id for r in state.sampled_runs("files")] == ["r1", "r2"]
        assert [r.run_id for r in state.sampled_runs("files", ending_after=T0 + H)] == ["r2"]
        assert state.sampled_runs("nothing") == []


def test_scores_keep_their_type_and_count_changes(tmp_path: Path) -> None:
    with State(tmp_path / "s.sqlite") as state:
        scores = [Score("t1", "correct", True), Score("t1", "quality", 1.0), Score("t2", "verdict", "pass")]
        assert state.store_scores(scores) == 3
        assert state.store_scores(scores) == 0
        assert state.store_scores([Score("t1", "correct", False)]) == 1
        got = {(s.trace_id, s.name): s.value for s in state.scores(["t1", "t2"])}
        assert got == {("t1", "correct"): False, ("t1", "quality"): 1.0, ("t2", "verdict"): "pass"}
        assert type(got[("t1", "quality")]) is float and type(got[("t1", "correct")]) is bool


def test_one_transaction_per_step_rolls_back(tmp_path: Path) -> None:
    with State(tmp_path / "s.sqlite") as state:
        plan(state, "r1", T0)
        with pytest.raises(sqlite3.IntegrityError):
            plan(state, "r1", T0 + H)  # same run id: the whole step is refused
        assert [r.run_id for r in state.runs(status=None)] == ["r1"]
        assert len(state.sampled(["r1"])) == 3


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(StateError, match="newer tracestrata"):
        State(path)


def test_upgrades_one_step_at_a_time_and_names_a_missing_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.sqlite"
    db = sqlite3.connect(path)
    for statement in state_module._V1.split(";"):
        if statement.strip():
            db.execute(statement)
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with State(path) as state:  # v1 -> v2 adds the cursors table, v2 -> v3 the policies
        assert state.version == SCHEMA_VERSION == 3
        state.set_cursor("files", "scores_read_at", "x")
        assert state.get_cursor("files", "scores_read_at") == "x"
        assert state.policy("nope") is None
    db = sqlite3.connect(tmp_path / "old.sqlite")
    db.execute("PRAGMA user_version = 1")
    db.close()
    monkeypatch.delitem(state_module.MIGRATIONS, 1)
    with pytest.raises(StateError, match="no upgrade path from schema 1"):
        State(tmp_path / "old.sqlite")


def test_garbage_file_is_a_state_error(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StateError, match="not a readable state store"):
        State(path)


def test_lock_is_exclusive_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from tracestrata.job.state_file import lock_state\nimport sys,time\nwith lock_state({str(path)!r}):\n print('held', flush=True)\n time.sleep(30)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(LockedError) as info, lock_state(path):
            pass
        assert info.value.exit_code == 5
    finally:
        holder.kill()
        holder.wait()
    with lock_state(path):  # released when the holder died
        pass
