"""A window's traces and an `[[evaluator]]` -> the design of the scores that evaluator wrote.

One pass over the traces: each gets its stratum under the policy (the same labels and
`top` folds over the whole window as the sampler), the evaluator's filter, and
Langfuse's sampling value of the id the evaluator hashes. The design has one cell per
stratum the filter reaches (kind `normal`): population = the traces the filter keeps
there, sampled = those whose value is below the rate, i.e. exactly the traces the
evaluator judged. Why that design is estimated as stratified SRSWOR (conditioning on the
realised sample sizes) is in `tracestrata.estimate.evaluator`.

Memory: counts per label combination plus the picked traces (about `rate` of the
filtered ones); repeated trace ids are dropped as the sampler drops them
(`tracestrata.sampling.dedupe`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tracestrata.design import ALL, Cell, CellKind, Design, Unit, cell_id
from tracestrata.estimate.evaluator import EvaluatorScope, StratumScope
from tracestrata.protocols import TraceSource, Window, iter_chunks
from tracestrata.record import TraceRecord
from tracestrata.sampling.dedupe import DuplicateFilter
from tracestrata.sampling.evaluator_sampling import sampled_mask, sampling_values
from tracestrata.sampling.evaluators import Evaluator
from tracestrata.sampling.hashing import hash_ids, hash_key
from tracestrata.sampling.policy import Policy
from tracestrata.sampling.sources import ALL_TIME
from tracestrata.sampling.strata import fold, record_column, stratum_key, top_values

BATCH = 8192


@dataclass(frozen=True)
class EvaluatorDesign:
    """The evaluator's sample as a design, and what its filter reaches (for the report's warnings)."""

    design: Design
    scope: EvaluatorScope


def evaluator_metadata_keys(policy: Policy, evaluator: Evaluator) -> tuple[str, ...]:
    """The metadata keys a source must deliver: the policy's and the filter's."""
    own = {p.split(".")[1] for p in evaluator.fields() if p.startswith("metadata.")}
    return tuple(sorted(set(policy.metadata_keys()) | own))


def evaluator_design(records: Iterable[TraceRecord], policy: Policy, evaluator: Evaluator) -> EvaluatorDesign:
    """The design of `evaluator`'s scores over `records` (one window), stratified by `policy`."""
    labelers = [d.labeler() for d in policy.strata]
    key = hash_key(policy.seed)
    repeats = DuplicateFilter()
    everyone: Counter[tuple[str, ...]] = Counter()
    kept: Counter[tuple[str, ...]] = Counter()
    picked: list[tuple[TraceRecord, tuple[str, ...], float]] = []
    without_id = 0
    for chunk in iter_chunks(records, BATCH):
        fresh = repeats.keep(hash_ids([r.id for r in chunk], key), [r.id for r in chunk])
        if fresh is not None:
            chunk = [r for r, keep in zip(chunk, fresh.tolist(), strict=True) if keep]
        labels = _labels(chunk, policy, labelers)
        everyone.update(labels)
        inside = _filter_mask(chunk, evaluator)
        ids = record_column(chunk, evaluator.hashes.field)
        has_id = np.array([isinstance(i, str) and i != "" for i in ids], dtype=bool)
        without_id += int((inside & ~has_id).sum())
        inside &= has_id
        rows = np.flatnonzero(inside).tolist()
        kept.update(labels[i] for i in rows)
        values = sampling_values([ids[i] for i in rows])
        chosen = sampled_mask(values, evaluator.rate)
        for i, value in zip(np.asarray(rows, dtype=np.intp)[chosen].tolist(), values[chosen].tolist(), strict=True):
            picked.append((chunk[i], labels[i], value))
    folder = _folder(policy, everyone)
    return EvaluatorDesign(*_build(policy, evaluator, everyone, kept, picked, folder, without_id))


def source_evaluator_design(
    source: TraceSource, policy: Policy, evaluator: Evaluator, window: Window | None = None
) -> EvaluatorDesign:
    """`evaluator_design` over `window` (None: everything) of a trace source: the pull counts the strata."""
    records = source.iter_traces(window or ALL_TIME, metadata_keys=evaluator_metadata_keys(policy, evaluator))
    return evaluator_design(records, policy, evaluator)


def _labels(chunk: Sequence[TraceRecord], policy: Policy, labelers: Sequence[Any]) -> list[tuple[str, ...]]:
    """Every record's labels before any `top` fold, one tuple per record."""
    if not policy.strata:
        return [()] * len(chunk)
    columns = [list(map(labeler, record_column(chunk, d.field))) for d, labeler in zip(policy.strata, labelers,
                                                                                         strict=True)]
    return list(zip(*columns, strict=True))


def _filter_mask(chunk: Sequence[TraceRecord], evaluator: Evaluator) -> np.ndarray:
    """True where every condition of the evaluator's filter holds (Langfuse ANDs its filter)."""
    mask = np.ones(len(chunk), dtype=bool)
    for condition in evaluator.filter:
        mask &= np.asarray(condition.evaluate(record_column(chunk, condition.field)), dtype=bool)
    return mask


def _folder(policy: Policy, everyone: Counter[tuple[str, ...]]) -> Any:
    """raw labels -> stratum labels, with the `top` folds of the whole window (as the sampler folds)."""
    kept_values: list[frozenset[str] | None] = []
    for i, dim in enumerate(policy.strata):
        if dim.top is None:
            kept_values.append(None)
            continue
        counts: Counter[str] = Counter()
        for labels, n in everyone.items():
            counts[labels[i]] += n
        kept_values.append(top_values(counts, dim.top))

    def folded(labels: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(fold(label, k) if k is not None else label for label, k in zip(labels, kept_values, strict=True))

    return folded


def _build(
    policy: Policy,
    evaluator: Evaluator,
    everyone: Counter[tuple[str, ...]],
    kept: Counter[tuple[str, ...]],
    picked: list[tuple[TraceRecord, tuple[str, ...], float]],
    folded: Any,
    without_id: int,
) -> tuple[Design, EvaluatorScope]:
    population: Counter[tuple[str, ...]] = Counter()
    in_filter: Counter[tuple[str, ...]] = Counter()
    for labels, n in everyone.items():
        population[folded(labels)] += n
    for labels, n in kept.items():
        in_filter[folded(labels)] += n
    sampled: Counter[tuple[str, ...]] = Counter(folded(labels) for _, labels, _ in picked)
    cells = tuple(
        Cell(cell_id(_key(labels), CellKind.NORMAL), _key(labels), dict(zip(policy.dimensions, labels, strict=True)),
             CellKind.NORMAL, in_filter[labels], sampled[labels])
        for labels in sorted(in_filter) if in_filter[labels] > 0
    )
    units = tuple(
        Unit(record.id, cell_id(_key(folded(labels)), CellKind.NORMAL),
             {**record.to_json(), "stratum": _key(folded(labels)), "sampling_value": value})
        for record, labels, value in picked
    )
    scope = EvaluatorScope(
        evaluator.name, evaluator.rate, evaluator.hashes.value, evaluator.describe_filter(),
        sum(population.values()),
        tuple(StratumScope(_key(labels), population[labels], in_filter[labels]) for labels in sorted(population)),
        without_id,
    )
    return Design(cells, units), scope


def _key(labels: tuple[str, ...]) -> str:
    return stratum_key(labels) if labels else ALL


__all__ = ["EvaluatorDesign", "evaluator_design", "evaluator_metadata_keys", "source_evaluator_design"]
