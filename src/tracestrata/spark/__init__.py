"""Sample a Spark DataFrame of traces where it lives: the same sample as one machine draws.

    from tracestrata.policy.parse import load_policy
    from tracestrata.spark import sample_dataframe

    df = spark.read.parquet("s3://bucket/langfuse-export/2026/06/01/")
    result = sample_dataframe(df, load_policy("policy.toml"), columns={"id": "trace_id"})

How: every partition feeds its Arrow batches (`mapInArrow`) into the keyed bottom-k
sketch that `tracestrata sample` uses, and returns the sketch's state (bounded by the
targets: at most a cell's target of candidates per raw label combination, never the
data). The states merge pairwise in a `treeReduce`; the bottom-k of a union is the
bottom-k of the bottom-k's, and `top` folds are made after the merge on the exact
global counts, so the sample, its inclusion probabilities and its cells are those of
the files path for the same policy, seed and traces, under any partitioning (tested).

Needs `pip install '.[spark]'` from a checkout on the driver and the executors (pyspark and
pyarrow; tracestrata itself must be importable on the executors). pyspark is imported
only when a function here runs. `tracestrata spark-sample` is the command line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

from tracestrata.errors import InputError
from tracestrata.protocols import Window
from tracestrata.policy.model import Policy
from tracestrata.sampling.sample_result import SampleResult
from tracestrata.sampling.sketch import Sketch

if TYPE_CHECKING:  # pyspark is the optional `spark` extra: loaded only when a DataFrame is sampled
    from pyspark.sql import Column, DataFrame, Row

    from tracestrata.spark.partitions import Position


def sample_dataframe(
    df: DataFrame,
    policy: Policy,
    window: Window | None = None,
    *,
    columns: Mapping[str, str] | None = None,
    boost_collected: Mapping[str, int] | None = None,
    where: str | None = None,
) -> SampleResult:
    """Sample the rows of a Spark DataFrame (one row per trace) in one distributed pass.

    `window` keeps the traces with `start <= timestamp < end`. `columns` maps a field path
    (or `id`, `timestamp`) to a Spark SQL expression (see `tracestrata.spark.projection`).
    `boost_collected` is what boosts collected in earlier runs. `where` names the data in
    errors. A row without a trace id or a timestamp raises `InputError`.
    """
    from tracestrata.spark.session import read_errors

    with read_errors(where):
        return _sample(df, policy, window, columns, boost_collected, where)


def _sample(
    df: DataFrame,
    policy: Policy,
    window: Window | None,
    columns: Mapping[str, str] | None,
    boost_collected: Mapping[str, int] | None,
    where: str | None,
) -> SampleResult:
    from tracestrata.spark.partitions import STATE_SCHEMA, PartitionTask, merge_outcomes, record_of, sketch_partition
    from tracestrata.spark.projection import project

    projected = project(df, policy.fields(), window, columns)
    if _has_repeats(projected):  # rare: read once more, with each row's place in the source, and kept
        from pyspark import StorageLevel

        projected = project(df, policy.fields(), window, columns, source_order=True).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        first, repeats = _first_occurrences(projected, window) if projected.is_cached else ({}, 0)
        task = PartitionTask(policy, window, {k: int(v) for k, v in (boost_collected or {}).items()}, first or None)
        outcomes = projected.mapInArrow(partial(sketch_partition, task), STATE_SCHEMA).rdd.map(_outcome)
        try:
            state, error = outcomes.treeReduce(partial(merge_outcomes, policy))
        except ValueError as exc:  # a DataFrame with no partitions: nothing to sample
            if "empty" not in str(exc).lower():
                raise
            return Sketch(policy, boost_collected=task.boost_collected).result(record_of)
    finally:
        if projected.is_cached:
            projected.unpersist()
    if error is not None:
        raise InputError(error, path=where)
    from tracestrata.spark.partitions import decode_state

    result = decode_state(policy, bytes(state)).result(record_of)
    return replace(result, duplicates=result.duplicates + repeats) if repeats else result


#: Repeated trace ids the driver resolves; more means the data needs deduplicating first.
MAX_REPEATED_IDS = 200_000  # each task carries their first positions


def _has_repeats(projected: DataFrame) -> bool:
    """Whether a trace id may occur more than once: one `GROUP BY` of 64-bit hashes of the ids
    (8 bytes a row to shuffle; a collision only sends the run to the exact check)."""
    from pyspark.sql import functions as F

    from tracestrata.spark.partitions import ID

    return bool(_repeated(projected, F.xxhash64(ID)).limit(1).collect())


def _repeated(projected: DataFrame, key: Column) -> DataFrame:
    """The values of `key` (over rows with an id) that occur more than once, as one column `key`."""
    from pyspark.sql import functions as F

    from tracestrata.spark.partitions import ID

    keyed = projected.where(F.col(ID).isNotNull()).select(key.alias("key"))
    return keyed.groupBy("key").count().where(F.col("count") > 1).select("key")


def _first_occurrences(projected: DataFrame, window: Window | None) -> tuple[dict[str, Position], int]:
    """({repeated id: where it first occurs in the window}, how many later occurrences are in it).

    `projected` is kept (persisted) with each row's file and split, so this pass and the
    sketch's see the same partitions in the same order; only the rows of repeated ids
    leave the executors.
    """
    from pyspark.sql import functions as F

    from tracestrata.spark.partitions import BLOCK, FILE, FIRST_SCHEMA, ID, TIMESTAMP, first_occurrences

    repeated_rows = _repeated(projected, F.col(ID)).limit(MAX_REPEATED_IDS + 1).collect()
    if not repeated_rows:
        return {}, 0
    if len(repeated_rows) > MAX_REPEATED_IDS:
        raise InputError(
            f"more than {MAX_REPEATED_IDS:,} trace ids occur more than once: drop the repeats first "
            "(df.dropDuplicates(['id'])) or sample with tracestrata sample"
        )
    repeated = frozenset(str(row[0]) for row in repeated_rows)
    located = (
        projected.select(ID, TIMESTAMP, FILE, BLOCK)
        .mapInArrow(partial(first_occurrences, window, repeated), FIRST_SCHEMA)
        .collect()
    )
    positions: dict[str, list[tuple[str, int, int, int, int]]] = {}
    for row in located:
        positions.setdefault(row.id, []).append((row.file, row.block, row.part, row.pos, row.task))
    first = {key: min(found) for key, found in positions.items() if len(found) > 1}
    return first, sum(len(found) - 1 for found in positions.values())


def _outcome(row: Row) -> tuple[bytes | None, str | None]:
    return (bytes(row.state) if row.state is not None else None), row.error


__all__ = ["sample_dataframe"]
