"""Sample a Spark DataFrame of traces where it lives: the same sample as one machine draws.

    from tracestrata.sampling.policy import load_policy
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
from functools import partial
from typing import Any

from tracestrata.errors import InputError
from tracestrata.protocols import Window
from tracestrata.sampling.policy import Policy
from tracestrata.sampling.samplers import SampleResult, Sketch


def sample_dataframe(
    df: Any,
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
    from tracestrata.spark.partitions import STATE_SCHEMA, PartitionTask, merge_outcomes, record_of, sketch_partition
    from tracestrata.spark.projection import project

    projected = project(df, policy.fields(), window, columns)
    task = PartitionTask(policy, window, {k: int(v) for k, v in (boost_collected or {}).items()})
    outcomes = projected.mapInArrow(partial(sketch_partition, task), STATE_SCHEMA).rdd.map(_outcome)
    try:
        state, error = outcomes.treeReduce(partial(merge_outcomes, policy))
    except ValueError as exc:  # a DataFrame with no partitions: nothing to sample
        if "empty" not in str(exc).lower():
            raise
        return Sketch(policy, boost_collected=task.boost_collected).result(record_of)
    if error is not None:
        raise InputError(error, path=where)
    from tracestrata.spark.partitions import decode_state

    return decode_state(policy, bytes(state)).result(record_of)


def _outcome(row: Any) -> tuple[bytes | None, str | None]:
    return (bytes(row.state) if row.state is not None else None), row.error


__all__ = ["sample_dataframe"]
