"""Benchmark: what `report --evaluator` costs against sampling the same file.

Everything is measured in this run, in this process, on the same synthetic JSONL, and
printed as ratios against the sampler (speed is never asserted in a test):

  sample      `sample_source` over the file, one process (what `tracestrata sample --jobs 1` does)
  evaluator   `source_evaluator_design` over the same file: strata counted inside and outside the
              filter, the evaluator's picks (column batches; records only for the picked traces)
  hashes      Langfuse's SHA-256 sampling values of every id, against the sampler's keyed hash

    python bench/bench_evaluator.py            # 500,000 traces
    python bench/bench_evaluator.py --quick    # 50,000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from tracestrata.connectors.files.source import FilesTraceSource
from tracestrata.evaluators.design import source_evaluator_design
from tracestrata.evaluators.sampling_value import sampling_values
from tracestrata.sampling.hashing import hash_ids, hash_key
from tracestrata.policy.parse import parse_policy
from tracestrata.sampling.sources import sample_source
from tracestrata.synthetic import generate_traces

POLICY = parse_policy(
    {
        "seed": "bench",
        "strata": [{"field": "metadata.intent", "top": 8}, {"field": "latency_ms", "edges": [1000, 3000, 10000]}],
        "targets": {"default": 200},
        "failure": {"multiplier": 4, "signals": [{"name": "error", "field": "status", "equals": "error"}]},
        "evaluator": [{"name": "correct", "rate": 0.05, "hashes": "observation",
                       "filter": [{"field": "metadata.intent", "not_equals": "billing"}]}],
    },
    source="bench",
)


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, CPU seconds of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=500_000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 50_000 if args.quick else args.n
    start = datetime(2026, 1, 1, tzinfo=UTC)
    records = list(generate_traces(n, start=start, end=start + timedelta(days=1), seed=0))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "traces.jsonl"
        path.write_bytes(b"\n".join(orjson.dumps(r.to_json()) for r in records) + b"\n")
        sampled, s_wall, s_cpu = timed(lambda: sample_source(FilesTraceSource(path), POLICY, None))
        built, e_wall, e_cpu = timed(
            lambda: source_evaluator_design(FilesTraceSource(path), POLICY, POLICY.evaluators[0])
        )
    ids = [r.span_id or r.id for r in records]
    _, k_wall, k_cpu = timed(lambda: hash_ids(ids, hash_key("bench")))
    _, v_wall, v_cpu = timed(lambda: sampling_values(ids))
    picked = sum(c.sampled for c in built.design.cells)
    print(f"{n:,} traces; sample picks {len(sampled.selected):,}; the evaluator picks {picked:,} of "
          f"{built.scope.in_filter:,} filtered")
    print(f"sample (one process)   wall {s_wall:7.3f} s  cpu {s_cpu:7.3f} s  ({n / s_cpu:,.0f} traces/cpu-s)")
    print(f"evaluator design       wall {e_wall:7.3f} s  cpu {e_cpu:7.3f} s  evaluator/sample = {e_cpu / s_cpu:.2f}x cpu")
    print(f"keyed hash (sampler)   wall {k_wall:7.3f} s  cpu {k_cpu:7.3f} s")
    print(f"SHA-256 values         wall {v_wall:7.3f} s  cpu {v_cpu:7.3f} s  sha256/keyed = {v_cpu / max(k_cpu, 1e-9):.2f}x cpu")


if __name__ == "__main__":
    main()
