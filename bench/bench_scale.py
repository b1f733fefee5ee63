"""Benchmark: tracestrata's export and files paths against the floor, hand-written SQL and polars.

Every number comes from the same run on the same traces, one child process per method
(wall time and peak RSS from `os.wait4`), each method run `--repeat` times in turn (A B C
A B C ...) and the median kept, printed as ratios to the floor; speed is never asserted in
a test. The job (`scale_policy.toml`): one stratum dimension (`metadata.intent`) and two
failure signals (`status = error`, `metadata.refusal = true`), on N traces in JSONL and in
Parquet (generated into --data-dir, never committed):

  floor           DuckDB reads the file and counts: `GROUP BY` intent x failure, every id hashed
                  natively (`min(hash(id))`): what any sampler of this file must at least do
  SQL md5         DuckDB bottom-k ranked by `md5_number(id)` (a stable hash), ids only
  SQL hash()      DuckDB bottom-k ranked by `hash(id)` (DuckDB's own, not stable across versions)
  polars          `scan_parquet`/`scan_ndjson` + hash + sort + `group_by(...).head(100)` (ids only; if installed)
  tracestrata     `tracestrata sample --source parquet:FILE` / `duckdb:FILE.jsonl` (sample.jsonl and manifest)
  files path      `tracestrata sample --source jsonl:FILE --jobs 1` and `--jobs 2`
  start-up        `tracestrata --help` against `python -c "import duckdb, numpy, pyarrow"`

    python bench/bench_scale.py                              # 1M traces
    python bench/bench_scale.py --n 20000                    # smoke run
    python bench/bench_scale.py --n 10000000 --repeat 3      # 10M traces, JSONL and Parquet
    python bench/bench_scale.py --scale 10000000 100000000   # + big Parquet (narrower rows): ratios and peak RSS
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
POLICY = HERE / "scale_policy.toml"
FAILURE = "coalesce(status = 'error', false) OR coalesce(metadata.refusal, false)"
FLOOR = f"SELECT metadata.intent, {FAILURE} AS failure, count(*), min(hash(id)) FROM {{scan}} GROUP BY ALL"
SQL = f"""
SELECT id FROM (
  SELECT id, row_number() OVER (PARTITION BY intent, failure ORDER BY {{rank}}) AS rn FROM (
    SELECT id, metadata.intent AS intent, {FAILURE} AS failure FROM {{scan}}))
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


def timed(args: list[str]) -> tuple[float, float, float]:
    """(wall seconds, peak RSS MB, CPU seconds: user + system) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"failed: {' '.join(args)}\n{proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def in_turn(methods: dict[str, list[str]], repeat: int) -> dict[str, tuple[float, float, float]]:
    """Each method `repeat` times, in turn: the median wall time, the largest peak RSS, the median CPU time.

    On a shared machine the CPU time (what the process itself used, on all its threads) moves
    less with the load than the wall time; both are printed."""
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in methods}
    for _ in range(repeat):
        for name, command in methods.items():
            runs[name].append(timed(command))
    return {
        name: (statistics.median(w for w, _, _ in r), max(m for _, m, _ in r), statistics.median(c for _, _, c in r))
        for name, r in runs.items()
    }


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


def duckdb_query(query: str) -> list[str]:
    return [sys.executable, "-c", f"import duckdb; print(len(duckdb.sql({query!r}).fetchall()))"]


def baselines(scan: str, path: Path, polars: bool) -> dict[str, list[str]]:
    methods = {
        "floor: DuckDB GROUP BY, ids hashed": duckdb_query(FLOOR.format(scan=scan)),
        "SQL bottom-k, md5_number (stable)": duckdb_query(SQL.format(scan=scan, rank="md5_number(id)")),
        "SQL bottom-k, DuckDB hash()": duckdb_query(SQL.format(scan=scan, rank="hash(id)")),
    }
    if polars and importlib.util.find_spec("polars") is not None:  # not a dependency: pip install polars to compare
        methods["polars (ids only)"] = [sys.executable, "-c", POLARS, str(path)]
    return methods


def report(title: str, results: dict[str, tuple[float, float, float]]) -> None:
    floor, _, floor_cpu = next(r for name, r in results.items() if name.startswith("floor"))
    print(f"\n{title}")
    print(f"  {'method':44} {'wall s':>8} {'vs floor':>9} {'CPU s':>8} {'vs floor':>9} {'peak MB':>8}")
    for name, (wall, rss, cpu) in results.items():
        print(f"  {name:44} {wall:8.2f} {wall / floor:8.2f}x {cpu:8.2f} {cpu / floor_cpu:8.2f}x {rss:8.0f}")
    ours = {name: r for name, r in results.items() if name.startswith("tracestrata")}
    fastest = min(ours, key=lambda name: ours[name][0])
    wall, rss, cpu = ours[fastest]
    print(f"  fastest tracestrata path ({fastest.removeprefix('tracestrata, ')}): {wall / floor:.2f}x the floor's wall, "
          f"{cpu / floor_cpu:.2f}x its CPU (goals: Parquet >= 10M <= 2.0x, 1M <= 2.5x; JSONL <= 2x); "
          f"largest peak of a tracestrata path {max(r[1] for r in ours.values()):.0f} MB (goal at 10M: <= 1,000 MB)")
    md5_wall, _, md5_cpu = results["SQL bottom-k, md5_number (stable)"]
    print(f"  {fastest.removeprefix('tracestrata, ')} / SQL bottom-k md5_number: {wall / md5_wall:.2f}x the wall, "
          f"{cpu / md5_cpu:.2f}x the CPU (goal at >= 10M: <= 1.0x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--data-dir", type=Path, default=HERE / "data")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each method, in turn (the median is kept)")
    parser.add_argument("--scale", type=int, nargs="*", default=[], help="also big Parquet of these sizes: floor, SQL, tracestrata")
    parser.add_argument("--jsonl", type=Path, help="JSONL only, this file (e.g. --n 10000000 with a file made elsewhere)")
    parser.add_argument("--no-polars", action="store_true", help="leave polars out even if installed")
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
    polars = not args.no_polars
    start = in_turn({
        "bare: python -c 'import duckdb, numpy, pyarrow'": [sys.executable, "-c", "import duckdb, numpy, pyarrow"],
        "tracestrata --help": [sys.executable, "-m", "tracestrata.cli.main", "--help"],
    }, max(args.repeat, 5))
    (bare, _, _), (helped, _, _) = start.values()
    print(f"start-up: tracestrata --help {helped:.3f} s, bare imports {bare:.3f} s: +{helped - bare:.3f} s (goal <= +0.05 s)")
    formats = [] if args.n == 0 else ["JSONL", "Parquet"] if args.jsonl is None else ["JSONL"]
    if args.n and args.jsonl is None:  # the data are made in a child: a parent grown by DuckDB would pass its peak RSS on to every child it forks
        subprocess.run([sys.executable, __file__, "--make", str(args.n), "--data-dir", str(args.data_dir)], check=True)
    jsonl, parquet = args.data_dir / f"scale-{args.n}.jsonl", args.data_dir / f"scale-{args.n}.parquet"
    if args.jsonl is not None:
        jsonl = args.jsonl
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; medians of {args.repeat} runs in turn")
    for fmt, path in [(f, jsonl if f == "JSONL" else parquet) for f in formats]:
        print(f"{fmt} {path.stat().st_size / 1e6:.0f} MB")
        scan = f"read_parquet('{path}')" if fmt == "Parquet" else f"read_json('{path}', format = 'newline_delimited')"
        methods = baselines(scan, path, polars)
        methods["tracestrata, DuckDB path"] = cli(f"{'parquet' if fmt == 'Parquet' else 'duckdb'}:{path}", POLICY, tmp / f"d-{fmt}")
        if fmt == "JSONL":
            methods["tracestrata, files path --jobs 1"] = cli(f"jsonl:{path}", POLICY, tmp / "f1", "--jobs", "1")
            methods["tracestrata, files path --jobs 2"] = cli(f"jsonl:{path}", POLICY, tmp / "f2", "--jobs", "2")
        report(f"{fmt}, {args.n:,} traces", in_turn(methods, args.repeat))
    peaks = []
    for n in args.scale:
        subprocess.run([sys.executable, __file__, "--make-big", str(n), "--data-dir", str(args.data_dir)], check=True)
        path = args.data_dir / f"big-{n}.parquet"
        methods = baselines(f"read_parquet('{path}')", path, polars)
        methods["tracestrata, DuckDB path"] = cli(f"parquet:{path}", POLICY, tmp / f"big-{n}")
        results = in_turn(methods, args.repeat)
        report(f"Parquet (narrow rows), {n:,} traces, {path.stat().st_size / 1e6:.0f} MB", results)
        wall, rss, _ = results["tracestrata, DuckDB path"]
        print(f"  tracestrata: {n / wall:,.0f} traces/s, peak RSS {rss:.0f} MB")
        peaks.append((n, rss))
    if len(peaks) >= 2:
        print(f"peak RSS {peaks[-1][0]:,} / {peaks[0][0]:,}: {peaks[-1][1] / peaks[0][1]:.2f}x  (goal <= 1.2x)")


if __name__ == "__main__":
    main()
