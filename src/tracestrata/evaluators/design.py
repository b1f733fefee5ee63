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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tracestrata.design import ALL, Cell, CellKind, Design, Unit, cell_id
from tracestrata.estimate.evaluator import EvaluatorScope, StratumScope
from tracestrata.estimate.report import ReportWarning
from tracestrata.protocols import ColumnSource, TraceSource, Window, iter_chunks
from tracestrata.record import JSONValue, TraceRecord
from tracestrata.columns import DictColumn, StringColumn
from tracestrata.sampling.dedupe import DuplicateFilter
from tracestrata.evaluators.sampling_value import sampled_mask, sampling_values
from tracestrata.policy.evaluators import Evaluator, HashTarget
from tracestrata.sampling.hashing import hash_ids, hash_key
from tracestrata.policy.model import Policy
from tracestrata.policy.signals import column_values
from tracestrata.sampling.sources import ALL_TIME, bad_input
from tracestrata.policy.strata import fold, record_column, stratum_key, top_values

BATCH = 8192
Labels = tuple[str, ...]  # a trace's label per dimension, before or after the `top` folds


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
    tally = _Tally(policy, evaluator)
    for chunk in iter_chunks(records, BATCH):
        tally.add([r.id for r in chunk], {path: record_column(chunk, path) for path in tally.fields}, chunk.__getitem__)
    return tally.result()


def source_evaluator_design(
    source: TraceSource | ColumnSource, policy: Policy, evaluator: Evaluator, window: Window | None = None
) -> EvaluatorDesign:
    """`evaluator_design` over `window` (None: everything) of a trace source: the pull counts the strata.

    A source that hands over column batches is read that way (only the fields the policy,
    the filter and the hash read; a record is built only for the traces the evaluator picked)."""
    if not isinstance(source, ColumnSource):
        records = source.iter_traces(window or ALL_TIME, metadata_keys=evaluator_metadata_keys(policy, evaluator))
        return evaluator_design(records, policy, evaluator)
    tally = _Tally(policy, evaluator)
    for batch in source.iter_column_batches(window, tally.fields):
        tally.add(
            _as_list(batch.ids),
            {path: _as_list(batch.columns[path]) for path in tally.fields},
            lambda i, batch=batch: batch.record(batch.refs[i]),
        )
    return tally.result()


def report_evaluator_design(
    source: TraceSource | ColumnSource, policy: Policy, name: str, window: Window | None, *, source_label: str
) -> tuple[EvaluatorDesign, list[ReportWarning]]:
    """`source_evaluator_design` of the evaluator `name` declares in `policy`, and what a report
    must say about it: the malformed trace lines a `--skip-bad` source skipped (`source_label` names it)."""
    built = source_evaluator_design(source, policy, policy.evaluator(name), window)
    bad, _ = bad_input(source)
    if not bad:
        return built, []
    return built, [ReportWarning(
        "bad_trace_lines", f"{bad} malformed trace lines in {source_label} were skipped (--skip-bad); the "
        "strata are counted without them", {"count": bad, "source": source_label},
    )]


class _Tally:
    """The one pass: counts per raw label combination (all traces, and inside the filter) and
    the picked traces; repeated ids dropped as the sampler drops them."""

    def __init__(self, policy: Policy, evaluator: Evaluator) -> None:
        self.policy, self.evaluator = policy, evaluator
        hashed = () if evaluator.hashes is HashTarget.TRACE else (evaluator.hashes.field,)
        self.fields = tuple(dict.fromkeys((*policy.dimensions, *evaluator.fields(), *hashed)))
        self.labelers = [d.labeler() for d in policy.strata]
        self.key = hash_key(policy.seed)
        self.repeats = DuplicateFilter()
        self.everyone: Counter[Labels] = Counter()
        self.kept: Counter[Labels] = Counter()
        self.picked: list[tuple[TraceRecord, Labels, float]] = []
        self.without_id = 0

    def add(
        self, ids: list[str], columns: Mapping[str, Sequence[JSONValue]], record_at: Callable[[int], TraceRecord]
    ) -> None:
        """One batch: trace ids, the `fields` columns as value lists, and row -> its record."""
        fresh = self.repeats.keep(hash_ids(ids, self.key), ids)
        keep = list(range(len(ids))) if fresh is None else np.flatnonzero(fresh).tolist()
        labels = self._labels(columns, keep)
        self.everyone.update(labels)
        inside = np.ones(len(keep), dtype=bool)
        for condition in self.evaluator.filter:  # Langfuse ANDs its filter rows
            inside &= np.asarray(condition.evaluate([columns[condition.field][i] for i in keep]), dtype=bool)
        hashed = ids if self.evaluator.hashes is HashTarget.TRACE else columns[self.evaluator.hashes.field]
        targets = [hashed[i] for i in keep]
        has_id = np.fromiter((isinstance(t, str) and t != "" for t in targets), dtype=bool, count=len(keep))
        self.without_id += int((inside & ~has_id).sum())
        candidates = np.flatnonzero(inside & has_id)
        self.kept.update(labels[j] for j in candidates.tolist())
        values = sampling_values([targets[j] for j in candidates.tolist()])
        chosen = sampled_mask(values, self.evaluator.rate)
        for j, value in zip(candidates[chosen].tolist(), values[chosen].tolist(), strict=True):
            self.picked.append((record_at(keep[j]), labels[j], value))

    def _labels(self, columns: Mapping[str, Sequence[JSONValue]], keep: list[int]) -> list[Labels]:
        """Each kept row's labels before any `top` fold."""
        if not self.policy.strata:
            return [()] * len(keep)
        per_dimension = [
            [labeler(columns[d.field][i]) for i in keep]
            for d, labeler in zip(self.policy.strata, self.labelers, strict=True)
        ]
        return list(zip(*per_dimension, strict=True))

    def result(self) -> EvaluatorDesign:
        """Fold the labels over the whole input, then one cell per stratum the filter reaches."""
        folded = _folder(self.policy, self.everyone)
        population: Counter[Labels] = Counter()
        in_filter: Counter[Labels] = Counter()
        for labels, n in self.everyone.items():
            population[folded(labels)] += n
        for labels, n in self.kept.items():
            in_filter[folded(labels)] += n
        sampled = Counter(folded(labels) for _, labels, _ in self.picked)
        dimensions = self.policy.dimensions
        cells = tuple(
            Cell(_cell(labels), _key(labels), dict(zip(dimensions, labels, strict=True)), CellKind.NORMAL,
                 in_filter[labels], sampled[labels])
            for labels in sorted(in_filter) if in_filter[labels] > 0
        )
        units = tuple(
            Unit(record.id, _cell(folded(labels)),
                 {**record.to_json(), "stratum": _key(folded(labels)), "sampling_value": value})
            for record, labels, value in self.picked
        )
        e = self.evaluator
        scope = EvaluatorScope(
            e.name, e.rate, e.hashes.value, e.describe_filter(), sum(population.values()),
            tuple(StratumScope(_key(labels), population[labels], in_filter[labels]) for labels in sorted(population)),
            self.without_id,
        )
        return EvaluatorDesign(Design(cells, units), scope)


def _as_list(column: Sequence[JSONValue] | np.ndarray | StringColumn | DictColumn) -> list[JSONValue]:
    """A batch column (a list, a numpy array with NaN for missing, a String/DictColumn) as Python values."""
    if isinstance(column, np.ndarray):
        return list(column_values(column))
    if isinstance(column, StringColumn | DictColumn):
        return column.tolist()
    return list(column)


def _folder(policy: Policy, everyone: Counter[Labels]) -> Callable[[Labels], Labels]:
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


def _key(labels: Labels) -> str:
    return stratum_key(labels) if labels else ALL


def _cell(labels: Labels) -> str:
    return cell_id(_key(labels), CellKind.NORMAL)


__all__ = [
    "EvaluatorDesign",
    "evaluator_design",
    "evaluator_metadata_keys",
    "report_evaluator_design",
    "source_evaluator_design",
]
