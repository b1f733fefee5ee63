"""Decide the sample from a folded sketch: how many each cell takes, which, and their weights.

The integer allocation decides k per cell (`tracestrata.sampling.cell_allocation`: the
stratum's target split between failure and normal cells, a boost's remaining `collect`
over its cells), and each cell takes its k candidates with the smallest keys: a simple
random sample without replacement of size k, inclusion probability exactly k/N, or
under `[sampling] weight` priority sampling with pi = min(1, w tau)
(`tracestrata.sampling.weights`). Then the review subsample is drawn
(`tracestrata.sampling.review_draw`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from tracestrata.design import Cell, CellKind, RawPart, cell_id
from tracestrata.record import TraceRecord
from tracestrata.sampling.candidates import CandidateGroup, Folded, RawPartSums
from tracestrata.sampling.cell_allocation import allocate_boost, allocate_stratum
from tracestrata.sampling.labels import GroupKey, Labels
from tracestrata.policy.model import Policy
from tracestrata.sampling.proxies import cell_totals, unit_proxies
from tracestrata.sampling.review_draw import draw_review
from tracestrata.sampling.sample_result import SampledTrace, SampleResult, boost_cell_id
from tracestrata.sampling.signal_masks import CellCodes
from tracestrata.policy.strata import stratum_of
from tracestrata.sampling.weights import inclusion_probabilities

_KIND_ORDER = {CellKind.BOOST: 0, CellKind.FAILURE: 1, CellKind.NORMAL: 2}
RecordsOf = Callable[[list[object]], list[TraceRecord]]
"""Turns a cell's selected payloads into their records, in one call."""


class Decision:
    """The policy's allocation, probabilities, weights and review draw, applied to a folded sketch."""

    def __init__(self, policy: Policy, boost_before: Mapping[str, int], remaining: Sequence[int]) -> None:
        """`boost_before`: each boost's count collected before this sample; `remaining`: what is left of its `collect`."""
        self._policy = policy
        self._codes = CellCodes(len(policy.boosts))
        self._boost_before = dict(boost_before)
        self._remaining = list(remaining)
        self._fired: dict[int, tuple[str, ...]] = {}

    def decide(self, folded: Folded, records_of: RecordsOf, absent: tuple[str, ...]) -> SampleResult:
        """Allocate, pick and weigh every cell of `folded`; `absent` are the watched fields no trace had."""
        take, collected = self._allocate(folded)
        selected: list[SampledTrace] = []
        cells: list[Cell] = []
        for (labels, cell), group in sorted(folded.groups.items(), key=lambda item: (item[0][0], item[0][1])):
            k = take[(labels, cell)]
            described = self._cell(labels, cell, group, k, folded.parts[(labels, cell)])
            cells.append(described)
            if k > len(group.ids):  # pragma: no cover - the bounds make this impossible
                raise AssertionError(f"cell {described.id}: {k} to take but only {len(group.ids)} candidates")
            if k:
                boost = self._policy.boosts[cell].name if described.kind is CellKind.BOOST else None
                selected.extend(self._selected(described, boost, group, k, records_of, folded.raw_of))
        if self._policy.review is not None:
            selected = draw_review(selected, self._policy, folded.population)
        cells.sort(key=lambda c: (c.stratum, _KIND_ORDER[c.kind], c.id))
        return SampleResult(selected, cells, collected, folded.population, folded.duplicates, absent)

    def _allocate(self, folded: Folded) -> tuple[dict[GroupKey, int], dict[str, int]]:
        """k per group, and each boost's collected count after this sample."""
        policy, codes, final = self._policy, self._codes, folded.groups
        take: dict[GroupKey, int] = {}
        strata = sorted({labels for labels, _ in final})
        for labels in strata:
            n_f = final[(labels, codes.failure)].count if (labels, codes.failure) in final else 0
            n_n = final[(labels, codes.normal)].count if (labels, codes.normal) in final else 0
            target = policy.targets.for_window(stratum_of(labels), folded.population)
            k_f, k_n = allocate_stratum(target, n_f, n_n, policy.multiplier)
            if n_f:
                take[(labels, codes.failure)] = k_f
            if n_n:
                take[(labels, codes.normal)] = k_n
        collected = dict(self._boost_before)
        for b, boost in enumerate(policy.boosts):
            keys = [(labels, b) for labels in strata if (labels, b) in final]
            ks = allocate_boost(self._remaining[b], [final[k].count for k in keys])
            take.update(zip(keys, ks, strict=True))
            collected[boost.name] += sum(ks)
        return take, collected

    def _cell(self, labels: Labels, cell: int, group: CandidateGroup, k: int, parts: list[RawPartSums]) -> Cell:
        """The design's cell of a folded group that takes `k`."""
        policy = self._policy
        key = stratum_of(labels)
        kind = self._codes.kind(cell)
        cid = boost_cell_id(key, policy.boosts[cell].name) if kind is CellKind.BOOST else cell_id(key, kind)
        values = dict(zip(policy.dimensions, labels, strict=True))
        return Cell(cid, key, values, kind, group.count, k, proxy=cell_totals(policy.proxies, group.proxy),
                    raw=self._raw_parts(labels, parts))

    def _selected(
        self,
        cell: Cell,
        boost: str | None,
        group: CandidateGroup,
        k: int,
        records_of: RecordsOf,
        raw_of: Mapping[str, Labels],
    ) -> list[SampledTrace]:
        """The cell's k sampled traces with their probabilities and weights."""
        policy = self._policy
        names = [self._signals(mask) for mask in group.masks[:k]]
        records = records_of(group.payloads[:k])
        proxies = unit_proxies(policy.proxies, records)
        sizes: Sequence[float | None]
        if policy.weight is None:  # a simple random sample: k/N (its weight N/k, as always)
            probs, sizes = [k / group.count] * k, [None] * k
            weights = [group.count / k] * k
        else:  # priority sampling: pi = min(1, w tau), tau the (k+1)-th rank (`sampling.weights`)
            sizes = group.sizes[:k]
            probs = inclusion_probabilities(sizes, int(group.hashes[k]) if k < group.count else None)
            weights = [1.0 / p for p in probs]
        return [
            SampledTrace(record, cell.stratum, dict(cell.values), cell.id, cell.kind, bool(fired), fired, boost, p, w,
                         proxy, raw_values=self._raw_values(raw_of.get(str(record.id))), size=size)
            for record, fired, proxy, p, w, size in zip(records, names, proxies, probs, weights, sizes, strict=True)
        ]

    def _signals(self, mask: int) -> tuple[str, ...]:
        """The names of the signals set in `mask`."""
        fired = self._fired.get(mask)
        if fired is None:
            fired = self._fired[mask] = tuple(s.name for bit, s in enumerate(self._policy.signals) if mask >> bit & 1)
        return fired

    def _raw_parts(self, folded: Labels, parts: list[RawPartSums]) -> tuple[RawPart, ...]:
        """A cell's population by its labels before the fold; () when nothing was folded into it."""
        if all(labels == folded for labels, _, _ in parts):
            return ()
        dimensions, proxies = self._policy.dimensions, self._policy.proxies
        return tuple(
            RawPart(dict(zip(dimensions, labels, strict=True)), count, cell_totals(proxies, proxy))
            for labels, count, proxy in parts
        )

    def _raw_values(self, labels: Labels | None) -> dict[str, str] | None:
        return None if labels is None else dict(zip(self._policy.dimensions, labels, strict=True))


__all__ = ["Decision", "RecordsOf"]
