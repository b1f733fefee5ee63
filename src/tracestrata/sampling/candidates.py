"""The sketch's memory: per (raw labels, cell) group, its count and its bottom candidates.

Each group keeps a count, its proxy totals and its candidates with the smallest
(hash, id), up to a bound no cell can exceed: the largest target of any stratum the
group can land in (a failure or normal cell never takes more than its stratum's
target), or the boost's remaining `collect`. The bottom-k of a union is the bottom-k of
the union of bottom-k's, so stores merge exactly (`CandidateStore.merge_from`), fold
exactly (`fold`: `top` folds rare labels into `(other)`), and travel as plain data
(`to_state` / `from_state`: the format `--jobs` and Spark send between processes).

A repeated trace id is never a second candidate: `CandidateGroup.offer` keeps the one
held first and says how many repeats it dropped, so the caller corrects its counts.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypedDict

import numpy as np

from tracestrata.columns import picker
from tracestrata.sampling.labels import GroupKey, Labels
from tracestrata.policy.model import Policy
from tracestrata.policy.strata import MISSING, OTHER, fold, stratum_of, top_values

_HASH_MAX = 2**64 - 1
ProxySums = list[list[int]]
"""Per policy proxy: [n, fixed-point sum, fixed-point sum of squares] (`tracestrata.sampling.proxies`)."""


@dataclass(slots=True)
class CandidateGroup:
    """One (raw labels, cell) group: its count and its bottom candidates by (hash, id).

    Candidates are merged in on every offer, so the cut (`ceiling()`) is always the
    tightest known and a dropped candidate is freed at once. Deferring the merges saves
    ~10% CPU on a long stream, but the candidates it keeps alive longer pin freed
    memory and made the peak grow with N (measured: 84 -> 117 MB from 1M to 10M).
    """

    bound: int
    count: int = 0
    hashes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))
    ids: list[str] = field(default_factory=list)
    masks: list[int] = field(default_factory=list)
    payloads: list[object] = field(default_factory=list)
    proxy: ProxySums = field(default_factory=list)
    sizes: list[float] = field(default_factory=list)  # per candidate, under `[sampling] weight` (keys are ranks)

    def copy(self) -> CandidateGroup:
        return CandidateGroup(
            self.bound, self.count, self.hashes, list(self.ids), list(self.masks), list(self.payloads),
            [list(t) for t in self.proxy], list(self.sizes),
        )

    def add_proxy(self, totals: Sequence[Sequence[int]]) -> None:
        """Add proxy totals (n, sum, sumsq per proxy): totals merge by addition, exactly."""
        if not self.proxy:
            self.proxy = [list(t) for t in totals]
            return
        for mine, theirs in zip(self.proxy, totals, strict=True):
            mine[0] += theirs[0]
            mine[1] += theirs[1]
            mine[2] += theirs[2]

    def widen(self, bound: int) -> None:
        """Keep up to `bound` candidates from now on (never fewer than before)."""
        self.bound = max(self.bound, bound)

    def ceiling(self) -> int:
        """No hash above this can enter the bottom-`bound` any more."""
        return int(self.hashes[-1]) if len(self.ids) >= self.bound else _HASH_MAX

    def offer(
        self,
        hashes: np.ndarray,
        ids: list[str],
        masks: list[int],
        payloads: list[object],
        sizes: list[float] | None = None,
    ) -> int:
        """Merge candidates (any order) and keep the `bound` smallest by (hash, id).

        An id already among the candidates is a repeated trace: the one held first
        stays. Returns how many repeats were dropped (the caller corrects its counts).
        """
        if self.bound == 0 or not ids:
            return 0
        if len(self.ids) >= self.bound and hashes.min() > self.hashes[-1]:
            return 0
        all_hashes = np.concatenate([self.hashes, hashes])
        all_ids = self.ids + ids
        order = np.argsort(all_hashes, kind="stable")
        repeats = 0
        if (np.diff(all_hashes[order]) == 0).any():  # equal hashes (or a repeated id): the id decides
            order = np.lexsort((np.array(all_ids), all_hashes))  # stable: the candidate held first leads
            same = np.flatnonzero(np.diff(all_hashes[order]) == 0) + 1
            dup = [i for i in same.tolist() if all_ids[order[i]] == all_ids[order[i - 1]]]
            if dup:
                order, repeats = np.delete(order, dup), len(dup)
        order = order[: self.bound].tolist()
        all_masks = self.masks + masks
        all_payloads = self.payloads + payloads
        self.hashes = all_hashes[order]
        self.ids = list(map(all_ids.__getitem__, order))
        self.masks = list(map(all_masks.__getitem__, order))
        self.payloads = list(map(all_payloads.__getitem__, order))
        if sizes is not None:
            self.sizes = list(map((self.sizes + sizes).__getitem__, order))
        return repeats

    def absorb(self, other: CandidateGroup, weighted: bool) -> int:
        """Add another group of the same key (count, proxy totals, candidates); returns the repeats dropped."""
        self.count += other.count
        if other.proxy:
            self.add_proxy(other.proxy)
        repeats = self.offer(other.hashes, list(other.ids), list(other.masks), list(other.payloads),
                             list(other.sizes) if weighted else None)
        self.count -= repeats
        return repeats


RawPartSums = tuple[Labels, int, ProxySums]
"""A folded group's part: its raw labels, count and proxy totals before the fold."""


@dataclass
class Folded:
    """`Sketch.folded()`: groups keyed (folded labels, cell code), their raw parts, and the totals."""

    groups: dict[GroupKey, CandidateGroup]
    parts: dict[GroupKey, list[RawPartSums]]
    raw_of: dict[str, Labels]  # candidate id -> labels before the fold, where they differ
    population: int
    duplicates: int


class BatchRows:
    """One batch as the store reads it: each row's hash (or rank) key, id, mask, payload and size."""

    __slots__ = ("ids", "masks", "order", "payloads", "sizes")

    def __init__(
        self,
        order: np.ndarray,
        ids: Sequence[str],
        masks: np.ndarray,
        payloads: Sequence[object],
        sizes: np.ndarray | None,
    ) -> None:
        self.order, self.masks, self.sizes = order, masks, sizes
        self.ids: Callable[[list[int]], list[str]] = picker(ids)
        self.payloads: Callable[[list[int]], list[object]] = picker(payloads)


class GroupState(TypedDict, total=False):
    """One group in `SketchState` (plain data: MessagePack and pickle carry it)."""

    labels: list[str]
    cell: int
    bound: int
    count: int
    hashes: bytes  # little-endian uint64
    ids: list[str]
    masks: list[int]
    payloads: list[object]
    proxy: ProxySums
    sizes: list[float]  # only under `[sampling] weight`


class SketchState(TypedDict, total=False):
    """`Sketch.to_state()`: what another process or machine needs to merge a sketch (plain data)."""

    format: int
    policy_digest: str
    boost_before: dict[str, int]
    population: int
    duplicates: int
    absent: list[str]  # watched fields no trace had (absent from states of older versions)
    groups: list[GroupState]


def check_state(state: SketchState, format: int, digest: str) -> None:
    """`ValueError` unless `state` has this `format` and was made with the policy of this `digest`."""
    if state.get("format") != format:
        raise ValueError(f"unsupported sketch state format {state.get('format')!r}")
    if state.get("policy_digest") != digest:
        raise ValueError("the sketch state was made with another policy")


class CandidateStore:
    """Every group of a sketch, with the bounds the policy's targets and boosts set."""

    def __init__(self, policy: Policy, remaining: Sequence[int]) -> None:
        """`remaining`: per boost, how much of its `collect` is left (its cells' bound)."""
        self._strata = policy.strata
        self._targets = policy.targets
        self._remaining = list(remaining)
        self._weighted = policy.weight is not None
        self.groups: dict[GroupKey, CandidateGroup] = {}
        self._bounds: dict[Labels, int] = {}

    def add_batch(
        self,
        group_of: np.ndarray,
        key_of: Callable[[int], GroupKey],
        rows: BatchRows,
        fresh: np.ndarray | None,
        proxy: list[ProxySums] | None,
    ) -> int:
        """Count a batch's rows into their groups and offer each group the rows that may enter
        its bottom-`bound`. Rows outside `fresh` (repeated ids) are neither counted nor offered.
        Returns how many repeats the candidates caught (already taken off the group counts)."""
        order, repeats = rows.order, 0
        for group, picked in self._candidates(group_of, order, key_of, fresh, proxy):
            take = group.bound
            row_hashes = order[picked]
            if len(picked) > take:  # the take smallest; ties at the cut stay, (hash, id) decides in `offer`
                cut = np.partition(row_hashes, take - 1)[take - 1]
                keep = row_hashes <= cut
                picked, row_hashes = picked[keep], row_hashes[keep]
            ceiling = group.ceiling()
            if ceiling < _HASH_MAX:  # full: only hashes up to its largest can still enter
                keep = row_hashes <= ceiling
                picked, row_hashes = picked[keep], row_hashes[keep]
            if len(picked) == 0:
                continue
            chosen = picked.tolist()
            sizes = None if rows.sizes is None else rows.sizes[picked].tolist()
            dropped = group.offer(row_hashes, rows.ids(chosen), rows.masks[picked].tolist(), rows.payloads(chosen), sizes)
            group.count -= dropped
            repeats += dropped
        return repeats

    def _candidates(
        self,
        group_of: np.ndarray,
        hashes: np.ndarray,
        key_of: Callable[[int], GroupKey],
        fresh: np.ndarray | None,
        proxy: list[ProxySums] | None,
    ) -> Iterator[tuple[CandidateGroup, np.ndarray]]:
        """Count every group's rows, and yield per group the rows that may enter its bottom-`bound`.

        The rows yielded are a superset, cut exactly by the caller. Hashes look uniform,
        so the bound-th smallest of a group's c hashes lies near bound/c of the range:
        one vectorized pass drops every row above a generous estimate of it (and above
        the largest candidate of a full group). A group with fewer rows under its
        estimate than it may take is read again in full, so this is exact for any ids.
        """
        if fresh is None:
            counts = np.bincount(group_of)
        else:
            counts = np.bincount(group_of[fresh], minlength=int(group_of.max()) + 1)
        limits = np.zeros(len(counts), dtype=np.uint64)
        plan: list[tuple[int, CandidateGroup, bool]] = []
        for code in np.flatnonzero(counts).tolist():
            group = self.group(*key_of(code))
            count = int(counts[code])
            group.count += count
            if proxy is not None:
                group.add_proxy(proxy[code])
            if group.bound > 0:
                limit, estimated = _hash_limit(group, count)
                limits[code] = limit
                plan.append((code, group, estimated))
        if not plan:
            return
        below = hashes <= limits[group_of]
        rows = np.flatnonzero(below if fresh is None else below & fresh)
        row_groups = group_of[rows]
        order = np.argsort(row_groups, kind="stable")
        rows, row_groups = rows[order], row_groups[order]
        wanted = [code for code, _, _ in plan]
        starts = np.searchsorted(row_groups, wanted, side="left").tolist()
        ends = np.searchsorted(row_groups, wanted, side="right").tolist()
        for (code, group, estimated), start, end in zip(plan, starts, ends, strict=True):
            if estimated and end - start < group.bound:  # the estimate was too low: every row
                yield group, np.flatnonzero(group_of == code if fresh is None else (group_of == code) & fresh)
            else:
                yield group, rows[start:end]

    def group(self, labels: Labels, cell: int) -> CandidateGroup:
        group = self.groups.get((labels, cell))
        if group is None:
            bound = self._remaining[cell] if cell < len(self._remaining) else self._bound(labels)
            if self._weighted and bound:  # one more candidate: the (k+1)-th rank is the threshold
                bound += 1
            group = self.groups[(labels, cell)] = CandidateGroup(bound)
        return group

    def _bound(self, labels: Labels) -> int:
        """The largest target of any stratum these raw labels can fold into."""
        bound = self._bounds.get(labels)
        if bound is None:
            options = [
                (label, OTHER) if d.folds and label not in (MISSING, OTHER) else (label,)
                for d, label in zip(self._strata, labels, strict=True)
            ]
            bound = max(self._targets.for_stratum(stratum_of(variant)) for variant in itertools.product(*options))
            self._bounds[labels] = bound
        return bound

    def merge_from(self, other: CandidateStore) -> int:
        """Add every group of another store (a disjoint partition); returns the repeats dropped."""
        repeats = 0
        for key, group in other.groups.items():
            target = self.groups.get(key)
            if target is None:
                target = self.groups[key] = CandidateGroup(group.bound)
            repeats += target.absorb(group, self._weighted)
        return repeats

    def label_counts(self) -> list[Counter[str]]:
        """Per dimension, the count of each raw label."""
        counts: list[Counter[str]] = [Counter() for _ in self._strata]
        for (labels, _cell), group in self.groups.items():
            for i, label in enumerate(labels):
                counts[i][label] += group.count
        return counts

    def fold(self, population: int, duplicates: int) -> Folded:
        """The groups after the `top` folds, with the counts of the whole input."""
        counts = self.label_counts()
        kept = [top_values(counts[i], d.top) if d.top is not None else None for i, d in enumerate(self._strata)]
        final: dict[GroupKey, CandidateGroup] = {}
        parts: dict[GroupKey, list[RawPartSums]] = {}
        raw_of: dict[str, Labels] = {}
        for (labels, cell), group in sorted(self.groups.items(), key=lambda item: item[0]):
            folded = tuple(fold(label, k) if k is not None else label for label, k in zip(labels, kept, strict=True))
            if folded != labels:
                raw_of.update(dict.fromkeys(map(str, group.ids), labels))
            target = final.get((folded, cell))
            if target is None:  # its candidates are already its bottom-`bound`, in (hash, id) order
                final[(folded, cell)] = group.copy()
                parts[(folded, cell)] = [(labels, group.count, group.proxy)]
                continue
            target.widen(group.bound)
            repeats = target.absorb(group, self._weighted)
            parts[(folded, cell)].append((labels, group.count - repeats, group.proxy))
            population, duplicates = population - repeats, duplicates + repeats
        return Folded(final, parts, raw_of, population, duplicates)

    def to_state(self) -> list[GroupState]:
        """Every group as plain data; hashes as little-endian uint64 bytes, payloads as they are."""
        return [
            {
                "labels": list(labels),
                "cell": cell,
                "bound": group.bound,
                "count": group.count,
                "hashes": group.hashes.astype("<u8").tobytes(),
                "ids": [str(i) for i in group.ids],
                "masks": [int(m) for m in group.masks],
                "payloads": list(group.payloads),
                "proxy": [list(t) for t in group.proxy],
                **({"sizes": list(group.sizes)} if self._weighted else {}),  # type: ignore[typeddict-item]
            }
            for (labels, cell), group in self.groups.items()
        ]

    def load_state(self, groups: Sequence[GroupState]) -> None:
        """Take the groups `to_state()` described."""
        for g in groups:
            hashes = np.frombuffer(g["hashes"], dtype="<u8").astype(np.uint64)
            group = CandidateGroup(int(g["bound"]), int(g["count"]), hashes, list(g["ids"]), list(g["masks"]))
            group.payloads = list(g["payloads"])
            group.proxy = [[int(x) for x in t] for t in g.get("proxy", [])]
            group.sizes = [float(x) for x in g.get("sizes", [])]
            self.groups[(tuple(g["labels"]), int(g["cell"]))] = group


def _hash_limit(group: CandidateGroup, count: int) -> tuple[int, bool]:
    """(largest hash a row of a batch of `count` rows may need to enter `group`, whether estimated).

    The estimate is bound/count of the hash range plus a margin of 4 standard
    deviations and 16, so fewer than `bound` of the rows fall below it only with
    vanishing probability (for hashes that look uniform); `_candidates` checks that
    and then reads the whole group, so the sample never depends on the estimate.
    """
    ceiling = group.ceiling()
    if count <= group.bound:
        return ceiling, False
    share = (group.bound + 4 * math.sqrt(group.bound) + 16) / count
    if share >= 1.0:
        return ceiling, False
    estimate = int(share * 2.0**64)
    return (estimate, True) if estimate < ceiling else (ceiling, False)


__all__ = ["BatchRows", "CandidateGroup", "CandidateStore", "Folded", "GroupState", "ProxySums", "SketchState", "check_state"]
