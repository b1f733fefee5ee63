"""`tracestrata spark-sample`: the sample dir `tracestrata sample` writes, and one line (exit 2) for bad input."""

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from builders import write_jsonl
from identical import assert_identical_samples

from tracestrata.cli.main import main
from tracestrata.synthetic import generate_traces

pytestmark = pytest.mark.timeout(600)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = "examples/policies/crossed.toml"


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    folder = tmp_path_factory.mktemp("spark-cli")
    return write_jsonl(folder / "traces.jsonl", generate_traces(3000, start=T0, end=T0 + timedelta(days=1), seed=4))


def test_spark_sample_writes_the_sample_of_tracestrata_sample(spark, traces, tmp_path, capsys):
    from pyspark.sql import functions as F

    parquet = tmp_path / "export"
    df = spark.read.json(str(traces)).withColumn("timestamp", F.to_timestamp("timestamp"))
    df.withColumnRenamed("id", "trace_id").repartition(3).write.parquet(str(parquet))
    window = ["--since", "2026-01-01T03:00:00Z", "--until", "2026-01-01T20:00:00Z"]
    common = ["--policy", POLICY, *window]
    assert main(["sample", "--source", f"jsonl:{traces}", "--out", str(tmp_path / "files"), *common]) == 0
    args = ["spark-sample", "--source", f"parquet:{parquet}", "--out", str(tmp_path / "spark"), *common]
    assert main([*args, "--column", "id=trace_id", "--state", str(tmp_path / "spark-boosts.sqlite")]) == 0
    assert "sampled" in capsys.readouterr().out
    assert_identical_samples(tmp_path / "files", tmp_path / "spark", records=True)


def test_a_source_that_is_not_there_is_one_line_and_exit_2(spark, tmp_path, capsys):
    code = main(["spark-sample", "--source", f"parquet:{tmp_path}/nothing-*.parquet", "--policy", POLICY,
                 "--out", str(tmp_path / "out")])
    ours = [line for line in capsys.readouterr().err.splitlines() if line.startswith("tracestrata:")]
    assert code == 2 and len(ours) == 1 and "nothing-" in ours[0]


def test_a_mapping_naming_a_missing_column_is_exit_2(spark, traces, tmp_path, capsys):
    code = main(["spark-sample", "--source", f"json:{traces}", "--policy", POLICY, "--out", str(tmp_path / "o"),
                 "--column", "metadata.intent=meta.nope"])
    ours = [line for line in capsys.readouterr().err.splitlines() if line.startswith("tracestrata:")]
    assert code == 2 and len(ours) == 1 and ours[0].startswith("tracestrata: error: columns: column mapping")


CSV = (
    'trace_id,timestamp,release,user_id,name\n'
    '007,2026-01-01T01:00:00Z,1.10,00123,"a ""quoted"" name"\n'
    '7,2026-01-01T02:00:00Z,1.1,123,"two\nlines"\n'
    '42,2026-01-01T03:00:00Z,1.10,00123,plain\n'
)
CSV_POLICY = 'seed = "csv"\n[[strata]]\nfield = "release"\n[[failure.signals]]\nname = "u"\nfield = "user_id"\nequals = "00123"\n'


def test_csv_reads_as_duckdb_reads_it_text_stays_text_and_quotes_are_rfc_4180(spark, tmp_path):
    """Ids "007" and "7" are two traces, release "1.10" is not 1.1; doubled quotes and quoted line breaks."""
    (tmp_path / "t.csv").write_text(CSV)
    (tmp_path / "p.toml").write_text(CSV_POLICY)
    common = ["--policy", str(tmp_path / "p.toml"), "--column", "id=trace_id"]
    assert main(["sample", "--source", f"duckdb:{tmp_path / 't.csv'}", "--out", str(tmp_path / "duck"), *common,
                 "--state", str(tmp_path / "d.sqlite")]) == 0
    assert main(["spark-sample", "--source", f"csv:{tmp_path / 't.csv'}", "--out", str(tmp_path / "spark"), *common,
                 "--state", str(tmp_path / "s.sqlite")]) == 0
    assert_identical_samples(tmp_path / "duck", tmp_path / "spark", records=True)
    rows = [orjson.loads(line) for line in (tmp_path / "spark" / "sample.jsonl").read_bytes().splitlines()]
    assert [(r["id"], r["release"], r["user_id"]) for r in sorted(rows, key=lambda r: r["id"])] == [
        ("007", "1.10", "00123"), ("42", "1.10", "00123"), ("7", "1.1", "123")]
    assert {r["name"] for r in rows} == {'a "quoted" name', "two\nlines", "plain"}


def test_a_file_spark_cannot_read_is_one_line_and_exit_2(spark, tmp_path, capsys):
    """A corrupt Parquet file, and parts that disagree on a column's type: one line, no JVM trace."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts = tmp_path / "parts"
    parts.mkdir()
    stamps = ["2026-01-01T00:00:00Z"] * 2
    pq.write_table(pa.table({"id": ["a", "b"], "timestamp": stamps, "latency_ms": pa.array([1, 2], pa.int64())}), parts / "h00.parquet")
    pq.write_table(pa.table({"id": ["c", "d"], "timestamp": stamps, "latency_ms": pa.array([1.5, 2.5])}), parts / "h01.parquet")
    (tmp_path / "bad.parquet").write_bytes(b"garbage")
    (tmp_path / "p.toml").write_text('seed = "s"\n[[strata]]\nfield = "latency_ms"\nedges = [2]\n')
    for source in (parts, tmp_path / "bad.parquet"):
        code = main(["spark-sample", "--source", f"parquet:{source}", "--policy", str(tmp_path / "p.toml"),
                     "--out", str(tmp_path / "o"), "--state", str(tmp_path / "s.sqlite")])
        ours = [line for line in capsys.readouterr().err.splitlines() if line.startswith("tracestrata:")]
        assert code == 2 and len(ours) == 1 and "Spark cannot read the data" in ours[0], ours


def _rows_with(field: str, literal: str) -> str:
    """JSON lines of 12 traces, row 3's `field` spelled `literal` (a literal JSON itself may not spell: 1e400)."""
    lines = []
    for i in range(12):
        row = {"id": f"t{i}", "timestamp": f"2026-01-01 00:{i:02d}:00", "status": "ok", "latency_ms": 100.0 * i}
        if i == 3:
            row[field] = "@here@"
        lines.append(orjson.dumps(row).decode().replace('"@here@"', literal))
    return "\n".join(lines) + "\n"


HOSTILE = {
    "zone-utc.jsonl": _rows_with("timestamp", '"2026-11-23 10:00:00 UTC"'),
    "zone-name.jsonl": _rows_with("timestamp", '"2026-11-23 10:00:00 America/New_York"'),
    "zone-name.csv": "id,timestamp,status\n" + "".join(
        f"t{i},2026-01-01 00:{i:02d}:00{' America/New_York' if i == 3 else ''},ok\n" for i in range(12)),
    "latency-overflow.jsonl": _rows_with("latency_ms", "1e400"),
    "status-false.jsonl": _rows_with("status", "false"),
    "status-number.jsonl": _rows_with("status", "1"),
}
SAYS = {"zone": "timestamp", "latency": "latency_ms", "status": "status"}


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("window", [False, True], ids=["no-window", "window"])
def test_input_the_files_path_refuses_is_refused_alike(spark, name, window, tmp_path, capsys):
    """Issue 22: a time zone name in text or CSV, a latency overflowing to inf under `edges`, a status
    that is not text: one line and exit 2 on Spark as on the files path (and DuckDB), window or not."""
    path = tmp_path / name
    path.write_text(HOSTILE[name])
    (tmp_path / "p.toml").write_text('seed = "s"\n[targets]\ndefault = 4\n[[strata]]\nfield = "latency_ms"\nedges = [100, 1000]\n')
    kind = "csv" if name.endswith(".csv") else "json"
    since = ["--since", "2026-01-01T00:00:00Z", "--until", "2026-12-01T00:00:00Z"] if window else []
    if kind == "json":  # the files path refuses it too
        code = main(["sample", "--source", f"jsonl:{path}", "--policy", str(tmp_path / "p.toml"),
                     "--out", str(tmp_path / "files"), *since])
        assert code == 2, capsys.readouterr().err
    capsys.readouterr()
    code = main(["spark-sample", "--source", f"{kind}:{path}", "--policy", str(tmp_path / "p.toml"),
                 "--out", str(tmp_path / "o"), *since])
    ours = [line for line in capsys.readouterr().err.splitlines() if line.startswith("tracestrata:")]
    assert code == 2 and len(ours) == 1 and f"{SAYS[name.partition('-')[0]]}:" in ours[0], ours
    assert not (tmp_path / "o" / "sample.jsonl").exists()


def test_an_unreachable_master_is_one_line_and_exit_6(tmp_path, capsys):
    """Issue 22: no JVM stack and no minute of Spark's retries: one line naming the master (credentials
    hidden), exit 6 (the backend cannot be reached), and nothing written."""
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install '.[spark]' from a checkout)")
    from tracestrata.demo.phoenix_server import free_port

    (tmp_path / "t.jsonl").write_text(_rows_with("status", '"ok"'))
    port = free_port()
    for master, named in [(f"spark://127.0.0.1:{port}", f"spark://127.0.0.1:{port}"),
                          (f"spark://127.0.0.1:{port},127.0.0.1:{free_port()}", f"spark://127.0.0.1:{port},"),
                          (f"k8s://https://admin:s3cret@127.0.0.1:{port}", f"k8s://https://127.0.0.1:{port} ")]:
        code = main(["spark-sample", "--source", f"json:{tmp_path / 't.jsonl'}", "--policy", POLICY,
                     "--out", str(tmp_path / "o"), "--master", master])
        err = capsys.readouterr().err
        assert code == 6 and err.count("\n") == 1 and "cannot reach the Spark master" in err and named in err, err
        assert "s3cret" not in err and "admin" not in err and not (tmp_path / "o").exists()


def test_master_addresses_reads_standby_masters_and_default_ports():
    from tracestrata.spark.master import master_addresses

    assert master_addresses("spark://a:7078,b") == [("a", 7078), ("b", 7077)]
    assert master_addresses("spark://[::1]:7077") == [("::1", 7077)]
    assert master_addresses("k8s://https://api.example:6443") == [("api.example", 6443)]
    assert master_addresses("k8s://api.example") == [("api.example", 443)]
    assert master_addresses("yarn") == [] and master_addresses("local[2]") == []
