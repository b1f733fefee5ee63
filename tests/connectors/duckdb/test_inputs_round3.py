"""Issue 22: DuckDB and the files path agree on hostile input: `status: false`, an object in a text
field, a time-zone name in a CSV timestamp are refused with one line; a Parquet DECIMAL latency is read."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from tracestrata.cli.main import main

POLICY = 'seed = "s"\n[targets]\ndefault = 50\n[[strata]]\nfield = "metadata.intent"\n'


def rows(n: int = 10) -> list[dict]:
    return [{"id": f"t{i}", "timestamp": f"2026-01-01T00:{i:02d}:00Z", "status": "ok", "metadata": {"intent": "a"}} for i in range(n)]


def sample(capsys, tmp_path: Path, source: str, policy: str = POLICY) -> tuple[int, str]:
    (tmp_path / "p.toml").write_text(policy)
    code = main(["sample", "--source", source, "--policy", str(tmp_path / "p.toml"), "--out", str(tmp_path / "out")])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("engine", ["jsonl", "duckdb"])
@pytest.mark.parametrize(("field", "value", "says"), [("status", False, "status"), ("name", {"a": 1}, "name"), ("release", [1], "release")])
def test_wrong_kinds_are_refused_alike(engine, field, value, says, tmp_path, capsys):
    data = rows()
    data[3][field] = value
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in data))
    code, err = sample(capsys, tmp_path, f"{engine}:{path}")
    assert code == 2 and says in err and err.count("\n") == 1, err
    if field == "status":  # `plan` counts with a GROUP BY on DuckDB: the same refusal
        (tmp_path / "by-status.toml").write_text('seed = "s"\n[targets]\ndefault = 5\n[[strata]]\nfield = "status"\n')
        code = main(["plan", "--source", f"{engine}:{path}", "--policy", str(tmp_path / "by-status.toml")])
        err = capsys.readouterr().err
        assert code == 2 and "status" in err and err.count("\n") == 1, err


def test_a_zone_name_in_a_csv_timestamp_is_refused(tmp_path, capsys):
    path = tmp_path / "t.csv"
    path.write_text("id,timestamp,status\na,2026-01-01T00:00:00 Europe/Paris,ok\nb,2026-01-01T00:10:00Z,ok\n")
    code, err = sample(capsys, tmp_path, f"duckdb:{path}", 'seed = "s"\n[targets]\ndefault = 5\n')
    assert code == 2 and "timestamp" in err, err


def test_a_parquet_decimal_latency_is_a_number(tmp_path, capsys):
    path = tmp_path / "t.parquet"
    duckdb.sql(
        "COPY (SELECT 't' || i AS id, TIMESTAMPTZ '2026-01-01 00:00:00+00' + INTERVAL (i) MINUTE AS timestamp, "
        f"CAST(i * 150.25 AS DECIMAL(12, 2)) AS latency_ms FROM range(20) t(i)) TO '{path}' (FORMAT parquet)"
    )
    code, err = sample(capsys, tmp_path, f"duckdb:{path}", 'seed = "s"\n[targets]\ndefault = 50\n[[strata]]\nfield = "latency_ms"\nedges = [1000]\n')
    assert code == 0, err
    assert main(["plan", "--source", f"duckdb:{path}", "--policy", str(tmp_path / "p.toml")]) == 0
