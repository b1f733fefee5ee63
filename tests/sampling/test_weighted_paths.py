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


EXPRESSION = 'weight = "expr: sqrt(scores.heuristic * (1 - scores.heuristic)) + min(scores.heuristic, 0.1)"'


def expression_policy(folder: Path) -> Path:
    """weighted.toml with its weight as an expression of the proxy (`sampling.weight_expression`)."""
    text = WEIGHTED.read_text()
    assert 'weight = "proxy_uncertainty:scores.heuristic"' in text
    path = folder / "expression.toml"
    path.write_text(text.replace('weight = "proxy_uncertainty:scores.heuristic"', EXPRESSION))
    return path


def sample(folder, source, name, *extra, policy=WEIGHTED):
    out = folder / name
    args = ["sample", "--source", source, "--policy", str(policy), "--out", str(out),
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


def test_an_expression_weight_draws_the_same_sample_on_every_path(exports):
    policy = expression_policy(exports)
    jsonl = f"jsonl:{exports / 'traces.jsonl'}"
    files = sample(exports, jsonl, "x-files", policy=policy)
    common = assert_identical_samples(files, sample(exports, jsonl, "x-jobs", "--jobs", "2", policy=policy),
                                      records=True)
    assert_identical_samples(files, sample(exports, f"duckdb:{exports / 'traces.jsonl'}", "x-json", policy=policy),
                             records=True)
    assert_identical_samples(files, sample(exports, f"parquet:{exports / 'one.parquet'}", "x-parquet", policy=policy))
    sizes = {unit[9] for unit in common.units.values()}
    assert len(sizes) > 50 and max(sizes) > 0.5  # the expression's own sizes (sqrt(p(1-p)) <= 0.5 alone)


@pytest.mark.parametrize("weight", [
    "expr: " + "-" * 900 + "scores.heuristic",  # was a RecursionError: "internal error", exit 1
    "expr: " + "+".join(["scores.heuristic"] * 6000),  # 100 kB
    "expr: scores.heuristic * 1" + "0" * 400,  # not an error: inf, then the floor
])
def test_a_hostile_expression_is_one_line_exit_2_or_a_sample_the_same_on_every_path(exports, weight, capsys):
    from tracestrata.cli.main import main

    text = WEIGHTED.read_text().replace('weight = "proxy_uncertainty:scores.heuristic"', f'weight = "{weight}"')
    policy = exports / f"hostile-{len(weight)}.toml"
    policy.write_text(text)
    jsonl = exports / "traces.jsonl"
    runs = {}
    for name, source, extra in [("files", f"jsonl:{jsonl}", []), ("jobs", f"jsonl:{jsonl}", ["--jobs", "2"]),
                                ("duckdb", f"duckdb:{jsonl}", [])]:
        out = exports / f"hostile-{len(weight)}-{name}"
        code = main(["sample", "--source", source, "--policy", str(policy), "--out", str(out),
                     "--state", str(exports / f"hostile-{name}.json"), *extra])
        err = capsys.readouterr().err
        runs[name] = (code, out)
        if code:
            assert code == 2 and f"{policy}:" in err and "sampling.weight" in err, err
            assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    codes = {code for code, _ in runs.values()}
    assert len(codes) == 1
    if codes == {0}:
        assert_identical_samples(runs["files"][1], runs["jobs"][1], records=True)
        assert_identical_samples(runs["files"][1], runs["duckdb"][1], records=True)
