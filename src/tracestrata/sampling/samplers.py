"""Stratified, failure-oversampled sampling by bottom-k on a keyed hash (see docs/design.md).

How it works, in one pass with memory bounded by the targets:

1. Every trace gets its raw stratum labels (before any `top` fold), its cell kind
   (the first active boost it matches, else failure if any signal fires, else
   normal) and its keyed 64-bit hash. Traces are grouped by (raw labels, cell).
2. Each group keeps a count and its candidates with the smallest (hash, id), up
   to a bound no cell can exceed: the largest target of any stratum the group
   can land in (a failure or normal cell never takes more than its stratum's
   target), or the boost's remaining `collect`.
3. At the end, `top` folds rare values into `(other)` using the exact counts,
   groups merge into their final cells (the bottom-k of a union is the bottom-k
   of the union of bottom-k's), the integer allocation decides k per cell, and
   each cell takes its k smallest hashes: a simple random sample without
   replacement of size k, inclusion probability exactly k/N.

So the result does not depend on batch boundaries or input order (streaming
equals batch), and two sketches of disjoint partitions merge (`Sketch.merge`) to
the sketch of their union. Memory: per (raw label combination, cell) at most
`bound` candidates; with `top` on a high-cardinality field this is the number of
distinct raw values times the bound (never more than the number of traces).

A repeated trace id is one unit: its first occurrence is kept, the repeats are
dropped before they are counted (`tracestrata.sampling.dedupe`, memory bounded by
a window of recent hashes) and counted in `SampleResult.duplicates`. A repeat the
window misses is still never a second candidate (`_Group.offer` keeps one per id
and the count is corrected).
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import math
import operator
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from itertools import repeat
from operator import attrgetter
from typing import Any

import numpy as np

from tracestrata.errors import ConfigError, InputError
from tracestrata.design import ALL, Cell, CellKind, Design, ProxyTotals, RawPart, Unit, cell_id, in_window
from tracestrata.protocols import ColumnBatch, iter_chunks
from tracestrata.record import TraceRecord, format_timestamp
from tracestrata.sampling.columns import DictColumn, StringColumn, encode
from tracestrata.sampling.dedupe import DEFAULT_WINDOW, DuplicateFilter, hashed_batches
from tracestrata.sampling.field_check import FieldPresence, watched_fields
from tracestrata.sampling.hashing import hash_ids, hash_key
from tracestrata.sampling.policy import DEFAULT_MAX_STRATA, Policy
from tracestrata.sampling.proxies import group_totals, proxy_values, to_totals
from tracestrata.sampling.signals import Condition, Operator, column_values
from tracestrata.sampling.strata import (
    MISSING,
    OTHER,
    bucket_labels,
    check_strata_count,
    fold,
    raw_getter,
    record_column,
    stratum_key,
    top_values,
)
from tracestrata.sampling.weights import inclusion_probabilities, rank_keys

_RECORD_ID = attrgetter("id")
BATCH_SIZE = 65_536
_KIND_ORDER = {CellKind.BOOST: 0, CellKind.FAILURE: 1, CellKind.NORMAL: 2}
_HASH_MAX = 2**64 - 1
SKETCH_STATE_FORMAT = 1  # `Sketch.to_state`; bump when its layout changes


@dataclass(frozen=True, slots=True)
class SampledTrace:
    record: TraceRecord
    stratum: str
    values: dict[str, str]
    cell: str
    kind: CellKind
    failure: bool
    signals: tuple[str, ...]
    boost: str | None
    inclusion_probability: float
    weight: float
    proxy: Mapping[str, float | None] = field(default_factory=dict)  # by proxy field path
    review: bool = False  # in the human-review subsample
    review_probability: float = 1.0  # of being reviewed, given sampled (1.0 without `[review]`)
    raw_values: Mapping[str, str] | None = None  # the labels before `top` folded them, when they differ
    size: float | None = None  # the trace's `[sampling] weight` (floored), when the policy has one

    def to_json(self) -> dict[str, Any]:
        """One `sample.jsonl` line: the record's JSON plus the design fields."""
        out = self.record.to_json()
        out.update(
            stratum=self.stratum,
            values=dict(self.values),
            cell=self.cell,
            kind=self.kind.value,
            failure=self.failure,
            signals=list(self.signals),
            boost=self.boost,
            inclusion_probability=self.inclusion_probability,
            weight=self.weight,
        )
        if self.review or self.review_probability < 1.0:  # a policy with `[review]`: every row says
            out.update(review=self.review, review_probability=self.review_probability)
        if self.size is not None:  # a weighted policy: pi differs inside a cell
            out["size"] = self.size
        return out

    def unit_attrs(self) -> dict[str, Any]:
        """What a report may group or compare by, kept with each sampled trace in the sync ledger."""
        record = self.record
        return {
            "stratum": self.stratum,
            **{str(k): v for k, v in self.values.items()},
            "failure": bool(self.failure),
            "boost": self.boost,
            "release": record.release,
            "version": record.version,
            "name": record.name,
            "tags": list(record.tags),
            "metadata": dict(record.metadata),  # so `report --ledger --compare metadata.x` finds its groups
            "timestamp": format_timestamp(record.timestamp),
            **{path: value for path, value in self.proxy.items()},  # by path: what `report --proxy` reads
            **(
                {"review": self.review, "review_probability": self.review_probability}
                if self.review or self.review_probability < 1.0
                else {}
            ),
            **({"raw_values": dict(self.raw_values)} if self.raw_values is not None else {}),
            **({"inclusion_probability": self.inclusion_probability} if self.size is not None else {}),
        }


@dataclass(frozen=True, slots=True)
class SampleResult:
    selected: list[SampledTrace]
    cells: list[Cell]
    boost_collected: dict[str, int]
    population: int = 0
    duplicates: int = 0  # repeated trace ids dropped (each trace counted once, its first occurrence kept)
    absent: tuple[str, ...] = ()  # signal and boost fields no trace had (`tracestrata.sampling.field_check`)

    def design(self, window: str | None = None) -> Design:
        """The design for estimators; `window` prefixes cell ids in multi-window designs."""
        cells = tuple(
            Cell(in_window(c.id, window), c.stratum, c.values, c.kind, c.population, c.sampled, window, c.proxy)
            for c in self.cells
        )
        units = tuple(
            Unit(s.record.id, in_window(s.cell, window), {"stratum": s.stratum, **s.values}, dict(s.proxy),
                 s.inclusion_probability if s.size is not None else None)
            for s in self.selected
        )
        return Design(cells, units)


def boost_cell_id(stratum: str, boost: str) -> str:
    """Boost cells carry the boost name: a stratum may hold several active boosts."""
    return f"{cell_id(stratum, CellKind.BOOST)}:{boost}"


# ---------------------------------------------------------------- allocation


def largest_remainder(expected: Sequence[float], total: int, caps: Sequence[int]) -> list[int]:
    """Integers summing to `total` (if the caps allow), each <= its cap, closest to `expected`.

    Ties in the fractional part go to the earlier entry, so the result is deterministic.
    """
    counts = [min(cap, math.floor(e + 1e-9)) for e, cap in zip(expected, caps, strict=True)]
    left = total - sum(counts)
    order = sorted(range(len(expected)), key=lambda i: (-(expected[i] - math.floor(expected[i] + 1e-9)), i))
    while left > 0:
        progressed = False
        for i in order:
            if left and counts[i] < caps[i]:
                counts[i] += 1
                left -= 1
                progressed = True
        if not progressed:
            break
    return counts


def allocate_stratum(target: int, failures: int, normals: int, multiplier: float) -> tuple[int, int]:
    """(k_failure, k_normal) for one stratum.

    Take everything when the stratum has at most `target` traces. Otherwise solve
    `N_n p + N_f min(1, m p) = target` for the non-failure rate p, round to integers
    summing to the target (largest remainder), then give every non-empty cell at
    least min(N_c, 2) so each cell is represented and has a variance.
    """
    if failures + normals <= target:
        return failures, normals
    if normals == 0:
        return target, 0
    if failures == 0:
        return 0, target
    p = target / (normals + multiplier * failures)
    if multiplier * p >= 1.0:
        expected = [float(failures), float(target - failures)]
    else:
        expected = [multiplier * p * failures, p * normals]
    k_f, k_n = largest_remainder(expected, target, [failures, normals])
    floor_f, floor_n = min(failures, 2), min(normals, 2)
    while k_f < floor_f and k_n > floor_n:
        k_f, k_n = k_f + 1, k_n - 1
    while k_n < floor_n and k_f > floor_f:
        k_f, k_n = k_f - 1, k_n + 1
    return k_f, k_n


def allocate_boost(remaining: int, populations: Sequence[int]) -> list[int]:
    """Split a boost's remaining `collect` across its cells: everything if it fits, else in
    proportion to population, each non-empty cell getting min(N, 2) first when that fits."""
    if sum(populations) <= remaining:
        return list(populations)
    floors = [min(n, 2) for n in populations]
    if sum(floors) > remaining:
        floors = [0] * len(populations)
    rest = remaining - sum(floors)
    spare = [n - f for n, f in zip(populations, floors, strict=True)]
    total = sum(spare)
    expected = [rest * s / total if total else 0.0 for s in spare]
    extra = largest_remainder(expected, rest, spare)
    return [f + e for f, e in zip(floors, extra, strict=True)]


# ---------------------------------------------------------------- the sketch


@dataclass(slots=True)
class _Group:
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
    payloads: list[Any] = field(default_factory=list)
    proxy: list[list[int]] = field(default_factory=list)  # per policy proxy: [n, fixed-point sum, sumsq]
    sizes: list[float] = field(default_factory=list)  # per candidate, under `[sampling] weight` (keys are ranks)

    def copy(self) -> _Group:
        return _Group(
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
        payloads: list[Any],
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


@dataclass
class Folded:
    """`Sketch.folded()`: groups keyed (folded labels, cell code), their raw parts, and the totals."""

    groups: dict[tuple[tuple[str, ...], int], _Group]
    parts: dict[tuple[tuple[str, ...], int], list[tuple[tuple[str, ...], int, list[list[int]]]]]
    raw_of: dict[str, tuple[str, ...]]
    population: int
    duplicates: int

    def __iter__(self) -> Iterator[Any]:
        return iter((self.groups, self.parts, self.raw_of, self.population, self.duplicates))


class Sketch:
    """Mergeable one-pass state of a sample: group counts, bottom candidates, label counts.

    Feed it with `add_records` (TraceRecords), `add_raw` (decoded trace JSON
    objects, the fast path) or `add_columns`; combine partitions with `merge`;
    decide the sample with `result`. Same policy and boost state on both sides
    of a merge, checked.
    """

    def __init__(
        self,
        policy: Policy,
        *,
        boost_collected: Mapping[str, int] | None = None,
        repeat_window: int = DEFAULT_WINDOW,
        seen: np.ndarray | None = None,
    ) -> None:
        """`repeat_window`: how many recent trace hashes it remembers to drop repeated ids (see `dedupe`);
        `seen`: the hashes of the traces read before this sketch's first (repeats of those are dropped)."""
        self.policy = policy
        self.boost_before = {b.name: int((boost_collected or {}).get(b.name, 0)) for b in policy.boosts}
        self.remaining = [max(0, b.collect - self.boost_before[b.name]) for b in policy.boosts]
        self.key = hash_key(policy.seed)
        self.fields = policy.fields()
        self.proxies = policy.proxies
        self.weighting = policy.weight
        self.n_boosts = len(policy.boosts)
        self.failure_code = self.n_boosts
        self.normal_code = self.n_boosts + 1
        self.groups: dict[tuple[tuple[str, ...], int], _Group] = {}
        self.population = 0
        self.duplicates = 0
        self._dedupe = DuplicateFilter(repeat_window)
        if seen is not None:
            self._dedupe.seed(seen)
        self._presence = FieldPresence(watched_fields(policy))
        self._labelers = [d.labeler() for d in policy.strata]
        self._edges = [np.asarray(d.edges, dtype=float) if d.edges is not None else None for d in policy.strata]
        self._vocab: list[dict[str, int]] = [{} for _ in policy.strata]
        self._names: list[list[str]] = [[] for _ in policy.strata]
        self._string_codes: list[dict[str, int]] = [{} for _ in policy.strata]
        self._bounds: dict[tuple[str, ...], int] = {}
        self._default_convert: Callable[[Any], Any] = _identity

    def __getstate__(self) -> dict[str, Any]:
        """What another process needs to merge this sketch: the policy and `to_state()`."""
        return {"policy": self.policy, "state": self.to_state()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        restored = Sketch.from_state(state["policy"], state["state"])
        self.__init__(restored.policy, boost_collected=restored.boost_before)  # type: ignore[misc]
        self.groups, self.population = restored.groups, restored.population
        self.duplicates, self._presence = restored.duplicates, restored._presence

    def to_state(self) -> dict[str, Any]:
        """The sketch as plain data (str, int, bytes, lists, dicts), to send to another process
        or machine and merge there: group counts and candidates, never the label caches.

        Hashes travel as little-endian uint64 bytes; payloads as they are, so the state is
        plain data when the payloads are (the Spark path stores each record's JSON bytes).
        `from_state(policy, state)` gives back a sketch that merges and decides exactly as
        this one.
        """
        return {
            "format": SKETCH_STATE_FORMAT,
            "policy_digest": self.policy.digest,
            "boost_before": dict(self.boost_before),
            "population": self.population,
            "duplicates": self.duplicates,
            "absent": list(self._presence.unseen),
            "groups": [
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
                    **({"sizes": list(group.sizes)} if self.weighting is not None else {}),
                }
                for (labels, cell), group in self.groups.items()
            ],
        }

    @classmethod
    def from_state(cls, policy: Policy, state: Mapping[str, Any]) -> Sketch:
        """The sketch `to_state()` described; `ValueError` if it was made for another policy."""
        if state.get("format") != SKETCH_STATE_FORMAT:
            raise ValueError(f"unsupported sketch state format {state.get('format')!r}")
        if state.get("policy_digest") != policy.digest:
            raise ValueError("the sketch state was made with another policy")
        sketch = cls(policy, boost_collected=state["boost_before"])
        sketch.population = int(state["population"])
        sketch.duplicates = int(state.get("duplicates", 0))
        if "absent" in state:  # older states did not watch fields: nothing is reported absent
            sketch._presence.unseen = dict.fromkeys(state["absent"])
            sketch._presence.observed = bool(sketch.population)
        for g in state["groups"]:
            hashes = np.frombuffer(g["hashes"], dtype="<u8").astype(np.uint64)
            group = _Group(int(g["bound"]), int(g["count"]), hashes, list(g["ids"]), list(g["masks"]))
            group.payloads = list(g["payloads"])
            group.proxy = [[int(x) for x in t] for t in g.get("proxy", [])]
            group.sizes = [float(x) for x in g.get("sizes", [])]
            sketch.groups[(tuple(g["labels"]), int(g["cell"]))] = group
        return sketch

    # -- feeding

    def add_records(self, records: Iterable[TraceRecord], *, batch_size: int = BATCH_SIZE) -> None:
        for chunk in iter_chunks(records, batch_size):
            columns = {path: record_column(chunk, path) for path in self.fields}
            self.add_columns(list(map(_RECORD_ID, chunk)), columns, chunk)

    def add_raw(self, rows: Sequence[Mapping[str, Any]], payloads: Sequence[Any] | None = None) -> None:
        """Decoded trace JSON objects (ids already validated); payloads default to the rows."""
        columns = {path: [g(row) for row in rows] for path, g in zip(self.fields, self._raw_getters(), strict=True)}
        if payloads is None:
            self._default_convert = TraceRecord.from_json
        self.add_columns([row["id"] for row in rows], columns, rows if payloads is None else payloads)

    def add_column_batches(
        self, batches: Iterable[ColumnBatch], *, progress: Callable[[Any], None] | None = None
    ) -> Callable[[Any], TraceRecord] | None:
        """Feed every batch; returns the batches' payload -> record function (None if there were none)."""
        convert: Callable[[Any], TraceRecord] | None = None
        try:
            for batch, hashes, fresh in hashed_batches(batches, self.key, self._dedupe):  # a batch ahead, in a thread
                convert = batch.record
                if hashes is not None:
                    self.add_columns(batch.ids, batch.columns, batch.refs, hashed=(hashes, fresh))
                if progress is not None:
                    progress(batch)
        except MemoryError:
            error = self._out_of_memory()
            if error is None:
                raise
            raise error from None
        return convert

    def _out_of_memory(self) -> ConfigError | None:
        """Memory ran out before `max_strata` stopped the strata: the one line naming the fix
        (None when the strata are few, so they are not the cause).

        Each stratum holds its candidates and their records (with a target of 2 and a value
        per trace, every trace), so a `max_strata` raised past what memory holds fails here.
        """
        policy = self.policy
        distinct = [len(names) for names in self._names]
        if not distinct or max(distinct) <= DEFAULT_MAX_STRATA:
            return None
        self.groups.clear()  # room to build the message
        widest = max(range(len(distinct)), key=distinct.__getitem__)
        return ConfigError(
            f"ran out of memory with '{policy.strata[widest].field}' at {distinct[widest]:,} distinct values "
            f"(max_strata = {policy.max_strata:,}): add `top = 20` to that [[strata]] table (the 20 most "
            f"frequent values, the rest in {OTHER}), cut it with `edges`, or lower max_strata",
            path=policy.source,
            field=f"strata[{widest}]",
        )

    def _raw_getters(self) -> list[Callable[[Any], Any]]:
        return [raw_getter(path) for path in self.fields]

    def add_columns(
        self, ids: Sequence[str] | StringColumn, columns: Mapping[str, Sequence[Any]], payloads: Sequence[Any],
        *, hashed: tuple[np.ndarray, np.ndarray | None] | None = None,
    ) -> None:
        """One batch: `columns[path][i]` is trace i's value of every field the policy reads.

        A column is a list, a numpy array, or a `StringColumn`/`DictColumn` (read as
        buffers, see `tracestrata.sampling.columns`); the ids a list, an array or a `StringColumn`.
        """
        n = len(ids)
        if n == 0:
            return
        # `hashed`: the ids' hashes and `_dedupe.keep` of them, already computed (`hashed_batches`)
        hashes, fresh = hashed if hashed is not None else (h := hash_ids(ids, self.key), self._dedupe.keep(h, ids))
        if fresh is not None:
            self.duplicates += n - int(fresh.sum())
        self.population += n if fresh is None else int(fresh.sum())
        columns = {path: encode(columns[path]) for path in self.fields}  # each string column once
        self._presence.observe(columns, n)
        sizes = None if self.weighting is None else self.weighting.sizes(columns[self.weighting.field])
        order = hashes if sizes is None else rank_keys(hashes, sizes)  # bottom-k on u/w instead of u
        codes = [self._dim_codes(i, columns[d.field], n) for i, d in enumerate(self.policy.strata)]
        self._check_strata()
        masks = self._signal_masks(columns, n)
        cells = self._cells(masks, columns)
        group_of, decode = self._group_codes(codes, cells)
        proxy = self._proxy_totals(columns, group_of, fresh)
        for group, rows in self._candidates(group_of, order, decode, fresh, proxy):
            take = group.bound
            row_hashes = order[rows]
            if len(rows) > take:  # the take smallest; ties at the cut stay, (hash, id) decides in `offer`
                cut = np.partition(row_hashes, take - 1)[take - 1]
                keep = row_hashes <= cut
                rows, row_hashes = rows[keep], row_hashes[keep]
            ceiling = group.ceiling()
            if ceiling < _HASH_MAX:  # full: only hashes up to its largest can still enter
                keep = row_hashes <= ceiling
                rows, row_hashes = rows[keep], row_hashes[keep]
            if len(rows) == 0:
                continue
            picked = rows.tolist()
            repeats = group.offer(row_hashes, _pick(ids, picked), masks[rows].tolist(), _pick(payloads, picked),
                                  None if sizes is None else sizes[rows].tolist())
            if repeats:
                group.count -= repeats
                self.population -= repeats
                self.duplicates += repeats
        self._check_strata()

    def _check_strata(self) -> None:
        """Stop before a high-cardinality dimension grows memory without bound (`max_strata`)."""
        policy = self.policy
        combinations = len(self.groups) // max(1, self.n_boosts + 2) if len(self.groups) > policy.max_strata else 0
        if combinations or any(len(names) > policy.max_strata for names in self._names):
            if combinations:
                combinations = len({labels for labels, _ in self.groups})
            distinct = [len(names) for names in self._names]
            check_strata_count(policy.strata, distinct, combinations, policy.max_strata, source=policy.source)

    def _proxy_totals(
        self, columns: Mapping[str, Sequence[Any]], group_of: np.ndarray, fresh: np.ndarray | None
    ) -> list[list[tuple[int, int, int]]] | None:
        """Per group code, per proxy: (n, fixed-point sum, sumsq) over this batch's fresh rows."""
        if not self.proxies:
            return None
        groups = int(group_of.max()) + 1 if len(group_of) else 0
        codes = group_of if fresh is None else group_of[fresh]
        per_proxy = []
        for path in self.proxies:
            values = proxy_values(columns[path], path)
            per_proxy.append(group_totals(values if fresh is None else values[fresh], codes, groups))
        return [list(t) for t in zip(*per_proxy, strict=True)]

    def _signal_masks(self, columns: Mapping[str, Sequence[Any]], n: int) -> np.ndarray:
        """Bit `b` set when signal `b` fires (uint8 for up to 8 signals: less memory traffic)."""
        signals = self.policy.signals
        masks = np.zeros(n, dtype=np.uint8 if len(signals) <= 8 else np.int64)
        for bit, signal in enumerate(signals):
            hits = _evaluate(signal.condition, columns[signal.condition.field])
            masks |= hits.astype(masks.dtype) << masks.dtype.type(bit)
        return masks

    def _cells(self, masks: np.ndarray, columns: Mapping[str, Sequence[Any]]) -> np.ndarray:
        """Cell code per row: the first matching active boost, else failure, else normal."""
        cells = np.where(masks != 0, self.failure_code, self.normal_code).astype(np.int64)
        for b in reversed(range(self.n_boosts)):  # the first matching active boost wins
            if self.remaining[b] <= 0:
                continue
            condition = self.policy.boosts[b].condition
            cells[_evaluate(condition, columns[condition.field])] = b
        return cells

    def _group_codes(
        self, codes: list[np.ndarray], cells: np.ndarray
    ) -> tuple[np.ndarray, Callable[[int], tuple[int, ...]]]:
        """A small non-negative group number per row, and number -> (dimension codes..., cell)."""
        combined, radices = cells, self.n_boosts + 2
        for i, c in enumerate(codes):
            size = max(1, len(self._names[i]))
            if radices * size >= 2**62:  # too many combinations for one integer: number the rows seen
                stacked = np.stack([*codes, cells], axis=1)
                uniq_rows, inverse = np.unique(stacked, axis=0, return_inverse=True)
                keys = [tuple(int(x) for x in row) for row in uniq_rows]
                return inverse.reshape(-1), keys.__getitem__
            combined = combined + c * radices
            radices *= size
        if radices <= max(len(combined), 1 << 16):
            return combined, self._decode
        uniq, inverse = np.unique(combined, return_inverse=True)  # sparse: renumber the ones present
        return inverse.reshape(-1), lambda g: self._decode(int(uniq[g]))

    def _candidates(
        self,
        group_of: np.ndarray,
        hashes: np.ndarray,
        decode: Callable[[int], tuple[int, ...]],
        fresh: np.ndarray | None = None,
        proxy: list[list[tuple[int, int, int]]] | None = None,
    ) -> Iterator[tuple[_Group, np.ndarray]]:
        """Count every group's rows, and yield per group the rows that may enter its bottom-`bound`.

        The rows yielded are a superset, cut exactly by the caller. Hashes look uniform,
        so the bound-th smallest of a group's c hashes lies near bound/c of the range:
        one vectorized pass drops every row above a generous estimate of it (and above
        the largest candidate of a full group). A group with fewer rows under its
        estimate than it may take is read again in full, so this is exact for any ids.
        Rows outside `fresh` (repeated ids) are neither counted nor offered.
        """
        if fresh is None:
            counts = np.bincount(group_of)
        else:
            counts = np.bincount(group_of[fresh], minlength=int(group_of.max()) + 1)
        limits = np.zeros(len(counts), dtype=np.uint64)
        plan: list[tuple[int, _Group, bool]] = []
        for code in np.flatnonzero(counts).tolist():
            *dim_codes, cell = decode(code)
            group = self._group(tuple(self._names[i][c] for i, c in enumerate(dim_codes)), cell)
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

    def _decode(self, value: int) -> tuple[int, ...]:
        cell = value % (self.n_boosts + 2)
        value //= self.n_boosts + 2
        out = []
        for names in self._names:
            size = max(1, len(names))
            out.append(value % size)
            value //= size
        return (*out, cell)

    def _code(self, i: int, label: str) -> int:
        vocab = self._vocab[i]
        code = vocab.get(label)
        if code is None:
            code = vocab[label] = len(self._names[i])
            self._names[i].append(label)
        return code

    def _dim_codes(self, i: int, col: Sequence[Any], n: int) -> np.ndarray:
        """Row -> code of its raw label in dimension i (labels are computed once per distinct value)."""
        edges = self._edges[i]
        if isinstance(col, DictColumn):
            return self._dict_codes(i, col, edges)
        if edges is not None:
            return self._bucket_codes(i, col, edges)
        if isinstance(col, np.ndarray) and col.dtype.kind != "O":
            col = column_values(col)  # NaN -> None; an object array is read as it is
        labeler = self._labelers[i]
        fast = _first_seen_codes(col, n)
        if fast is not None:  # str/None values: codes in one C-level pass through a dict
            distinct, raw = fast
            table = np.fromiter((self._code(i, labeler(v)) for v in distinct), dtype=np.int64, count=len(distinct))
            return table[raw]
        col = column_values(col)
        cache = self._string_codes[i]
        try:
            codes = [cache.get(v) for v in col]  # the cache holds str keys only
        except TypeError:  # an unhashable value (list, object): label one by one
            codes = [None] * n
        for j in [j for j, c in enumerate(codes) if c is None]:
            v = col[j]
            if type(v) is str:
                code = cache.get(v)
                if code is None:
                    code = cache[v] = self._code(i, labeler(v))
            else:
                code = self._code(i, labeler(v))
            codes[j] = code
        return np.asarray(codes, dtype=np.int64)

    def _dict_codes(self, i: int, col: DictColumn, edges: np.ndarray | None) -> np.ndarray:
        """Codes of a dictionary-encoded column: each distinct value is labelled once."""
        if edges is not None:
            nums = numeric_array([v if type(v) in (float, int) else None for v in col.values])
            nums = nums if nums is not None else np.full(len(col.values), math.nan)
            return self._bucket_codes(i, col.take(nums, math.nan), edges)
        labeler = self._labelers[i]
        table = [self._code(i, labeler(v)) for v in col.values]
        missing = self._code(i, labeler(None)) if len(col) and int(col.codes.min()) < 0 else -1
        return col.take(np.array(table, dtype=np.int64), missing)

    def _bucket_codes(self, i: int, col: Sequence[Any], edges: np.ndarray) -> np.ndarray:
        """Codes of the numeric bucket labels; anything not a number is `(missing)`."""
        if isinstance(col, np.ndarray) and col.dtype.kind in "fiu":
            nums = col.astype(float, copy=False)
        else:
            values = column_values(col)
            nums = numeric_array(values)
            if nums is None:
                nums = np.array([v if (type(v) is float or type(v) is int) else math.nan for v in values], dtype=float)
        names = [self._code(i, lab) for lab in _bucket_names(edges)] + [self._code(i, MISSING)]
        return np.asarray(names, dtype=np.int64)[_bucket_index(nums, edges)]

    def _group(self, labels: tuple[str, ...], cell: int) -> _Group:
        group = self.groups.get((labels, cell))
        if group is None:
            bound = self.remaining[cell] if cell < self.n_boosts else self._bound(labels)
            if self.weighting is not None and bound:  # one more candidate: the (k+1)-th rank is the threshold
                bound += 1
            group = self.groups[(labels, cell)] = _Group(bound)
        return group

    def _bound(self, labels: tuple[str, ...]) -> int:
        """The largest target of any stratum these raw labels can fold into."""
        bound = self._bounds.get(labels)
        if bound is None:
            options = [
                (label, OTHER) if d.folds and label not in (MISSING, OTHER) else (label,)
                for d, label in zip(self.policy.strata, labels, strict=True)
            ]
            targets = self.policy.targets
            bound = max(targets.for_stratum(_key(variant)) for variant in itertools.product(*options))
            self._bounds[labels] = bound
        return bound

    # -- combining and deciding

    def merge(self, other: Sketch) -> Sketch:
        """The sketch of the union of two disjoint partitions (a new object)."""
        if other.policy.digest != self.policy.digest or other.boost_before != self.boost_before:
            raise ValueError("cannot merge sketches of different policies or boost states")
        merged = Sketch(self.policy, boost_collected=self.boost_before)
        merged.population = self.population + other.population
        merged.duplicates = self.duplicates + other.duplicates
        merged._default_convert = self._default_convert
        merged._presence.merge(self._presence)
        merged._presence.merge(other._presence)
        for source in (self, other):
            for key, group in source.groups.items():
                target = merged.groups.get(key)
                if target is None:
                    target = merged.groups[key] = _Group(group.bound)
                target.count += group.count
                if group.proxy:
                    target.add_proxy(group.proxy)
                repeats = target.offer(group.hashes, list(group.ids), list(group.masks), list(group.payloads),
                                       self._sizes(group))
                target.count -= repeats
                merged.population -= repeats
                merged.duplicates += repeats
        return merged

    def label_counts(self) -> list[Counter[str]]:
        counts: list[Counter[str]] = [Counter() for _ in self.policy.strata]
        for (labels, _cell), group in self.groups.items():
            for i, label in enumerate(labels):
                counts[i][label] += group.count
        return counts

    def result(self, convert: Callable[[Any], TraceRecord] | None = None) -> SampleResult:
        """Fold, allocate and pick. `convert` turns a stored payload into a TraceRecord."""
        one = convert or self._default_convert
        return self._result(lambda payloads: list(map(one, payloads)))

    def folded(self) -> Folded:
        """The groups after the `top` folds, with the counts of the whole input: what `result`
        allocates over, and what `plan` counts (`tracestrata.sampling.counting`)."""
        policy = self.policy
        counts = self.label_counts()
        kept = [top_values(counts[i], d.top) if d.top is not None else None for i, d in enumerate(policy.strata)]
        final: dict[tuple[tuple[str, ...], int], _Group] = {}
        parts: dict[tuple[tuple[str, ...], int], list[tuple[tuple[str, ...], int, list[list[int]]]]] = {}
        raw_of: dict[str, tuple[str, ...]] = {}  # candidate id -> labels before the fold, where they differ
        population, duplicates = self.population, self.duplicates
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
            target.count += group.count
            if group.proxy:
                target.add_proxy(group.proxy)
            repeats = target.offer(group.hashes, list(group.ids), list(group.masks), list(group.payloads),
                                   self._sizes(group))
            target.count -= repeats
            parts[(folded, cell)].append((labels, group.count - repeats, group.proxy))
            population, duplicates = population - repeats, duplicates + repeats
        return Folded(final, parts, raw_of, population, duplicates)

    @property
    def repeats(self) -> DuplicateFilter:
        """The filter of repeated ids: which hashes it saw first and last (`sampling.parallel`)."""
        return self._dedupe

    @property
    def presence(self) -> FieldPresence:
        """Which watched (signal, boost) fields no trace fed so far had."""
        return self._presence

    def _sizes(self, group: _Group) -> list[float] | None:
        return list(group.sizes) if self.weighting is not None else None

    def is_failure_cell(self, cell: int) -> bool:
        return cell == self.failure_code

    def cell_proxy(self, group: _Group) -> dict[str, ProxyTotals]:
        """A folded group's proxy totals, by proxy field."""
        return self._cell_proxy(group)

    def _result(self, convert_many: Callable[[list[Any]], list[TraceRecord]]) -> SampleResult:
        """`result`, with the records of a cell's selected payloads made in one call."""
        policy = self.policy
        final, parts, raw_of, population, duplicates = self.folded()

        take: dict[tuple[tuple[str, ...], int], int] = {}
        strata = sorted({labels for labels, _ in final})
        for labels in strata:
            n_f = final[(labels, self.failure_code)].count if (labels, self.failure_code) in final else 0
            n_n = final[(labels, self.normal_code)].count if (labels, self.normal_code) in final else 0
            target = policy.targets.for_window(_key(labels), population)
            k_f, k_n = allocate_stratum(target, n_f, n_n, policy.multiplier)
            if n_f:
                take[(labels, self.failure_code)] = k_f
            if n_n:
                take[(labels, self.normal_code)] = k_n
        collected = dict(self.boost_before)
        for b, boost in enumerate(policy.boosts):
            keys = [(labels, b) for labels in strata if (labels, b) in final]
            ks = allocate_boost(self.remaining[b], [final[k].count for k in keys])
            take.update(zip(keys, ks, strict=True))
            collected[boost.name] += sum(ks)

        signal_names: dict[int, tuple[str, ...]] = {}
        selected: list[SampledTrace] = []
        cells: list[Cell] = []
        for (labels, cell), group in sorted(final.items(), key=lambda item: (item[0][0], item[0][1])):
            key = _key(labels)
            values = dict(zip(policy.dimensions, labels, strict=True))
            k = take[(labels, cell)]
            if cell < self.n_boosts:
                kind, boost = CellKind.BOOST, policy.boosts[cell].name
                cid = boost_cell_id(key, boost)
            else:
                kind = CellKind.FAILURE if cell == self.failure_code else CellKind.NORMAL
                boost, cid = None, cell_id(key, kind)
            totals = self._cell_proxy(group)
            cells.append(Cell(cid, key, values, kind, group.count, k, proxy=totals, raw=self._raw_parts(
                labels, parts[(labels, cell)])))
            if k > len(group.ids):  # pragma: no cover - the bounds make this impossible
                raise AssertionError(f"cell {cid}: {k} to take but only {len(group.ids)} candidates")
            if k == 0:
                continue
            names = []
            for mask in group.masks[:k]:
                fired = signal_names.get(mask)
                if fired is None:
                    fired = signal_names[mask] = tuple(
                        s.name for bit, s in enumerate(policy.signals) if mask >> bit & 1
                    )
                names.append(fired)
            records = convert_many(group.payloads[:k])
            proxies = self._unit_proxies(records)
            if self.weighting is None:  # a simple random sample: k/N (its weight N/k, as always)
                probs, sizes = [k / group.count] * k, [None] * k
                weights = [group.count / k] * k
            else:  # priority sampling: pi = min(1, w tau), tau the (k+1)-th rank (`sampling.weights`)
                sizes = group.sizes[:k]
                probs = inclusion_probabilities(sizes, int(group.hashes[k]) if k < group.count else None)
                weights = [1.0 / p for p in probs]
            selected.extend(
                SampledTrace(record, key, dict(values), cid, kind, bool(fired), fired, boost, p, w, proxy,
                             raw_values=self._raw_values(raw_of.get(str(record.id))), size=size)
                for record, fired, proxy, p, w, size in zip(records, names, proxies, probs, weights, sizes, strict=True)
            )
        if policy.review is not None:
            selected = draw_review(selected, policy, population)
        cells.sort(key=lambda c: (c.stratum, _KIND_ORDER[c.kind], c.id))
        return SampleResult(selected, cells, collected, population, duplicates, self._presence.absent)

    def _raw_parts(
        self, folded: tuple[str, ...], parts: list[tuple[tuple[str, ...], int, list[list[int]]]]
    ) -> tuple[RawPart, ...]:
        """A cell's population by its labels before the fold; () when nothing was folded into it."""
        if all(labels == folded for labels, _, _ in parts):
            return ()
        out: list[RawPart] = []
        for labels, count, proxy in parts:
            totals = (
                {path: to_totals(*t) for path, t in zip(self.proxies, proxy or [[0, 0, 0]] * len(self.proxies),
                                                        strict=True)}
                if self.proxies else {}
            )
            out.append(RawPart(dict(zip(self.policy.dimensions, labels, strict=True)), count, totals))
        return tuple(out)

    def _raw_values(self, labels: tuple[str, ...] | None) -> dict[str, str] | None:
        return None if labels is None else dict(zip(self.policy.dimensions, labels, strict=True))

    def _cell_proxy(self, group: _Group) -> dict[str, ProxyTotals]:
        if not self.proxies:
            return {}
        totals = group.proxy or [[0, 0, 0] for _ in self.proxies]
        return {path: to_totals(*t) for path, t in zip(self.proxies, totals, strict=True)}

    def _unit_proxies(self, records: list[TraceRecord]) -> list[dict[str, float | None]]:
        if not self.proxies:
            return [{} for _ in records]
        columns = [proxy_values(record_column(records, path), path).tolist() for path in self.proxies]
        return [
            {path: (None if v != v else v) for path, v in zip(self.proxies, row, strict=True)}
            for row in zip(*columns, strict=True)
        ]


def draw_review(selected: list[SampledTrace], policy: Policy, population: int = 0) -> list[SampledTrace]:
    """Mark the human-review subsample: `review.target` per stratum (a window's share of it
    under daily targets, of a window of `population` traces), drawn cell by cell.

    The stratum's target is split over its cells in proportion to their sample sizes
    (largest remainder), then each cell reviews the r_c of its k_c sampled traces with
    the smallest (second keyed hash, id): an SRSWOR of r_c from k_c, so the probability
    of review given sampled is exactly r_c / k_c. The second key comes from the seed and
    `review.seed_suffix`, independent of the sample's own hash order.
    """
    review = policy.review
    assert review is not None
    by_cell: dict[str, list[int]] = {}
    for i, s in enumerate(selected):
        by_cell.setdefault(s.cell, []).append(i)
    by_stratum: dict[str, list[str]] = {}
    for cid in sorted(by_cell):
        by_stratum.setdefault(selected[by_cell[cid][0]].stratum, []).append(cid)
    key = hash_key(review.key_seed(policy.seed))
    target = policy.targets.scaled(review.target, population)
    out = list(selected)
    for cids in by_stratum.values():
        sizes = [len(by_cell[c]) for c in cids]
        total = min(target, sum(sizes))
        shares = largest_remainder([total * k / sum(sizes) for k in sizes], total, sizes)
        for cid, k, r in zip(cids, sizes, shares, strict=True):
            rows = by_cell[cid]
            ids = [selected[i].record.id for i in rows]
            hashes = hash_ids(ids, key).tolist()
            chosen = set(sorted(range(k), key=lambda j: (hashes[j], ids[j]))[:r])
            for j, i in enumerate(rows):
                out[i] = replace(selected[i], review=j in chosen, review_probability=r / k)
    return out


def review_order(ids: Sequence[str], policy: Policy) -> list[str]:
    """`ids` in the order `draw_review` draws from (second keyed hash, then id): each cell's
    review subsample is a prefix of it, so a reviewer who works down this list and stops
    anywhere leaves a random subsample of every cell, never one they picked."""
    if policy.review is None or not ids:
        return list(ids)
    hashes = hash_ids(list(ids), hash_key(policy.review.key_seed(policy.seed))).tolist()
    return [i for _, i in sorted(zip(hashes, ids, strict=True))]


def _hash_limit(group: _Group, count: int) -> tuple[int, bool]:
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


def _pick(values: Sequence[Any], rows: list[int]) -> list[Any]:
    """`[values[i] for i in rows]`, in C."""
    pick = getattr(values, "pick", None)  # a StringColumn, or payloads made in one call per batch
    if pick is not None:
        return pick(rows)
    return list(map(values.__getitem__, rows))


_NUMERIC = frozenset({float, int, type(None)})


def numeric_array(col: Sequence[Any]) -> np.ndarray | None:
    """A list of numbers and Nones as a float array (None -> NaN), or None if anything else is in it."""
    first = next((v for v in col if v is not None), None)
    if type(first) not in _NUMERIC or not set(map(type, col)) <= _NUMERIC:
        return None
    try:
        return np.array(col, dtype=float)
    except OverflowError:  # an integer past the float range (400 digits): one line, not a crash
        big = next(v for v in col if isinstance(v, int) and abs(v) > 2**1000)
        raise InputError(f"the number {str(big)[:20]}... ({len(str(big))} digits) is beyond the range of a float") from None


class _NotText(Exception):
    """A value other than str/None in a column `_first_seen_codes` is reading."""


class _FirstSeen(dict):  # type: ignore[type-arg]
    """value -> order of first appearance, filled by `__missing__` during a C-level `map`."""

    __slots__ = ()

    def __missing__(self, value: Any) -> int:
        if value is not None and type(value) is not str:
            raise _NotText
        code = self[value] = len(self)
        return code


def _first_seen_codes(col: Iterable[Any], n: int) -> tuple[list[Any], np.ndarray] | None:
    """(distinct values in order of first appearance, each row's index into them) for a column
    of str/None, in one pass in C; None for any other column.

    Other types are excluded because `1`, `1.0` and `True` are one dict key but
    three different labels.
    """
    seen = _FirstSeen()
    try:
        try:  # up to 256 distinct values: one byte per row
            raw = np.frombuffer(bytearray(map(seen.__getitem__, col)), dtype=np.uint8)
        except ValueError:  # more: the values seen so far keep their numbers
            raw = np.fromiter(map(seen.__getitem__, col), dtype=np.int64, count=n)
    except (_NotText, TypeError):
        return None
    return list(seen), raw


def _bucket_index(nums: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """`searchsorted(edges, nums, side="right")` (the bucket), with NaN -> len(edges) + 1 (missing).

    For a few edges, counting the edges each value reaches is ~4x faster than the
    binary search.
    """
    if 0 < len(edges) <= 16:
        bucket = (nums >= edges[0]).view(np.int8).copy()
        for edge in edges[1:]:
            bucket += (nums >= edge).view(np.int8)
    else:
        bucket = np.searchsorted(edges, nums, side="right")
    bucket[np.isnan(nums)] = len(edges) + 1
    return bucket


def _evaluate(condition: Condition, column: Sequence[Any]) -> np.ndarray:
    if isinstance(column, DictColumn):  # once per distinct value
        return column.take(np.asarray(condition.evaluate(list(column.values)), dtype=bool), condition.matches(None))
    if isinstance(column, np.ndarray):
        return condition.evaluate_array(column)
    if condition.operator is not Operator.NOT_EQUALS and condition.operator is not Operator.CONTAINS:
        nums = numeric_array(column)  # a numeric column (None = missing): evaluate in numpy
        if nums is not None:
            return condition.evaluate_array(nums)
    operand = condition.operand
    if condition.operator is Operator.EQUALS and isinstance(operand, (str, bool)):
        # what `Condition.evaluate` computes (`==` to a str operand, `is` to a bool one), in C
        test = operator.is_ if isinstance(operand, bool) else operator.eq
        with contextlib.suppress(TypeError, ValueError):  # an `==` that gave neither a bool nor a small int
            return np.frombuffer(bytearray(map(test, column, repeat(operand))), dtype=np.uint8) != 0
    return np.asarray(condition.evaluate(column), dtype=bool)


def _identity(payload: Any) -> Any:
    return payload


def _key(labels: Sequence[str]) -> str:
    return stratum_key(labels) if labels else ALL


_BUCKET_CACHE: dict[tuple[float, ...], tuple[str, ...]] = {}


def _bucket_names(edges: np.ndarray) -> tuple[str, ...]:
    key = tuple(float(e) for e in edges)
    names = _BUCKET_CACHE.get(key)
    if names is None:
        names = _BUCKET_CACHE[key] = bucket_labels(key)
    return names


def sample_records(
    records: Iterable[TraceRecord],
    policy: Policy,
    *,
    boost_collected: Mapping[str, int] | None = None,
) -> SampleResult:
    """Sample an iterable of records in one streaming pass (memory bounded by the targets)."""
    sketch = Sketch(policy, boost_collected=boost_collected)
    sketch.add_records(records)
    return sketch.result()


def sample_columns(
    ids: Sequence[str],
    columns: Mapping[str, Sequence[Any]],
    policy: Policy,
    *,
    boost_collected: Mapping[str, int] | None = None,
    records: Sequence[TraceRecord] | None = None,
    records_of: Callable[[list[int]], list[TraceRecord]] | None = None,
    batch_size: int = 1 << 20,
) -> SampleResult:
    """In-memory columnar sampling: `columns[path]` for every path in `policy.fields()`.

    Columns are lists of JSON-like values (normalized like `TraceRecord.from_json`)
    or numpy arrays (NaN in a float array means missing). `records[i]`, if given,
    is row i's record; `records_of(rows)`, if given, makes the records of a cell's
    selected rows in one call; otherwise each selected trace carries a stub record
    holding only its id. Same sample as `sample_records` on the same traces.
    """
    sketch = Sketch(policy, boost_collected=boost_collected)
    for start in range(0, len(ids), batch_size):
        stop = min(len(ids), start + batch_size)
        if start == 0 and stop == len(ids):
            sketch.add_columns(ids, columns, range(stop))
        else:
            part = {path: columns[path][start:stop] for path in sketch.fields}
            sketch.add_columns(ids[start:stop], part, range(start, stop))
    if records is not None:
        return sketch.result(records.__getitem__)
    if records_of is not None:
        return sketch._result(records_of)
    return sketch._result(lambda rows: _stub_records(list(map(str, _pick(ids, rows)))))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _stub_records(ids: list[str]) -> list[TraceRecord]:
    """The records `sample_columns` returns when it was given no records: the id only."""
    return [TraceRecord(id=i, timestamp=_EPOCH) for i in ids]


def sample_column_batches(
    batches: Iterable[ColumnBatch],
    policy: Policy,
    *,
    boost_collected: Mapping[str, int] | None = None,
    progress: Callable[[Any], None] | None = None,
) -> SampleResult:
    """The CLI's path: a source already extracted the policy's fields (`policy.fields()`)."""
    sketch = Sketch(policy, boost_collected=boost_collected)
    with gc_paused():
        convert = sketch.add_column_batches(batches, progress=progress)
    return sketch.result(convert)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while decoding: decoded JSON holds no cycles, and
    collections triggered by millions of fresh dicts cost ~40% of the parse time (measured)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


__all__ = [
    "SampleResult",
    "SampledTrace",
    "Sketch",
    "allocate_boost",
    "allocate_stratum",
    "boost_cell_id",
    "largest_remainder",
    "review_order",
    "sample_column_batches",
    "sample_columns",
    "sample_records",
]
