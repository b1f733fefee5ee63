"""Benchmark: could the per-cell bottom-k move into DuckDB? Only if DuckDB computed the sampling hash.

The sample is bottom-k on tracestrata's keyed hash (`tracestrata.sampling.hashing`, version 1),
so a query that ranks inside DuckDB needs that hash as SQL. This writes it as SQL (exact: checked
against `hash_ids` on every id of the file) and times, in one run, on the ids of a Parquet file:

  numpy          `hash_ids` on the ids as Arrow hands them over (what the DuckDB path does)
  SQL, exact     the same hash in DuckDB SQL: bytes by `encode`/`BIT` casts, 64-bit products via UHUGEINT
  DuckDB hash()  DuckDB's own hash: native, but not ours, not stable across versions, not in Spark

    python bench/bench_hash_sql.py                      # bench/data/scale-1000000.parquet (bench_scale.py makes it)
    python bench/bench_hash_sql.py --parquet FILE
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from tracestrata.sampling.frames import arrow_column
from tracestrata.sampling.hashing import hash_ids, hash_key

HERE = Path(__file__).resolve().parent
_MASK = (1 << 64) - 1
_GOLDEN, _C1, _C2 = 0x9E3779B97F4A7C15, 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53


def _times(x: str, c: int) -> str:
    return f"CAST((CAST({x} AS UHUGEINT) * {c}::UHUGEINT) & {_MASK}::UHUGEINT AS UBIGINT)"


def hash_sql(source: str, words: int, key: tuple[int, int]) -> str:
    """`SELECT id, h FROM source` with h the version-1 hash of ASCII ids of at most 8 * words bytes.

    One projection per step, so no step's expression is copied into the next. A word is 8 bytes
    of the id read little-endian: the id padded with NUL to whole words and reversed, so each word
    is 8 consecutive bytes read big-endian, which a BLOB -> BIT -> UBIGINT cast does.
    """
    k0, k1 = key
    q = f"SELECT id, strlen(id) AS n FROM {source}"
    q = (f"SELECT id, (n + 7) // 8 AS w, reverse(rpad(id, CAST(8 * ((n + 7) // 8) AS INTEGER), chr(0))) AS r, "
         f"xor(CAST({k0} AS UBIGINT), {_times('n', _GOLDEN)}) AS h FROM ({q})")

    def step(expression: str, j: int | None) -> str:
        value = expression if j is None else f"CASE WHEN w > {j} THEN {expression} ELSE h END"
        return f"SELECT * REPLACE ({value} AS h) FROM ({{}})"

    def fmix(j: int | None) -> list[str]:
        return [step("xor(h, h >> 33)", j), step(_times("h", _C1), j), step("xor(h, h >> 33)", j),
                step(_times("h", _C2), j), step("xor(h, h >> 33)", j)]

    steps = []
    for j in range(words):
        word = f"CAST(CAST(encode(substr(r, CAST(8 * (w - {j} - 1) + 1 AS INTEGER), 8)) AS BIT) AS UBIGINT)"
        steps += [step(f"xor(h, {word})", j), *fmix(j)]
    steps += [step(f"xor(h, CAST({k1} AS UBIGINT))", None), *fmix(None)]
    for template in steps:
        q = template.format(q)
    return f"SELECT id, h FROM ({q})"


def best(runs: int, run: callable) -> float:  # type: ignore[valid-type]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parquet", type=Path, default=HERE / "data" / "scale-1000000.parquet")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    key = hash_key("scale")
    con = duckdb.connect()
    con.execute(f"CREATE TABLE ids AS SELECT id FROM read_parquet('{args.parquet}')")
    longest, ascii_only = con.sql("SELECT max(strlen(id)), bool_and(strlen(id) = length(id)) FROM ids").fetchall()[0]
    if not ascii_only:
        raise SystemExit("the SQL version here reads ASCII ids only (reverse() reverses characters, not bytes)")
    words = (int(longest) + 7) // 8
    ids = con.sql("SELECT id FROM ids").to_arrow_table().column("id").combine_chunks()
    column = arrow_column(ids if pa.types.is_string(ids.type) else ids.cast(pa.large_string()))
    reference = hash_ids(column, key)
    got = con.sql(hash_sql("ids", words, key)).to_arrow_table().column("h").to_numpy()
    if not np.array_equal(got, reference):
        raise SystemExit("the SQL hash differs from hash_ids")
    n = len(reference)
    numpy_s = best(args.runs, lambda: hash_ids(column, key))
    sql_s = best(args.runs, lambda: con.sql(f"SELECT bit_xor(h) FROM ({hash_sql('ids', words, key)})").fetchall())
    native_s = best(args.runs, lambda: con.sql("SELECT bit_xor(hash(id)) FROM ids").fetchall())
    threads = con.sql("SELECT current_setting('threads')").fetchall()[0][0]
    print(f"{n:,} ids of up to {longest} bytes; SQL equal to hash_ids on every id; DuckDB threads: {threads}")
    print(f"{'method':34} {'s':>7} {'vs numpy':>9}")
    for name, seconds in (("numpy hash_ids (one thread)", numpy_s), ("SQL, exact (DuckDB)", sql_s), ("DuckDB hash() (not ours)", native_s)):
        print(f"{name:34} {seconds:7.3f} {seconds / numpy_s:8.1f}x")


if __name__ == "__main__":
    main()
