"""Sample a source's parts in several processes, then merge their sketches exactly.

The bottom-k sketches of disjoint parts merge into the sketch of their union
(`Sketch.merge`). So the sample does not depend on how many processes read the
source: `--jobs 4` picks exactly the traces that `--jobs 1` picks (tested).

A source that can be split offers `partitions(count)`, which returns picklable
part descriptors in source order, and `iter_column_batches(window, fields,
part=...)`. Errors keep the sequential meaning:

- The first bad line in source order is the one reported.
- With `skip_bad`, the bad lines of every part are counted.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any, Protocol

from tracestrata.policy import Policy
from tracestrata.protocols import Window
from tracestrata.record import TraceRecord
from tracestrata.samplers import ColumnBatchLike, SampleResult, Sketch, gc_paused


class PartitionedSource(Protocol):
    skip_bad: bool
    bad_lines: int
    first_bad: Exception | None

    def partitions(self, count: int) -> Sequence[Any]: ...

    def iter_column_batches(
        self, window: Window | None, fields: Sequence[str], *, part: Any = None
    ) -> Iterator[ColumnBatchLike]: ...


@dataclass(slots=True)
class _PartOutcome:
    sketch: Sketch
    convert: Callable[[Any], TraceRecord] | None
    bad_lines: int
    first_bad: Exception | None


def available_cpus() -> int:
    """CPUs this process may run on (the affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def sample_parts(
    source: PartitionedSource,
    policy: Policy,
    window: Window | None,
    parts: Sequence[Any],
    *,
    jobs: int,
    boost_collected: Mapping[str, int] | None = None,
    progress: Callable[[int], None] | None = None,
) -> SampleResult:
    """Sample every part in a pool of `jobs` processes and merge the sketches in part order.

    `progress(n)` is called in this process with the bytes read since the last call.
    The source's `bad_lines` and `first_bad` are updated as if it had been read here.
    """
    context = _context()
    counter = context.Value("q", 0)
    tasks = [(source, policy, window, dict(boost_collected or {}), part) for part in parts]
    outcomes: list[_PartOutcome] = []
    reported = 0
    with context.Pool(min(jobs, len(parts)), initializer=_share_counter, initargs=(counter,)) as pool:
        results = pool.imap(_sample_part, tasks)  # in part order: the first error in source order wins
        while len(outcomes) < len(tasks):
            try:
                outcomes.append(results.next(timeout=0.25))
            except multiprocessing.TimeoutError:
                pass
            if progress is not None:
                done = counter.value
                progress(done - reported)
                reported = done
    merged = reduce(Sketch.merge, (o.sketch for o in outcomes))
    source.bad_lines += sum(o.bad_lines for o in outcomes)
    if source.first_bad is None:
        source.first_bad = next((o.first_bad for o in outcomes if o.first_bad is not None), None)
    convert = next((o.convert for o in outcomes if o.convert is not None), None)
    return merged.result(convert)


def _context() -> Any:
    """fork where the platform has it (the workers inherit the loaded modules), else spawn."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


_COUNTER: Any = None


def _share_counter(counter: Any) -> None:
    """Worker start-up: the byte counter, and Ctrl-C left to the parent, which stops the pool
    (so an interrupt gives the CLI's one line, not a traceback per worker)."""
    global _COUNTER
    _COUNTER = counter
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _sample_part(task: tuple[PartitionedSource, Policy, Window | None, dict[str, int], Any]) -> _PartOutcome:
    source, policy, window, boost_collected, part = task
    source.bad_lines, source.first_bad = 0, None
    sketch = Sketch(policy, boost_collected=boost_collected)
    convert = None
    with gc_paused():
        for batch in source.iter_column_batches(window, policy.fields(), part=part):
            convert = batch.record
            if len(batch.ids):
                sketch.add_columns(batch.ids, batch.columns, batch.refs)
            if _COUNTER is not None:
                with _COUNTER.get_lock():
                    _COUNTER.value += int(getattr(batch, "bytes_read", 0))
    return _PartOutcome(sketch, convert, source.bad_lines, source.first_bad)


__all__ = ["PartitionedSource", "available_cpus", "sample_parts"]
