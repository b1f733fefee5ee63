"""Benchmark: the DuckDB export path against a hand-written DuckDB SQL bottom-k, polars, and the files path.

Every number comes from the same run on the same traces, one child process per method
(wall time and peak RSS from `os.wait4`), printed as ratios; speed is never asserted in a test.
The job: one stratum dimension (`metadata.intent`) and two failure signals (`status = error`,
`metadata.refusal = true`), 100 per cell, on N traces in JSONL and in Parquet (both generated
into --data-dir, never committed):

  duckdb path   `tracestrata sample --source parquet:FILE` / `duckdb:FILE.jsonl` (sample.jsonl and manifest written)
  files path    `tracestrata sample --source jsonl:FILE --jobs 1` and `--jobs 2` (today's path)
  SQL bottom-k  DuckDB: `row_number() OVER (PARTITION BY intent, failure ORDER BY hash(id)) <= 100` (ids only)
  polars        `scan_parquet`/`scan_ndjson` + hash + sort + `group_by(...).head(100)` (ids only)

    python bench/bench_scale.py                    # 1M traces
    python bench/bench_scale.py --n 20000          # smoke run
    python bench/bench_scale.py --scale 10000000 30000000   # the DuckDB path alone on big Parquet: traces/s, peak RSS
    python bench/bench_scale.py --n 20000 --scale 10000000 --baselines-at-scale   # and SQL / polars on 10M
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
POLICY = HERE / "scale_policy.toml"
SQL = """
SELECT id FROM (
  SELECT id, row_number() OVER (PARTITION BY intent, failure ORDER BY hash(id)) AS rn FROM (
    SELECT id, metadata.intent AS intent,
           coalesce(status = 'error', false) OR coalesce(metadata.refusal, false) AS failure
    FROM {scan}))
WHERE rn <= 100
"""
POLARS = """
import polars as pl, sys
path = sys.argv[1]
frame = (pl.scan_parquet(path) if path.endswith('.parquet') else pl.scan_ndjson(path))
out = (frame.select(pl.col('id'), pl.col('metadata').struct.field('intent').alias('intent'),
                    ((pl.col('status') == 'error').fill_null(False) | pl.col('metadata').struct.field('refusal').fill_null(False)).alias('failure'))
       .with_columns(pl.col('id').hash(7).alias('h')).sort('h').group_by(['intent', 'failure']).head(100).collect())
print(len(out))
"""


def timed(args: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"failed: {' '.join(args)}\n{proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
    return wall, usage.ru_maxrss / 1024


def make_data(folder: Path, n: int) -> tuple[Path, Path]:
    import duckdb

    jsonl, parquet = folder / f"scale-{n}.jsonl", folder / f"scale-{n}.parquet"
    if not jsonl.exists():
        subprocess.run([sys.executable, "-m", "tracestrata.cli.main", "generate", "--traces", str(n), "--start", "2026-01-01", "--out", str(jsonl)], check=True, stdout=subprocess.DEVNULL)
    if not parquet.exists():
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.sql(f"COPY (SELECT * FROM read_json('{jsonl}', format = 'newline_delimited')) TO '{parquet}' (FORMAT parquet)")
    return jsonl, parquet


def big_parquet(folder: Path, n: int) -> Path:
    """N synthetic traces straight into Parquet by DuckDB (no JSONL): ids, timestamps, intent, status, refusal."""
    import duckdb

    path = folder / f"big-{n}.parquet"
    if not path.exists():
        duckdb.connect().sql(
            f"""COPY (SELECT md5(i::VARCHAR) AS id, TIMESTAMPTZ '2026-01-01' + INTERVAL (i % 86400) SECOND AS timestamp,
                   CASE WHEN i % 50 = 0 THEN 'error' ELSE 'ok' END AS status,
                   {{'intent': ['billing','refund','account','shipping','compliance','other'][1 + (hash(i) % 6)::INT],
                     'refusal': hash(i * 7) % 100 = 0}} AS metadata
                 FROM range({n}) t(i)) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)"""
        )
    return path


def cli(source: str, policy: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "tracestrata.cli.main", "sample", "--source", source, "--policy", str(policy), "--out", str(out), "--state", str(out) + ".json", *extra]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--data-dir", type=Path, default=HERE / "data")
    parser.add_argument("--scale", type=int, nargs="*", default=[], help="also the DuckDB path alone on these sizes (Parquet)")
    parser.add_argument("--baselines-at-scale", action="store_true", help="with --scale: the SQL and polars baselines on those sizes too")
    parser.add_argument("--make", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--make-big", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    if args.make:
        make_data(args.data_dir, args.make)
        return
    if args.make_big:
        big_parquet(args.data_dir, args.make_big)
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    # an installed package has its bytecode; a source checkout under PYTHONDONTWRITEBYTECODE would
    # compile tracestrata in every timed child (0.05 s each), which no baseline pays
    import tracestrata

    compileall.compile_dir(Path(tracestrata.__file__).parent, quiet=1)
    # the data are made in a child: a parent grown by DuckDB would pass its peak RSS on to every child it forks
    subprocess.run([sys.executable, __file__, "--make", str(args.n), "--data-dir", str(args.data_dir)], check=True)
    jsonl, parquet = args.data_dir / f"scale-{args.n}.jsonl", args.data_dir / f"scale-{args.n}.parquet"
    print(f"{args.n:,} traces: JSONL {jsonl.stat().st_size / 1e6:.0f} MB, Parquet {parquet.stat().st_size / 1e6:.0f} MB; {os.cpu_count()} CPUs")
    rows: list[tuple[str, str, float, float]] = []
    for fmt, path in (("jsonl", jsonl), ("parquet", parquet)):
        scan = f"read_parquet('{path}')" if fmt == "parquet" else f"read_json('{path}', format = 'newline_delimited')"
        sql = [sys.executable, "-c", f"import duckdb; print(len(duckdb.sql({SQL.format(scan=scan)!r}).fetchall()))"]
        methods = {
            "duckdb path (tracestrata sample)": cli(f"{'parquet' if fmt == 'parquet' else 'duckdb'}:{path}", POLICY, tmp / f"d-{fmt}"),
            "SQL bottom-k (DuckDB, ids only)": sql,
        }
        if importlib.util.find_spec("polars") is not None:  # not a dependency: pip install polars to compare
            methods["polars (ids only)"] = [sys.executable, "-c", POLARS, str(path)]
        if fmt == "jsonl":
            methods["files path --jobs 1"] = cli(f"jsonl:{path}", POLICY, tmp / "f1", "--jobs", "1")
            methods["files path --jobs 2"] = cli(f"jsonl:{path}", POLICY, tmp / "f2", "--jobs", "2")
        for name, command in methods.items():
            wall, rss = timed(command)
            rows.append((fmt, name, wall, rss))
    base = {fmt: next(w for f, n, w, _ in rows if f == fmt and n.startswith("duckdb path")) for fmt in ("jsonl", "parquet")}
    files1 = next(w for f, n, w, _ in rows if n == "files path --jobs 1")
    files2 = next(w for f, n, w, _ in rows if n == "files path --jobs 2")
    print(f"{'input':8} {'method':36} {'wall s':>8} {'peak MB':>8} {'vs duckdb path':>15}")
    for fmt, name, wall, rss in rows:
        print(f"{fmt:8} {name:36} {wall:8.2f} {rss:8.0f} {wall / base[fmt]:14.2f}x")
    print(f"duckdb path on Parquet vs today's files path on JSONL: {files1 / base['parquet']:.1f}x (--jobs 1), {files2 / base['parquet']:.1f}x (--jobs 2)  (goal >= 3x)")
    print(f"duckdb path on JSONL vs files path --jobs 2 on JSONL: {files2 / base['jsonl']:.2f}x")
    peaks = []
    for n in args.scale:
        subprocess.run([sys.executable, __file__, "--make-big", str(n), "--data-dir", str(args.data_dir)], check=True)
        path = args.data_dir / f"big-{n}.parquet"
        wall, rss = timed(cli(f"parquet:{path}", POLICY, tmp / f"big-{n}"))
        peaks.append((n, wall, rss))
        line = f"scale {n:>12,} traces (Parquet {path.stat().st_size / 1e6:.0f} MB): {wall:7.1f} s, {n / wall:12,.0f} traces/s, peak RSS {rss:6.0f} MB"
        if args.baselines_at_scale:  # where start-up no longer dominates: the same comparison as at --n
            sql = timed([sys.executable, "-c", f"import duckdb; print(len(duckdb.sql({SQL.format(scan=f'read_parquet({chr(39)}{path}{chr(39)})')!r}).fetchall()))"])[0]
            line += f"; SQL bottom-k {sql:.1f} s ({sql / wall:.2f}x)"
            if importlib.util.find_spec("polars") is not None:
                pol = timed([sys.executable, "-c", POLARS, str(path)])[0]
                line += f", polars {pol:.1f} s ({pol / wall:.2f}x)"
        print(line)
    if len(peaks) >= 2:
        print(f"peak RSS {peaks[-1][0]:,} / {peaks[0][0]:,}: {peaks[-1][2] / peaks[0][2]:.2f}x  (goal <= 1.2x)")


if __name__ == "__main__":
    main()
