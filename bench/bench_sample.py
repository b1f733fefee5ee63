"""Benchmark: `tracestrata sample` against the seed's approach, pyarrow's parser and pandas.

Every number is measured in the same run on the same file, and the output is
ratios (speed is never asserted in a test). What is compared:

end to end, one child process each, from the same JSONL file on disk:
  ours      `tracestrata sample --source jsonl:FILE --policy bench/policy.toml --out TMP` (wall time,
            interpreter start-up included)
  seed      `python bench/seed_baseline.py FILE` (json.loads per line + the seed's sample_window)
  pyarrow   `pyarrow.json.read_json(FILE)` alone, timed inside its child (the parse limit)
in memory, records already decoded:
  ours      `sample_columns` on columns read from the decoded dicts (the seed's input), `sample_records` on
            TraceRecords, and `sample_columns` on the policy's columns, as lists and typed like
            the DataFrame (built outside the timer)
  seed      `sample_window` on dicts
  pandas    latency bucket (`pd.cut`) + failure mask + `groupby([...]).sample(frac=...)` on a
            DataFrame of just the columns the policy reads (built outside the timer), with
            `frac` chosen so it returns about as many rows as ours; three times: with pandas'
            default string columns (pyarrow-backed `str` in pandas >= 3), with `intent` and
            `status` as `category`, and with object columns holding the same decoded strings
            as ours (typed)
  ours      `sample_frame` on each of those same DataFrames (tracestrata.sampling.frames: reads
            the DataFrame's own buffers, conversion inside the timer)
memory: peak RSS of the `tracestrata sample` process (`os.wait4` rusage, via a small launcher) at N and at --big.

    python bench/bench_sample.py                 # 1M records (generated once into bench/data/)
    python bench/bench_sample.py --quick         # 100k smoke run
    python bench/bench_sample.py --big 10000000  # also ours alone at 10M: records/s and peak memory
    python bench/bench_sample.py --quick --policy bench/policy_proxy.toml  # the same with a [[proxy]]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import seed_baseline

POLICY = HERE / "policy.toml"
PANDAS = "pandas: groupby(...).sample(frac)"
PANDAS_CATEGORY = "pandas: same, category columns"
PANDAS_OBJECTS = "pandas: same, object strings"
READ_ONLY = "floor: reading the fields from the dicts"
OURS_FRAME = "ours: sample_frame (the same DataFrame)"
OURS_CATEGORY = "ours: sample_frame (same, category)"
START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Measure:
    name: str
    records: int
    seconds: float | None  # wall clock
    peak_mb: float | None = None
    note: str = ""
    cpu: float | None = None  # user + system CPU seconds (robust to other load on a shared machine)

    @classmethod
    def best(cls, name: str, records: int, seconds: tuple[float, float], note: str) -> Measure:
        """A `best_of` timing: its best wall and best CPU seconds."""
        return cls(name, records, seconds[0], note=note, cpu=seconds[1])

    @property
    def rate(self) -> float | None:
        return self.records / self.seconds if self.seconds else None

    @property
    def cpu_rate(self) -> float | None:
        return self.records / self.cpu if self.cpu else None


# ---------------------------------------------------------------- data


def ensure_data(n: int, data_dir: Path) -> Path:
    """`data_dir/traces-N.jsonl`: N synthetic traces over one day, seed 0 (generated once, then reused)."""
    path = data_dir / f"traces-{n}.jsonl"
    if path.exists():
        return path
    import orjson

    from tracestrata.io.atomic import atomic_writer
    from tracestrata.synthetic import generate_traces

    print(f"generating {n:,} synthetic traces into {path} (once) ...", file=sys.stderr, flush=True)
    with atomic_writer(path) as handle:
        for record in generate_traces(n, start=START, end=START + timedelta(days=1), seed=0):
            handle.write(orjson.dumps(record.to_json()) + b"\n")
    return path


# ---------------------------------------------------------------- child processes


# Peak RSS must be measured through a small launcher: Linux carries the RSS high-water mark of the
# forking process into the child's rusage across exec (and with vfork, the parent's *peak*), so a
# child spawned straight from this process, which holds a million decoded records in the in-memory
# part, would report this process's peak instead of its own. The launcher is a fresh `python -S`
# of ~10 MB that forks and execs the measured command and reports `wait4`'s rusage for it.
LAUNCHER = """
import json, os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execv(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as handle:
    json.dump({"wall": time.perf_counter() - started, "maxrss_kb": usage.ru_maxrss,
               "cpu": usage.ru_utime + usage.ru_stime}, handle)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_child(argv: Sequence[str]) -> tuple[float, float, str, float]:
    """Run a command to completion: (wall s, its own peak RSS in MB, its stdout, its CPU s)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "rusage.json"
        proc = subprocess.run(
            [sys.executable, "-S", "-c", LAUNCHER, str(report), *argv], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{list(argv[:4])}... exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")
        usage = json.loads(report.read_text())
    return usage["wall"], usage["maxrss_kb"] / 1024.0, proc.stdout, usage["cpu"]


def ours_argv(path: Path, out: Path, jobs: str = "auto") -> list[str]:
    argv = [sys.executable, "-m", "tracestrata.cli.main", "sample", "--source", f"jsonl:{path}"]
    return argv + ["--policy", str(POLICY), "--out", str(out), "--jobs", jobs]


OURS = "ours: tracestrata sample (CLI)"
OURS_ONE = "ours: same, --jobs 1"


PYARROW_CHILD = """
import sys, time
import pyarrow.json as pj
started, cpu = time.perf_counter(), time.process_time()
table = pj.read_json(sys.argv[1])
print(time.perf_counter() - started, time.process_time() - cpu, table.num_rows)
"""


def end_to_end(
    path: Path, n: int, repeat: int, *, seed: bool = True, arrow: bool = True, one_process: bool = True
) -> list[Measure]:
    """Best of `repeat` rounds; the rounds interleave the contenders so load swings hit all of them."""
    best: dict[str, Measure] = {}

    def keep(m: Measure) -> None:
        """Fastest wall and CPU time over the rounds; the highest peak memory."""
        old = best.get(m.name)
        if old is None or old.seconds is None:
            best[m.name] = m
        elif m.seconds is not None:
            old.seconds = min(old.seconds, m.seconds)
            old.cpu = _pick(min, old.cpu, m.cpu)
            old.peak_mb = _pick(max, old.peak_mb, m.peak_mb)

    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            wall, peak, _, cpu = run_child(ours_argv(path, Path(tmp) / "run"))
        keep(Measure(OURS, n, wall, peak, "whole command incl. start-up; --jobs auto (one process per CPU)", cpu))
        if one_process:
            with tempfile.TemporaryDirectory() as tmp:
                wall, peak, _, cpu = run_child(ours_argv(path, Path(tmp) / "run", "1"))
            keep(Measure(OURS_ONE, n, wall, peak, "one process", cpu))
        if seed:
            wall, peak, _, cpu = run_child([sys.executable, str(HERE / "seed_baseline.py"), str(path)])
            keep(Measure("seed: json.loads + sample_window", n, wall, peak, "whole script incl. start-up", cpu))
        if arrow:
            try:
                _, peak, stdout, _ = run_child([sys.executable, "-c", PYARROW_CHILD, str(path)])
            except RuntimeError as exc:
                keep(Measure("pyarrow.json.read_json alone", n, None, note=f"n/a: {str(exc)[:80]}"))
            else:
                seconds, cpu_s, rows = stdout.split()
                keep(
                    Measure(
                        "pyarrow.json.read_json alone",
                        int(rows),
                        float(seconds),
                        peak,
                        "the read_json call only (multi-threaded)",
                        float(cpu_s),
                    )
                )
    return list(best.values())


def _pick(choose: Callable[..., float], *values: float | None) -> float | None:
    present = [v for v in values if v is not None]
    return choose(present) if present else None


# ---------------------------------------------------------------- in memory


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[tuple[float, float], Any]:
    """((best wall s, best CPU s), last result) over `repeat` calls."""
    best, best_cpu, result = float("inf"), float("inf"), None
    for _ in range(repeat):
        gc.collect()
        started, cpu = time.perf_counter(), time.process_time()
        result = fn()
        best = min(best, time.perf_counter() - started)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return (best, best_cpu), result


def in_memory(path: Path, n: int, repeat: int) -> tuple[list[Measure], int]:
    import random

    import orjson

    from tracestrata.record import TraceRecord
    from tracestrata.policy.parse import load_policy

    measures: list[Measure] = []
    with open(path, "rb") as handle:
        raw = [orjson.loads(line) for line in handle]

    # seed: the same dicts, its own sample_window
    seconds, chosen = best_of(
        repeat,
        lambda: seed_baseline.sample_window(
            raw, seed_baseline.stratum_of, lambda _s: 200, seed_baseline.is_failure, 4.0, random.Random(0)
        ),
    )
    measures.append(
        Measure.best("seed: sample_window (dicts)", n, seconds, f"{len(chosen)} selected")
    )

    selected = 0
    try:
        from tracestrata.sampling.samplers import sample_records
    except ImportError as exc:
        measures.append(Measure("ours: sample_records (TraceRecords)", n, None, note=f"n/a: {exc}"))
    else:
        records = [TraceRecord.from_json(item) for item in raw]
        policy = load_policy(POLICY)
        seconds, result = best_of(repeat, lambda: sample_records(records, policy))
        selected = len(result.selected)
        measures.append(
            Measure.best(
                "ours: sample_records (TraceRecords)",
                n,
                seconds,
                f"{selected} selected, with keys, signals, hashes, inclusion probabilities",
            )
        )
        del records
        try:
            from tracestrata.sampling.samplers import sample_columns
            from tracestrata.policy.strata import raw_column
        except ImportError:
            pass
        else:

            def from_dicts() -> Any:
                columns = {path: raw_column(raw, path) for path in policy.fields()}
                return sample_columns([row["id"] for row in raw], columns, policy)

            seconds, result = best_of(repeat, from_dicts)
            measures.append(
                Measure.best(
                    "ours: sample_columns (dicts)",
                    n,
                    seconds,
                    f"{len(result.selected)} selected; the CLI's path, same input as the seed",
                )
            )

    try:
        from tracestrata.sampling.samplers import sample_columns
        from tracestrata.policy.strata import raw_column
    except ImportError:
        pass
    else:
        import numpy as np

        policy = load_policy(POLICY)
        # built outside the timer, like the DataFrame: the raw values as lists, and typed like the
        # DataFrame's columns (floats with NaN for missing, booleans, object strings)
        columns = {field: raw_column(raw, field) for field in policy.fields()}
        # The floor for any sampler that starts from the decoded dicts: only reading the id and
        # the policy's fields out of them (C-level `dict.get`), no sampling at all.
        seconds, _ = best_of(
            repeat, lambda: ([row["id"] for row in raw], {f: raw_column(raw, f) for f in policy.fields()})
        )
        measures.append(
            Measure.best(READ_ONLY, n, seconds, "ids + the policy's 5 fields, nothing else")
        )
        ids = [row["id"] for row in raw]
        typed = dict(columns)
        for field in ("latency_ms", "scores.user_feedback"):
            typed[field] = np.array([np.nan if v is None else v for v in columns[field]], dtype=float)
        typed["metadata.refusal"] = np.array([v is True for v in columns["metadata.refusal"]])
        for field in ("metadata.intent", "status"):
            typed[field] = np.array(columns[field], dtype=object)
        for label, given in (("lists", columns), ("typed", typed)):
            seconds, result = best_of(repeat, lambda given=given: sample_columns(ids, given, policy))
            measures.append(
                Measure.best(
                    f"ours: sample_columns ({label})",
                    n,
                    seconds,
                    f"{len(result.selected)} selected; + hashes, cells, inclusion probabilities",
                )
            )
        del columns, typed, ids

    try:
        import pandas as pd
    except ImportError as exc:
        measures.append(Measure(PANDAS, n, None, note=f"n/a: {exc}"))
    else:
        data = {
            "id": [r["id"] for r in raw],
            "intent": [(r.get("metadata") or {}).get("intent") for r in raw],
            "latency_ms": [r.get("latency_ms") for r in raw],
            "status": [r.get("status") for r in raw],
            "refusal": [(r.get("metadata") or {}).get("refusal") is True for r in raw],
            "user_feedback": [(r.get("scores") or {}).get("user_feedback") for r in raw],
        }
        frame = pd.DataFrame(data)
        categorical = frame.astype({"intent": "category", "status": "category"})
        # pandas >= 3 copies string columns into pyarrow-backed `str` columns (contiguous buffers,
        # built outside the timer), while "ours (typed)" reads numpy object arrays of the decoded
        # strings, scattered over the heap among the decoded records. So pandas also runs on the
        # same representation as ours: its string columns as object arrays of those same strings.
        strings = ("id", "intent", "status")
        objects = pd.DataFrame({k: pd.Series(v, dtype=object) if k in strings else v for k, v in data.items()})
        del data
        frac = (selected or 4000) / max(n, 1)
        bins = [-float("inf"), *seed_baseline.LATENCY_EDGES, float("inf")]

        def pandas_sample(frame: Any) -> Any:
            bucket = pd.cut(frame["latency_ms"], bins=bins, right=False, labels=list(seed_baseline.LATENCY_LABELS))
            failure = (frame["status"] == "error") | frame["refusal"] | (frame["user_feedback"] == 0)
            keyed = frame.assign(bucket=bucket, failure=failure)
            return keyed.groupby(["intent", "bucket", "failure"], observed=True).sample(frac=frac, random_state=0)

        for label, given in ((PANDAS, frame), (PANDAS_CATEGORY, categorical), (PANDAS_OBJECTS, objects)):
            seconds, sampled = best_of(repeat, lambda given=given: pandas_sample(given))
            note = f"{len(sampled)} selected, no weights; strings as {given['intent'].dtype}"
            measures.append(Measure.best(label, n, seconds, note))
        try:
            from tracestrata.sampling.frames import sample_frame
        except ImportError as exc:
            measures.append(Measure(OURS_FRAME, n, None, note=f"n/a: {exc}"))
        else:
            policy = load_policy(POLICY)
            rename = {
                "metadata.intent": "intent",
                "metadata.refusal": "refusal",
                "scores.user_feedback": "user_feedback",
            }
            for label, given in ((OURS_FRAME, frame), (OURS_CATEGORY, categorical)):
                seconds, result = best_of(repeat, lambda given=given: sample_frame(given, policy, rename=rename))
                note = f"{len(result.selected)} selected, + hashes, cells, inclusion probabilities"
                measures.append(Measure.best(label, n, seconds, note))
        del frame, categorical, objects
    raw.clear()
    gc.collect()
    return measures, selected


# ---------------------------------------------------------------- report


def ratio(faster: Measure | None, slower: Measure | None) -> tuple[float | None, float | None]:
    """(wall, CPU) speed-up of `faster` over `slower`: slower time / faster time."""
    if faster is None or slower is None:
        return (None, None)
    wall = slower.seconds / faster.seconds if faster.seconds and slower.seconds else None
    cpu = slower.cpu / faster.cpu if faster.cpu and slower.cpu else None
    return (wall, cpu)


def fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def print_table(measures: Sequence[Measure]) -> None:
    print(
        f"{'what':<40} {'records':>11} {'wall s':>8} {'CPU s':>8} {'records/s':>11} {'rec/CPU-s':>11} "
        f"{'peak MB':>8}  note"
    )
    for m in measures:
        print(
            f"{m.name:<40} {m.records:>11,} {fmt(m.seconds, '8.2f')} {fmt(m.cpu, '8.2f')} {fmt(m.rate, '11,.0f')} "
            f"{fmt(m.cpu_rate, '11,.0f')} {fmt(m.peak_mb, '8.1f')}  {m.note}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark tracestrata sample; prints ratios from one run.")
    parser.add_argument("--n", type=int, default=None, help="records (default 1,000,000; 100,000 with --quick)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 100k records, one repeat")
    parser.add_argument("--big", type=int, default=None, help="also run ours alone at this many records (memory)")
    parser.add_argument("--repeat", type=int, default=None, help="in-memory repeats, best taken (default 3, 1 quick)")
    parser.add_argument(
        "--e2e-repeat", type=int, default=None, help="end-to-end rounds, best taken (default 2, 1 quick)"
    )
    parser.add_argument("--data-dir", type=Path, default=HERE / "data")
    parser.add_argument(
        "--policy", type=Path, default=None, help="another policy (e.g. bench/policy_proxy.toml: the cost of a proxy)"
    )
    parser.add_argument("--skip-seed", action="store_true", help="skip the seed's end-to-end run (slow)")
    parser.add_argument("--memory-only", action="store_true", help="only the in-memory comparisons")
    parser.add_argument("--json", type=Path, default=None, help="also write the measures and ratios here")
    args = parser.parse_args(argv)
    if args.policy is not None:
        global POLICY
        POLICY = args.policy.resolve()
    n = args.n if args.n is not None else (100_000 if args.quick else 1_000_000)
    repeat = args.repeat if args.repeat is not None else (1 if args.quick else 3)
    e2e_repeat = args.e2e_repeat if args.e2e_repeat is not None else (1 if args.quick else 2)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    path = ensure_data(n, args.data_dir)
    print(f"file: {path} ({path.stat().st_size / 1e6:,.0f} MB, {n:,} records), cores: {os.cpu_count()}", flush=True)

    e2e = [] if args.memory_only else end_to_end(path, n, e2e_repeat, seed=not args.skip_seed)
    by_name = {m.name: m for m in e2e}
    ours = by_name.get(OURS)
    seed = by_name.get("seed: json.loads + sample_window")
    arrow = by_name.get("pyarrow.json.read_json alone")
    memory, _ = in_memory(path, n, repeat)
    big = None
    if args.big:
        big_path = ensure_data(args.big, args.data_dir)
        big = end_to_end(big_path, args.big, 1, seed=False, arrow=False, one_process=False)[0]
        big.name = "ours: tracestrata sample (CLI), --big"
    measures = [m for m in (*e2e, *memory, big) if m is not None]
    print()
    print_table(measures)

    mem = {m.name: m for m in memory}
    seed_mem = mem.get("seed: sample_window (dicts)")
    pandas = mem.get(PANDAS)
    dicts = mem.get("ours: sample_columns (dicts)")
    columns = mem.get("ours: sample_columns (typed)")
    lists = mem.get("ours: sample_columns (lists)")
    slowdown = ratio(arrow, ours)
    ratios: dict[str, tuple[float | None, float | None]] = {
        "end to end: ours vs seed, speed-up (goal >= 5x)": ratio(ours, seed),
        "end to end: ours time / pyarrow parse time (goal <= 2x)": slowdown,
        "end to end: ours --jobs 1 vs seed": ratio(by_name.get(OURS_ONE), seed),
        "end to end: ours --jobs 1 time / pyarrow parse time": ratio(arrow, by_name.get(OURS_ONE)),
        "in memory: ours on typed columns vs seed sample_window (goal >= 10x)": ratio(columns, seed_mem),
        "in memory: ours on the DataFrame vs seed sample_window (goal >= 10x)": ratio(mem.get(OURS_FRAME), seed_mem),
        "in memory: ours on dicts vs seed sample_window": ratio(dicts, seed_mem),
        "in memory: the most any sampler on dicts can reach (seed / floor)": ratio(mem.get(READ_ONLY), seed_mem),
        "in memory: ours on list columns vs seed sample_window": ratio(lists, seed_mem),
        "in memory: ours on TraceRecords vs seed sample_window": ratio(
            mem.get("ours: sample_records (TraceRecords)"), seed_mem
        ),
        "in memory: ours vs pandas groupby.sample, same DataFrame (goal >= 1x)": ratio(mem.get(OURS_FRAME), pandas),
        "in memory: same, both on category columns (goal >= 1x)": ratio(
            mem.get(OURS_CATEGORY), mem.get(PANDAS_CATEGORY)
        ),
        "in memory: same, both on object strings (goal >= 1x)": ratio(columns, mem.get(PANDAS_OBJECTS)),
        "in memory: ours on list columns vs pandas groupby.sample": ratio(lists, pandas),
        "in memory: ours on dicts vs pandas groupby.sample": ratio(dicts, pandas),
    }
    if big is not None and ours is not None and big.peak_mb and ours.peak_mb:
        ratios[f"peak memory: {args.big:,} / {n:,} records (goal <= 1.2x)"] = (big.peak_mb / ours.peak_mb, None)
        ratios[f"throughput: records/s at {args.big:,} / at {n:,}"] = (
            (big.rate or 0) / ours.rate if ours.rate else None,
            (big.cpu_rate or 0) / ours.cpu_rate if ours.cpu_rate else None,
        )
    print()
    print(f"{'ratio':<68} {'wall':>8} {'CPU':>8}")
    for label, (wall, cpu) in ratios.items():
        print(f"{label:<68} {fmt(wall, '7.2f')}x {fmt(cpu, '7.2f')}x")
    if args.json:
        payload = {
            "n": n,
            "measures": [asdict(m) | {"rate": m.rate, "cpu_rate": m.cpu_rate} for m in measures],
            "ratios": {label: {"wall": w, "cpu": c} for label, (w, c) in ratios.items()},
        }
        args.json.write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
