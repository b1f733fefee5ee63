"""Spark local[N] vs the single-machine pass on the same Parquet export: the same sample, and traces/s.

    .venv/bin/python bench/bench_spark.py --n 1000000

Generates N synthetic traces as Parquet (in --data-dir, not committed), draws the sample
with `tracestrata sample --source parquet:` (DuckDB, one process) and with
`tracestrata.spark.sample_dataframe` on `local[--cores]`, checks that both selected the
same ids with the same inclusion probabilities and cells, and prints traces/s of both
and their ratio (Spark's start-up is timed apart). One machine understates Spark: its
executors share these cores with the JVM driver, and every row crosses from the JVM to
Python through Arrow, a cost a cluster spreads over many machines.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tracestrata.cli.main import main as cli_main
from tracestrata.sampling.manifest import read_sample_dir, write_sample_dir
from tracestrata.policy.parse import load_policy

POLICY = Path(__file__).resolve().parent / "policy.toml"
INTENTS = np.array(["billing", "sales", "tech", "account", "refund", "smalltalk", "compliance"])
SHARES = np.array([0.35, 0.2, 0.2, 0.12, 0.05, 0.075, 0.005])


def make_parquet(path: Path, n: int, seed: int = 7, chunk: int = 1_000_000) -> None:
    """N traces in the record's schema, written in row groups (numpy, no per-row Python)."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2026-01-01T00:00:00", "us")
    writer = None
    for offset in range(0, n, chunk):
        m = min(chunk, n - offset)
        ids = np.char.add("t", np.char.zfill(np.arange(offset, offset + m).astype(str), 9))
        intent = INTENTS[rng.choice(len(INTENTS), size=m, p=SHARES)]
        latency = np.round(rng.lognormal(7.0, 0.8, size=m), 1)
        table = pa.table(
            {
                "id": pa.array(ids),
                "timestamp": pa.array(start + rng.integers(0, 86_400_000_000, size=m).astype("timedelta64[us]")),
                "status": pa.array(np.where(rng.random(m) < 0.03, "error", "ok")),
                "latency_ms": pa.array(latency),
                "metadata": pa.StructArray.from_arrays(
                    [pa.array(intent), pa.array(rng.random(m) < 0.02)], names=["intent", "refusal"]
                ),
            }
        )
        writer = writer or pq.ParquetWriter(str(path), table.schema)
        writer.write_table(table)
    if writer is not None:
        writer.close()


def fingerprint(folder: Path) -> tuple[dict, list]:
    manifest, rows = read_sample_dir(folder)
    units = {r["id"]: (r["cell"], r["inclusion_probability"]) for r in rows}
    cells = [(c.id, c.population, c.sampled) for c in manifest.cells]
    return units, cells


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    data = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-spark-"))
    data.mkdir(parents=True, exist_ok=True)
    parquet = data / f"traces-{args.n}.parquet"
    if not parquet.exists():
        t = time.perf_counter()
        make_parquet(parquet, args.n)
        print(f"generated {args.n:,} traces -> {parquet} in {time.perf_counter() - t:.1f}s")

    t = time.perf_counter()
    code = cli_main(["sample", "--source", f"parquet:{parquet}", "--policy", str(POLICY), "--out", str(data / "duckdb"),
                     "--state", str(data / "duckdb-boosts.json")])
    duck_s = time.perf_counter() - t
    if code != 0:
        return code

    from tracestrata.spark import sample_dataframe
    from tracestrata.spark.session import local_session

    t = time.perf_counter()
    spark = local_session("bench-spark", cores=args.cores, memory="4g")
    startup_s = time.perf_counter() - t
    policy = load_policy(POLICY)
    t = time.perf_counter()
    result = sample_dataframe(spark.read.parquet(str(parquet)), policy)
    spark_s = time.perf_counter() - t
    write_sample_dir(data / "spark", result, policy=policy, source="spark", window=None, counts={"bad_lines": 0})
    partitions = spark.read.parquet(str(parquet)).rdd.getNumPartitions()
    spark.stop()

    same = fingerprint(data / "duckdb") == fingerprint(data / "spark")
    print(f"traces: {args.n:,}; sample: {len(result.selected):,} in {len(result.cells)} cells; identical: {same}")
    print(f"single machine (tracestrata sample --source parquet:, DuckDB): {duck_s:.1f}s, {args.n / duck_s:,.0f} traces/s")
    print(
        f"Spark local[{args.cores}] ({partitions} partitions): {spark_s:.1f}s, {args.n / spark_s:,.0f} traces/s "
        f"(+{startup_s:.1f}s start-up)"
    )
    print(f"Spark / single machine (traces/s): {duck_s / spark_s:.2f}x")
    print(
        "one machine understates Spark: its executors share these cores with the JVM driver, and every row "
        "crosses from the JVM to Python (Arrow); on a cluster each machine pays that for its share only"
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
