"""Text fields coded as one byte a row on Parquet: a field with few values (found a value at a
time) and one with many (counted), each with a missing value, give the files path's sample."""

from __future__ import annotations

import duckdb
import orjson
from click.testing import CliRunner

from identical import assert_identical_samples
from tracestrata.cli.main import cli

POLICY = """seed = "coded"
[[strata]]
field = "metadata.topic"
[[strata]]
field = "metadata.intent"
[targets]
default = 3
[failure]
multiplier = 2
[[failure.signals]]
name = "error"
field = "status"
equals = "error"
"""


def _sample(tmp_path, source, name):
    out = tmp_path / name
    result = CliRunner().invoke(cli, ["sample", "--source", source, "--policy", str(tmp_path / "p.toml"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_few_and_many_valued_text_fields_sample_as_on_the_files_path(tmp_path):
    rows = []
    for i in range(600):
        metadata = {"topic": None if i % 97 == 0 else f"topic-{i % 40}"}  # 40 values: more than a value-at-a-time pass takes
        if i % 11:
            metadata["intent"] = ["billing", "refund", "account", "other", "shipping"][i % 5]
        status = ["ok", "error", ""][i % 3] if i % 13 else None
        rows.append({"id": f"c{i:04d}", "timestamp": f"2026-01-01T00:{i % 60:02d}:00Z", "status": status, "metadata": metadata})
    (tmp_path / "t.jsonl").write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    con = duckdb.connect()
    con.sql("SET TimeZone = 'UTC'")
    con.sql(f"COPY (SELECT * FROM read_json('{tmp_path / 't.jsonl'}')) TO '{tmp_path / 't.parquet'}' (FORMAT parquet)")
    (tmp_path / "p.toml").write_text(POLICY)
    files = _sample(tmp_path, f"jsonl:{tmp_path / 't.jsonl'}", "files")
    assert_identical_samples(files, _sample(tmp_path, f"parquet:{tmp_path / 't.parquet'}", "parquet"))
