"""Issue 22: state rows edited by hand, column by column, through `sync`, `status` and `report --ledger`.

Every table's every column gets bad JSON, wrong types, unknown enum values and bad times.
Each command then exits 0, or 2 with one line (naming the table and the fix when a row is
to blame) -- never 1. Readers (`status`, `report --ledger`) never change the file.
"""

from __future__ import annotations

import random
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from builders import sync_config_toml

from tracestrata.cli.main import main
from tracestrata.job.state_schema import _expected_tables
from tracestrata.synthetic import generate_traces

T0 = datetime(2026, 11, 23, tzinfo=UTC)
FIRST_NOW, LATER_NOW = "2026-11-23T02:30:00Z", "2026-11-23T04:30:00Z"
BAD = ["{not json", "7", 7, -1, 1.5, "[]", "{}", '{"a": 1}', '{"number": "x"}', "exploded", "yesterday",
       "9999-12-31T23:59:59Z", "2026-13-45T99:00:00Z", "", "null", '"text"', str(2**70), "NaN", 2**62, b"\xff\xfe"]
ROUNDS = 3  # bad values tried per column (a fixed draw: the same every run)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A state after two finished windows with scores read and a report written."""
    tmp = tmp_path_factory.mktemp("state-fuzz")
    traces = tmp / "traces"
    traces.mkdir()
    records = list(generate_traces(120, start=T0, end=T0 + timedelta(hours=4), seed=3))
    (traces / "day.jsonl").write_bytes(b"".join(orjson.dumps(r.to_json()) + b"\n" for r in records))
    (tmp / "scores.jsonl").write_bytes(
        b"".join(orjson.dumps({"trace_id": r.id, "name": "correct", "value": i % 2 == 0}) + b"\n" for i, r in enumerate(records))
    )
    config = write_config(tmp, tmp)
    assert main(["sync", "--config", str(config), "--now", FIRST_NOW]) == 0
    return tmp


def write_config(data: Path, work: Path) -> Path:
    """A config over the traces, scores and sink in `data` (the source's identity in the state: the
    same for every copy) with its state and reports in `work`."""
    config = work / "sync.toml"
    config.write_text(sync_config_toml(
        {"type": "files", "path": str(data / "traces"), "sink_dir": str(data / "sink"), "scores_path": str(data / "scores.jsonl")},
        {"seed": "s", "targets": {"default": 5}, "strata": [{"field": "metadata.intent"}]},
        state=str(work / "state.sqlite"),
        window={"every": "1h", "settle": "15m", "start": "2026-11-23T00:00:00Z"},
        scores={"names": ["correct"], "metric": "correct"},
        report={"dir": str(work / "reports"), "formats": ["json"]},
        retry={"attempts": 1, "total_seconds": 1},
    ))
    return config


def copy_state(finished: Path, work: Path) -> tuple[Path, Path]:
    work.mkdir()
    shutil.copy2(finished / "state.sqlite", work / "state.sqlite")
    return write_config(finished, work), work / "state.sqlite"


def cases() -> list[tuple[str, str, object]]:
    draw = random.Random(22)
    out = []
    for table, columns in sorted(_expected_tables().items()):
        for column in sorted(columns):
            for value in draw.sample(BAD, ROUNDS):
                out.append((table, column, value))
    return out


def damage(path: Path, table: str, column: str, value: object) -> bool:
    db = sqlite3.connect(path)
    try:
        if db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0:
            return False
        db.execute(f"UPDATE {table} SET {column} = ? WHERE rowid = (SELECT min(rowid) FROM {table})", (value,))
        db.commit()
        return True
    except sqlite3.IntegrityError:
        return False
    finally:
        db.close()


@pytest.mark.parametrize(("table", "column", "value"), cases(), ids=lambda v: str(v)[:14])
def test_a_damaged_row_is_one_line_never_an_internal_error(table, column, value, finished, tmp_path, capsys):
    config, state = copy_state(finished, tmp_path / "w")
    if not damage(state, table, column, value):
        pytest.skip(f"{table}.{column} cannot hold {value!r} (constraint)")
    runs = [
        ["status", "--config", str(config), "--now", LATER_NOW],
        ["report", "--ledger", str(state), "--metric", "correct", "--until", LATER_NOW],
        ["sync", "--config", str(config), "--now", LATER_NOW],
    ]
    for argv in runs:
        before = state.read_bytes() if argv[0] != "sync" else None
        code = main(argv)
        err = capsys.readouterr().err
        assert code != 1, (argv, err)
        if code == 2:
            assert err.strip().count("\n") == 0, (argv, err)
        if "damaged row" in err:
            assert f"table {table!r}" in err and ("delete" in err or "restore" in err), err
        if before is not None:
            assert state.read_bytes() == before, argv


@pytest.mark.parametrize(
    ("column", "value"),
    [("cells", "{not json"), ("counts", "[1, 2"), ("status", "exploded"), ("window_start", "yesterday")],
)
def test_the_reported_damages_name_table_row_and_fix_in_every_command(column, value, finished, tmp_path, capsys):
    config, state = copy_state(finished, tmp_path / "w")
    assert damage(state, "runs", column, value)
    before = state.read_bytes()
    for argv in (
        ["status", "--config", str(config), "--now", LATER_NOW],
        ["report", "--ledger", str(state), "--metric", "correct", "--until", LATER_NOW],
        ["sync", "--config", str(config), "--now", LATER_NOW],
    ):
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1, (argv, err)
        assert "damaged row in table 'runs' (run_id " in err and f"{column} is not" in err and "restore" in err, err
    assert state.read_bytes() == before  # nothing else touched: the refusing sync wrote nothing either
