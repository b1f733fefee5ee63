"""The Spark path draws the files path's sample: same ids, probabilities, cells and manifest,
under any partitioning, with boosts, `top` folds, numeric edges, missing fields, non-ASCII ids."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from builders import policy_toml, write_jsonl
from click.testing import CliRunner
from identical import assert_identical_samples

from tracestrata.cli.main import cli
from tracestrata.errors import ConfigError, InputError
from tracestrata.job.state import State
from tracestrata.protocols import Window
from tracestrata.record import TraceRecord
from tracestrata.sampling.manifest import write_sample_dir
from tracestrata.policy.parse import load_policy
from tracestrata.synthetic import generate_traces

pytestmark = pytest.mark.timeout(600)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(days=1)
POLICY = policy_toml(
    "spark-identical",
    strata=[{"field": "metadata.intent", "top": 3}, {"field": "latency_ms", "edges": [1000, 3000, 10000]}],
    default=25,
    overrides={"(other) | *": 40, "tech | *": 15},
    signals=("error", "refusal", "thumbs-down"),
    boosts=[{"name": "refunds", "field": "metadata.intent", "equals": "refund", "collect": 30}],
)


def edge_records():
    """Ids that are not ASCII, latencies on and around every edge, absent fields and values."""
    out = []
    latencies = [None, 0.0, 999.999, 1000.0, 1000.001, 2999.9, 3000.0, 10000.0, 1e9]
    for i in range(180):
        metadata = {} if i % 5 == 0 else {"intent": ["zürich", "東京", "refund", "billing"][i % 4]}
        if i % 7 == 0:
            metadata["refusal"] = True
        out.append(
            TraceRecord(
                id=["ä-", "trace-🙂-", "é", "ID/"][i % 4] + str(i),
                timestamp=T0 + timedelta(minutes=7 * i),
                status="error" if i % 11 == 0 else "ok",
                latency_ms=latencies[i % len(latencies)],
                metadata=metadata,
                scores={"user_feedback": 0.0} if i % 13 == 0 else {},
            )
        )
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("spark")
    records = list(generate_traces(6000, start=T0, end=T1, seed=11)) + edge_records()
    traces = write_jsonl(folder / "traces.jsonl", records)
    policy_path = folder / "policy.toml"
    policy_path.write_text(POLICY)
    return folder, traces, policy_path


def files_sample(folder, traces, policy_path, name, *extra):
    """`tracestrata sample` on the JSONL, with its own boost state (a fresh one unless `extra` names one)."""
    out = folder / name
    state = [] if "--state" in extra else ["--state", str(folder / f"{name}-boosts.sqlite")]
    result = CliRunner().invoke(
        cli, ["sample", "--source", f"jsonl:{traces}", "--policy", str(policy_path), "--out", str(out), *state, *extra]
    )
    assert result.exit_code == 0, result.output
    return out


def spark_sample(spark, df, policy_path, out, window=None, **kwargs):
    from tracestrata.spark import sample_dataframe

    policy = load_policy(policy_path)
    result = sample_dataframe(df, policy, window, **kwargs)
    write_sample_dir(out, result, policy=policy, source="spark", window=window, counts={"bad_lines": 0})
    return result


@pytest.fixture(scope="module")
def expected(data):
    folder, traces, policy_path = data
    return files_sample(folder, traces, policy_path, "files")


def partitionings(df):
    from pyspark.sql import functions as F

    intent = F.col("metadata.intent")
    skewed = F.when(intent == "billing", F.lit(0)).otherwise(F.abs(F.hash("id")) % 3 + 1)
    return {
        "1": df.repartition(1),
        "3": df.repartition(3),
        "7": df.repartition(7),
        "skewed": df.repartition(4, skewed),
    }


@pytest.mark.parametrize("layout", ["1", "3", "7", "skewed"])
def test_any_partitioning_gives_the_files_sample(spark, data, expected, layout):
    folder, traces, policy_path = data
    df = partitionings(spark.read.json(str(traces)))[layout]
    out = folder / f"spark-{layout}"
    result = spark_sample(spark, df, policy_path, out)
    fingerprint = assert_identical_samples(expected, out, records=True)
    assert result.population == 6180
    assert any(cell.kind.value == "boost" for cell in result.cells)
    assert any(s.stratum.startswith("(other)") for s in result.selected)  # the top fold happened
    assert any(not s.record.id.isascii() for s in result.selected)
    assert len(fingerprint.units) == len(result.selected)


def test_a_window_on_string_and_on_timestamp_columns(spark, data):
    from pyspark.sql import functions as F

    folder, traces, policy_path = data
    since, until = "2026-01-01T06:00:00Z", "2026-01-01T15:30:00Z"
    want = files_sample(folder, traces, policy_path, "files-window", "--since", since, "--until", until)
    window = Window(T0 + timedelta(hours=6), T0 + timedelta(hours=15, minutes=30))
    df = spark.read.json(str(traces)).repartition(3)
    spark_sample(spark, df, policy_path, folder / "spark-window", window)
    assert_identical_samples(want, folder / "spark-window", records=True)

    parquet = str(folder / "traces.parquet")
    df.withColumn("timestamp", F.to_timestamp("timestamp")).write.mode("overwrite").parquet(parquet)
    spark_sample(spark, spark.read.parquet(parquet), policy_path, folder / "spark-parquet", window)
    assert_identical_samples(want, folder / "spark-parquet", records=True)


def test_boosts_collected_before_are_honoured(spark, data):
    folder, traces, policy_path = data
    state = folder / "boost-state.sqlite"
    with State(state) as store:
        store.record_boost("earlier", {"refunds": 22})
    want = files_sample(folder, traces, policy_path, "files-boosted", "--state", str(state))
    result = spark_sample(
        spark, spark.read.json(str(traces)).repartition(3), policy_path, folder / "spark-boosted",
        boost_collected={"refunds": 22},
    )
    assert result.boost_collected == {"refunds": 30}
    assert_identical_samples(want, folder / "spark-boosted")


def test_a_column_mapping_reads_an_export_schema(spark, data):
    folder, traces, policy_path = data
    df = spark.read.json(str(traces)).withColumnRenamed("id", "trace_id").withColumnRenamed("metadata", "meta")
    columns = {"id": "trace_id", "metadata.intent": "meta.intent", "metadata.refusal": "meta.refusal"}
    spark_sample(spark, df.repartition(2), policy_path, folder / "spark-mapped", columns=columns)
    assert_identical_samples(folder / "files", folder / "spark-mapped")


def test_bad_rows_and_bad_mappings_are_one_clear_error(spark, data):
    from pyspark.sql import functions as F

    folder, traces, policy_path = data
    df = spark.read.json(str(traces))
    nulls = df.withColumn("id", F.when(F.col("latency_ms") > 5000, F.lit(None)).otherwise(F.col("id")))
    with pytest.raises(InputError, match=r"rows have no trace id"):
        spark_sample(spark, nulls, policy_path, folder / "bad")
    with pytest.raises(ConfigError, match=r"columns: column mapping: .*no_such_column"):
        spark_sample(spark, df, policy_path, folder / "bad", columns={"id": "no_such_column"})
    with pytest.raises(InputError, match=r"no column 'id'"):
        spark_sample(spark, df.drop("id"), policy_path, folder / "bad")


def test_an_empty_dataframe_is_an_empty_sample(spark, data):
    folder, traces, policy_path = data
    result = spark_sample(spark, spark.read.json(str(traces)).limit(0), policy_path, folder / "empty")
    assert result.selected == [] and result.cells == [] and result.population == 0


def test_a_trace_id_repeated_across_files_and_splits_counts_once(spark, data, tmp_path):
    """A repeat in another file, in another split of a file, with other fields, or first seen
    outside the window: the occurrence kept is the first in the window, as on the files path."""
    folder, _, policy_path = data
    base = list(generate_traces(2400, start=T0, end=T1, seed=5))
    later = [replace(r, metadata={**r.metadata, "intent": "again"}) for r in base[::9]]
    early = [replace(r, timestamp=T0 - timedelta(hours=1), metadata={"intent": "outside"}) for r in base[1::13]]
    rows = early + base[:1200] + later[:100] + base[1200:] + later[100:] + base[:40]
    parts = tmp_path / "parts"
    parts.mkdir()
    for n, start in enumerate(range(0, len(rows), 700)):
        write_jsonl(parts / f"part-{n:02d}.jsonl", rows[start : start + 700])
    whole = write_jsonl(tmp_path / "whole.jsonl", rows)
    since, until = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"
    want = files_sample(tmp_path, whole, policy_path, "files", "--since", since, "--until", until)
    window = Window(T0, T1)
    spark.conf.set("spark.sql.files.maxPartitionBytes", "150000")  # files split in several blocks
    try:
        df = spark.read.json(str(parts))
        assert df.rdd.getNumPartitions() > len(list(parts.iterdir()))
        result = spark_sample(spark, df, policy_path, tmp_path / "spark", window)
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
    assert_identical_samples(want, tmp_path / "spark", records=True)
    assert result.duplicates == len(later) + 40 and result.population == len(base)

    same = base[:300] + base[:300:3]  # repeats of the same content: any order keeps the same trace
    write_jsonl(tmp_path / "same.jsonl", same)
    want = files_sample(tmp_path, tmp_path / "same.jsonl", policy_path, "files-same")
    result = spark_sample(spark, spark.read.json(str(tmp_path / "same.jsonl")).repartition(3), policy_path, tmp_path / "spark-same")
    assert_identical_samples(want, tmp_path / "spark-same", records=True)
    assert result.duplicates == 100

    twice = spark.read.json(str(tmp_path / "same.jsonl"))  # the same file's rows twice: one place, two partitions
    result = spark_sample(spark, twice.union(twice), policy_path, tmp_path / "spark-twice")
    assert_identical_samples(want, tmp_path / "spark-twice", records=True)
    assert result.population == 300 and result.duplicates == len(same) + 100


def test_too_many_repeated_ids_is_one_clear_error(spark, data, tmp_path, monkeypatch):
    import tracestrata.spark as spark_module

    folder, traces, policy_path = data
    monkeypatch.setattr(spark_module, "MAX_REPEATED_IDS", 5)
    df = spark.read.json(str(traces))
    with pytest.raises(InputError, match=r"more than 5 trace ids occur more than once"):
        spark_sample(spark, df.unionByName(df), policy_path, tmp_path / "bad")


def test_metadata_as_json_text_is_read_through_a_mapping(spark, tmp_path):
    """Exports without a nested schema carry metadata as JSON text: mapped, the sample is the files path's;
    unmapped, one line that says how to map it."""
    from pyspark.sql import functions as F

    records = [r for r in generate_traces(400, start=T0, end=T1, seed=8) if r.metadata.get("intent")]
    traces = write_jsonl(tmp_path / "t.jsonl", records)
    (tmp_path / "p.toml").write_text('seed = "s"\n[[strata]]\nfield = "metadata.intent"\n[targets]\ndefault = 5\n')
    want = files_sample(tmp_path, traces, tmp_path / "p.toml", "files")
    df = spark.read.json(str(traces)).withColumn("metadata", F.to_json("metadata"))
    spark_sample(spark, df, tmp_path / "p.toml", tmp_path / "spark", columns={"metadata.intent": "get_json_object(metadata, '$.intent')"})
    assert_identical_samples(want, tmp_path / "spark", records=True)
    with pytest.raises(InputError, match=r"metadata is text .*get_json_object\(metadata, '\$\.intent'\)"):
        spark_sample(spark, df, tmp_path / "p.toml", tmp_path / "bad")


def test_a_status_the_files_path_refuses_is_one_clear_error(spark, tmp_path):
    from pyspark.sql import functions as F

    records = list(generate_traces(300, start=T0, end=T1, seed=9))
    df = spark.read.json(str(write_jsonl(tmp_path / "t.jsonl", records)))
    df = df.withColumn("status", F.when(F.col("status") == "error", F.lit("ERROR")).otherwise(F.col("status")))
    (tmp_path / "p.toml").write_text(POLICY)
    with pytest.raises(InputError, match=r"expected 'ok' or 'error', got 'ERROR'"):
        spark_sample(spark, df, tmp_path / "p.toml", tmp_path / "bad")


@pytest.mark.parametrize("window", [None, Window(T0, T1)])
def test_epoch_milliseconds_are_one_clear_error(spark, tmp_path, window):
    df = spark.createDataFrame([("a", 1767225600000), ("b", 1767225600)], "id string, timestamp long")
    (tmp_path / "p.toml").write_text('seed = "s"\n')
    with pytest.raises(InputError, match=r"expected epoch seconds .* got 1767225600000 \(milliseconds\?\)"):
        spark_sample(spark, df, tmp_path / "p.toml", tmp_path / "bad", window)
