"""Read a source's parts in several processes, then combine what each part gave, exactly.

- Sampling: the bottom-k sketches of disjoint parts merge into the sketch of their
  union (`Sketch.merge`). So the sample does not depend on how many processes read
  the source: `--jobs 4` picks exactly the traces that `--jobs 1` picks (tested).
- Counting for `plan`: the tallies of raw labels add up, and `top` folds happen after.

A source that can be split offers `partitions(count)`, which returns picklable part
descriptors in source order, and `iter_column_batches(window, fields, part=...)`.
Errors keep the sequential meaning:

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
from multiprocessing.context import BaseContext
from multiprocessing.sharedctypes import Synchronized
from typing import Protocol, TypeVar

import numpy as np

from tracestrata.protocols import (
    ColumnBatch,
    ColumnSource,
    CountsBytes,
    Partitioned,
    SkipsBadInput,
    Window,
)
from tracestrata.record import TraceRecord
from tracestrata.sampling.dedupe import DEFAULT_WINDOW, DuplicateFilter
from tracestrata.policy.model import Policy
from tracestrata.sampling.sample_result import SampleResult
from tracestrata.sampling.sketch import Sketch
from tracestrata.sampling.samplers import gc_paused

T = TypeVar("T")
Task = TypeVar("Task")
Convert = Callable[[object], TraceRecord]
"""A source's payload -> record function (`ColumnBatch.record`)."""
PartSketch = tuple[Sketch, Convert | None, np.ndarray, np.ndarray]
"""A part's sketch, its payload -> record function, and the first and last hashes it saw."""


class PartitionedSource(ColumnSource, Partitioned, SkipsBadInput, Protocol):
    """What `sketch_parts` reads: column batches of parts, skipping bad lines or not."""


@dataclass(slots=True)
class _PartOutcome:
    value: object
    bad_lines: int
    first_bad: Exception | None


@dataclass(frozen=True, slots=True)
class _After:
    """A part to read again, remembering `seen`: the hashes of the traces read before it."""

    part: object  # a source's part descriptor (`Partitioned.partitions`), opaque here
    seen: np.ndarray


def available_cpus() -> int:
    """CPUs this process may run on (the affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def sample_parts(
    source: PartitionedSource,
    policy: Policy,
    window: Window | None,
    parts: Sequence[object],
    *,
    jobs: int,
    boost_collected: Mapping[str, int] | None = None,
    progress: Callable[[int], None] | None = None,
) -> SampleResult:
    """Sample every part in a pool of `jobs` processes and merge the sketches in part order.

    `progress(n)` is called in this process with the bytes read since the last call.
    The source's `bad_lines` and `first_bad` are updated as if it had been read here.
    """
    merged, convert = sketch_parts(source, policy, window, parts, jobs=jobs, boost_collected=boost_collected, progress=progress)
    return merged.result(convert)


def sketch_parts(
    source: PartitionedSource,
    policy: Policy,
    window: Window | None,
    parts: Sequence[object],
    *,
    jobs: int,
    boost_collected: Mapping[str, int] | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[Sketch, Convert | None]:
    """The sketch of every part, made in a pool of `jobs` processes and merged in part order,
    and the parts' payload -> record function. `plan` counts with it (zero targets)."""
    task = (policy, window, dict(boost_collected or {}))
    outcomes = map_parts(_sketch_part, task, source, parts, jobs=jobs, progress=progress)
    again = _repeated_across(outcomes)
    if again:  # read those parts again, remembering what was read before each (bad lines counted once)
        counted = source.bad_lines, source.first_bad
        redone = map_parts(_sketch_part, task, source, [_After(parts[i], seen) for i, seen in again], jobs=jobs)
        source.bad_lines, source.first_bad = counted
        for (i, _), outcome in zip(again, redone, strict=True):
            outcomes[i] = outcome
    merged = reduce(Sketch.merge, (sketch for sketch, _, _, _ in outcomes))
    convert = next((convert for _, convert, _, _ in outcomes if convert is not None), None)
    return merged, convert


def _repeated_across(outcomes: Sequence[PartSketch]) -> list[tuple[int, np.ndarray]]:
    """(part number, hashes read before it) for each part that repeats an id of the parts before it.

    One process remembers the last `DEFAULT_WINDOW` distinct hashes across every part
    (`tracestrata.sampling.dedupe`); a part read alone remembers only its own. So each part
    reports the first and the last hashes it remembered, and a part whose first ones meet
    the window before it is sketched again with that window: the repeats `--jobs 1` drops
    are dropped, and a part without one (the common case) is read once.
    """
    before = DuplicateFilter(DEFAULT_WINDOW)
    again = []
    for i, (_, _, head, tail) in enumerate(outcomes):
        if before.holds_any(head):
            again.append((i, before.recent()))
        before.seed(tail)
    return again


def map_parts(
    work: Callable[[Task, PartitionedSource, object], T],
    task: Task,
    source: PartitionedSource,
    parts: Sequence[object],
    *,
    jobs: int,
    progress: Callable[[int], None] | None = None,
) -> list[T]:
    """`work(task, source, part)` for every part in a pool of `jobs` processes, in part order.

    `work` is a module-level function (the workers find it by name). It reads its part
    with `source.iter_column_batches(..., part=part)` wrapped in `batches_read`, so the
    bytes read show as progress here; what it returns must pickle.
    """
    context = _context()
    counter = context.Value("q", 0)
    tasks = [(work, task, source, part) for part in parts]
    outcomes: list[_PartOutcome] = []
    reported = 0
    with context.Pool(min(jobs, len(parts)), initializer=_start_worker, initargs=(counter,)) as pool:
        results = pool.imap(_run_part, tasks)  # in part order: the first error in source order wins
        while len(outcomes) < len(tasks):
            try:
                outcomes.append(results.next(timeout=0.25))
            except multiprocessing.TimeoutError:
                pass
            if progress is not None:
                done = counter.value
                progress(done - reported)
                reported = done
    source.bad_lines += sum(o.bad_lines for o in outcomes)
    if source.first_bad is None:
        source.first_bad = next((o.first_bad for o in outcomes if o.first_bad is not None), None)
    return [o.value for o in outcomes]


def batches_read(batches: Iterator[ColumnBatch]) -> Iterator[ColumnBatch]:
    """Pass a part's batches through, adding their bytes to the parent's progress counter."""
    for batch in batches:
        yield batch
        if _COUNTER is not None and isinstance(batch, CountsBytes):
            with _COUNTER.get_lock():
                _COUNTER.value += batch.bytes_read


def _context() -> BaseContext:
    """fork where the platform has it (the workers inherit the loaded modules), else spawn."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


_COUNTER: Synchronized[int] | None = None


def _start_worker(counter: Synchronized[int]) -> None:
    """Worker start-up: the byte counter, and Ctrl-C left to the parent, which stops the pool
    (so an interrupt gives the CLI's one line, not a traceback per worker)."""
    global _COUNTER
    _COUNTER = counter
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_part(job: tuple[Callable[[object, PartitionedSource, object], object], object, PartitionedSource, object]) -> _PartOutcome:
    work, task, source, part = job
    source.bad_lines, source.first_bad = 0, None
    with gc_paused():
        value = work(task, source, part)
    return _PartOutcome(value, source.bad_lines, source.first_bad)


def _sketch_part(task: tuple[Policy, Window | None, dict[str, int]], source: PartitionedSource, part: object) -> PartSketch:
    """A part's sketch, its payload -> record function, and the first and last hashes it saw.

    `part` may be an `_After`: the part read again after the hashes read before it."""
    policy, window, boost_collected = task
    part, seen = (part.part, part.seen) if isinstance(part, _After) else (part, None)
    sketch = Sketch(policy, boost_collected=boost_collected, seen=seen)
    convert = sketch.add_column_batches(batches_read(source.iter_column_batches(window, policy.fields(), part=part)))
    return sketch, convert, sketch.repeats.head(), sketch.repeats.recent()


__all__ = ["PartitionedSource", "available_cpus", "batches_read", "map_parts", "sample_parts", "sketch_parts"]
