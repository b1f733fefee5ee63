"""The baseline to beat: the seed article's sampler, re-implemented in our own words.

What the seed does, step by step, kept as it is so the comparison is fair:
every JSONL line goes through `json.loads` into a dict and the whole window is
held in memory; `sample_window` appends every trace to its stratum's list, splits
each list into failures and non-failures (calling the failure test twice per
trace, as the seed does), gives failures `int(target * m / (1 + m))` of the
stratum's target and draws both parts with `random.Random.sample`.

It reads the same policy as `bench/policy.toml`: strata = `metadata.intent` x a
latency bucket, failure = error status, refusal, or a thumbs-down score. Only the
stdlib is used, so it runs from a fresh clone.

    python bench/seed_baseline.py FILE [--target 200] [--multiplier 4]   # prints a JSON line
"""

from __future__ import annotations

import argparse
import bisect
import json
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

LATENCY_EDGES: tuple[float, ...] = (1000.0, 3000.0, 10000.0)
LATENCY_LABELS: tuple[str, ...] = ("<1000", "1000–3000", "3000–10000", ">=10000")


def latency_bucket(value: Any) -> str:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return "(missing)"
    return LATENCY_LABELS[bisect.bisect_right(LATENCY_EDGES, value)]


def stratum_of(trace: Mapping[str, Any]) -> str:
    """`<intent> | <latency bucket>`, the same key our policy in bench/policy.toml builds."""
    intent = (trace.get("metadata") or {}).get("intent") or "(missing)"
    return f"{intent} | {latency_bucket(trace.get('latency_ms'))}"


def is_failure(trace: Mapping[str, Any]) -> bool:
    if trace.get("status") == "error":
        return True
    if (trace.get("metadata") or {}).get("refusal") is True:
        return True
    return (trace.get("scores") or {}).get("user_feedback") == 0


def sample_window(
    traces: Iterable[dict[str, Any]],
    strata_fn: Callable[[dict[str, Any]], str],
    target_for: Callable[[str], int],
    failure_fn: Callable[[dict[str, Any]], bool],
    multiplier: float,
    rng: random.Random,
) -> list[dict[str, Any]]:
    """The seed's `sample_window`: bucket everything, then per stratum draw failures and the rest."""
    buckets: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for trace in traces:
        buckets[strata_fn(trace)].append(trace)
    chosen: list[dict[str, Any]] = []
    for stratum, members in buckets.items():
        target = target_for(stratum)
        if not target or not members:
            continue
        rest = [t for t in members if not failure_fn(t)]
        failed = [t for t in members if failure_fn(t)]
        k_failed = min(len(failed), int(target * multiplier / (1 + multiplier)))
        k_rest = min(len(rest), target - k_failed)
        chosen.extend(rng.sample(failed, k_failed))
        chosen.extend(rng.sample(rest, k_rest))
    return chosen


def read_jsonl(path: str) -> list[dict[str, Any]]:
    """One `json.loads` per line, everything kept in memory (the seed's input shape)."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def run(path: str, *, target: int = 200, multiplier: float = 4.0, seed: int = 0) -> list[dict[str, Any]]:
    traces = read_jsonl(path)
    return sample_window(traces, stratum_of, lambda _s: target, is_failure, multiplier, random.Random(seed))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--target", type=int, default=200)
    parser.add_argument("--multiplier", type=float, default=4.0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    chosen = run(args.path, target=args.target, multiplier=args.multiplier)
    print(json.dumps({"selected": len(chosen), "seconds": time.perf_counter() - started}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
