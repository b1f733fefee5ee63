"""Sampling and counting a trace source, whatever it can do.

`sample_source` and `count_source` are what `sample`, `plan` and `sync` call. They
look at the capabilities a source declares (the Protocols in `tracestrata.protocols`)
and take the fastest route it offers; every route gives the same sample or counts:

- `Partitioned` + `ColumnSource`, with `jobs` > 1: parts read by several processes,
  sketches merged exactly (`tracestrata.sampling.parallel`);
- `ColumnSource`: only the fields the policy reads, in column batches (a `CompletesRecords`
  source then reads the selected traces' records; a `GroupCounter` counts by itself);
- any `TraceSource`: whole records, streamed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from tracestrata.protocols import (
    ColumnSource,
    CompletesRecords,
    GroupCounter,
    GroupCountRequest,
    Partitioned,
    Sized,
    SkipsBadInput,
    TraceSource,
    Window,
    bytes_of,
)
from tracestrata.sampling.counts import StratumCounts, count_fields, counts_from_tally, tally_weighted
from tracestrata.sampling.counting import counting_policy, counting_sketch, rate_errors, stratum_counts
from tracestrata.sampling.field_check import FieldPresence, FieldWatch
from tracestrata.policy.model import Policy
from tracestrata.sampling.samplers import gc_paused, sample_column_batches, sample_records
from tracestrata.sampling.sample_result import SampleResult

#: Parts worth a process of their own: `jobs=None` means one per CPU, at most this many.
AUTO_JOBS_MAX = 8
#: The window of a source read without --since/--until.
ALL_TIME = Window(datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC))

Progress = Callable[[int], None]


def source_parts(source: object, jobs: int | None) -> tuple[list[Any], int]:
    """(parts, processes) for reading `source` with `jobs` processes (None: one per CPU).

    One process (and no parts) when the source cannot be split or is too small to gain.
    """
    if jobs == 1 or not (isinstance(source, Partitioned) and isinstance(source, ColumnSource)):
        return [], 1
    from tracestrata.sampling.parallel import available_cpus

    jobs = jobs or min(available_cpus(), AUTO_JOBS_MAX)
    parts = list(source.partitions(jobs)) if jobs > 1 else []
    processes = min(jobs, len(parts))
    return (parts, processes) if processes > 1 else ([], 1)


def sample_source(
    source: TraceSource | ColumnSource,
    policy: Policy,
    window: Window | None,
    *,
    boost_collected: Mapping[str, int] | None = None,
    jobs: int | None = 1,
    progress: Progress | None = None,
) -> SampleResult:
    """The sample of `window` (None: everything) of `source` under `policy`.

    `jobs` processes read the parts of a source that can be split (None: one per CPU);
    the sample is the same for any number. `progress(n)` gets the bytes read since its
    last call, where the source counts bytes.
    """
    boost_collected = boost_collected or {}
    if not isinstance(source, ColumnSource):
        records = source.iter_traces(window or ALL_TIME, metadata_keys=policy.metadata_keys())
        return sample_records(records, policy, boost_collected=boost_collected)
    parts, processes = source_parts(source, jobs)
    if processes > 1:
        from tracestrata.sampling.parallel import sample_parts

        return sample_parts(
            source, policy, window, parts, jobs=processes, boost_collected=boost_collected, progress=progress
        )  # type: ignore[arg-type]
    result = sample_column_batches(
        source.iter_column_batches(window, policy.fields()),
        policy,
        boost_collected=boost_collected,
        progress=(lambda batch: progress(bytes_of(batch))) if progress is not None else None,
    )
    if isinstance(source, CompletesRecords):
        result = _completed(source, result, window)
    return result


def _completed(source: CompletesRecords, result: SampleResult, window: Window | None) -> SampleResult:
    """The result with each selected trace's full record, read by the source at the end."""
    if not result.selected:
        return result
    full = source.complete_records([s.record for s in result.selected], window)
    return replace(result, selected=[replace(s, record=full[s.record.id]) for s in result.selected])


def count_source(
    source: TraceSource | ColumnSource,
    policy: Policy,
    window: Window | None,
    *,
    rate_field: str | None = None,
    jobs: int | None = 1,
    progress: Progress | None = None,
    on_repeats: Callable[[int], None] | None = None,
    watch: FieldWatch | None = None,
) -> list[StratumCounts]:
    """Population and failure counts per stratum of `window` of `source`, keyed as the sampler keys them:
    counted by the sampling sketch itself with zero targets (`tracestrata.sampling.counting`),
    unless the source counts by itself (`GroupCounter`: a backend's counters, DuckDB's `GROUP BY`).

    A repeated trace id counts once, as in sampling;
    `on_repeats(n)` hears how many were dropped when there were any. `watch` sees the
    columns or records read, or the groups a source counted by itself.
    """
    if watch is not None:
        watch.start(policy)
    if isinstance(source, GroupCounter):
        counted = _count_groups(source, window, policy, rate_field, watch.presence if watch else None)
        if counted is not None:
            return counted
    if not isinstance(source, ColumnSource):
        records = source.iter_traces(window or ALL_TIME, metadata_keys=policy.metadata_keys())
        sketch = counting_sketch(policy, rate_field)
        with gc_paused(), rate_errors(rate_field):
            sketch.add_records(watch.records(records) if watch else records)
    else:
        parts, processes = source_parts(source, jobs)
        if processes > 1:
            from tracestrata.sampling.parallel import sketch_parts

            with rate_errors(rate_field):
                sketch, _ = sketch_parts(
                    source, counting_policy(policy, rate_field), window, parts, jobs=processes, progress=progress
                )  # type: ignore[arg-type]
        else:
            sketch = counting_sketch(policy, rate_field)
            with gc_paused(), rate_errors(rate_field):
                sketch.add_column_batches(
                    source.iter_column_batches(window, sketch.fields),
                    progress=(lambda batch: progress(bytes_of(batch))) if progress is not None else None,
                )
        if watch is not None:
            watch.presence.merge(sketch.presence)
    if sketch.duplicates and on_repeats is not None:
        on_repeats(sketch.duplicates)
    return stratum_counts(sketch, rate_field)


def _count_groups(
    source: GroupCounter, window: Window | None, policy: Policy, rate_field: str | None, presence: FieldPresence | None
) -> list[StratumCounts] | None:
    """Strata counts from the groups a source counted itself (None: it could not); `presence`
    learns which of its watched fields any counted trace had."""
    fields = count_fields(policy, rate_field)
    groups = source.count_groups(window, GroupCountRequest(fields, _bucketed_fields(policy, rate_field)))
    if groups is None:
        return None
    columns = {path: list(groups.columns[path]) for path in fields}
    if presence is not None:
        counted = [n > 0 for n in groups.counts]
        presence.observe({p: list(itertools.compress(c, counted)) for p, c in columns.items()}, sum(groups.counts))
    return counts_from_tally(tally_weighted(columns, list(groups.counts), policy, rate_field=rate_field), policy)


def _bucketed_fields(policy: Policy, rate_field: str | None) -> dict[str, tuple[float, ...]]:
    """Fields read only by one numeric-bucket dimension: a counter may group them by bucket, not value."""
    readers: dict[str, int] = {}
    for path in [d.field for d in policy.strata] + [s.condition.field for s in policy.signals] + ([rate_field] if rate_field else []):
        readers[path] = readers.get(path, 0) + 1
    return {d.field: d.edges for d in policy.strata if d.edges is not None and readers[d.field] == 1}


def total_bytes(source: object) -> int | None:
    """What `source` will read, in bytes, where it knows."""
    return source.total_bytes() if isinstance(source, Sized) else None


def bad_input(source: object) -> tuple[int, Exception | None]:
    """(malformed lines skipped, the first of them) for a source that skips bad input."""
    if isinstance(source, SkipsBadInput):
        return int(source.bad_lines), source.first_bad
    return 0, None


def skip_bad_input(source: object, skip: bool) -> None:
    """Tell a source that can skip malformed input whether to (others stop at the first)."""
    if isinstance(source, SkipsBadInput):
        source.skip_bad = skip


__all__: Sequence[str] = [
    "ALL_TIME",
    "AUTO_JOBS_MAX",
    "bad_input",
    "count_source",
    "sample_source",
    "skip_bad_input",
    "source_parts",
    "total_bytes",
]
