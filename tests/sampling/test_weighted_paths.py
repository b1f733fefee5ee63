"""A weighted policy (`[sampling] weight`) draws the same sample on every path: files, `--jobs 2`,
DuckDB over JSONL and Parquet, and Spark (ids, pi, weights, sizes, cells, manifest; tests/identical.py).

Every path reads the same float weight and ranks it with the same exact arithmetic
(`tracestrata.sampling.weights`), so the ranks agree bit for bit.
"""

from pathlib import Path

import pytest
from builders import weighted_traffic, write_jsonl
from click.testing import CliRunner
from identical import assert_identical_samples

from tracestrata.cli.main import cli

WEIGHTED = Path(__file__).resolve().parents[2] / "examples" / "policies" / "weighted.toml"


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    import duckdb

    folder = tmp_path_factory.mktemp("weighted")
    jsonl = write_jsonl(folder / "traces.jsonl", weighted_traffic())
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    rows = con.sql(f"SELECT * FROM read_json('{jsonl}', format = 'newline_delimited')")
    con.sql(f"COPY (SELECT * FROM rows) TO '{folder / 'one.parquet'}' (FORMAT parquet)")
    return folder


def sample(folder, source, name, *extra):
    out = folder / name
    args = ["sample", "--source", source, "--policy", str(WEIGHTED), "--out", str(out),
            "--state", str(folder / f"{name}.sqlite"), *extra]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return out


def test_files_jobs_and_duckdb_draw_the_same_weighted_sample(exports):
    files = sample(exports, f"jsonl:{exports / 'traces.jsonl'}", "files")
    common = assert_identical_samples(files, sample(exports, f"jsonl:{exports / 'traces.jsonl'}", "jobs", "--jobs", "2"),
                                      records=True)
    assert_identical_samples(files, sample(exports, f"duckdb:{exports / 'traces.jsonl'}", "json"), records=True)
    assert_identical_samples(files, sample(exports, f"parquet:{exports / 'one.parquet'}", "parquet"))
    probabilities = {unit[7] for unit in common.units.values()}
    assert len(probabilities) > 50  # unequal inside cells: the weighting took effect
    assert {unit[9] for unit in common.units.values()} >= {0.05, 0.5}  # the floor and the top size
