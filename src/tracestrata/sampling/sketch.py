"""The mergeable one-pass state of a sample: it accumulates batches and merges partitions.

How it works, in one pass with memory bounded by the targets:

1. Every trace gets its raw stratum labels (before any `top` fold,
   `tracestrata.sampling.labels`), its cell kind (the first active boost it matches,
   else failure if any signal fires, else normal: `tracestrata.sampling.signal_masks`)
   and its keyed 64-bit hash. Traces are grouped by (raw labels, cell).
2. Each group keeps a count and its candidates with the smallest (hash, id), up to a
   bound no cell can exceed (`tracestrata.sampling.candidates`).
3. At the end, `top` folds rare values into `(other)` using the exact counts, groups
   merge into their final cells (the bottom-k of a union is the bottom-k of the union
   of bottom-k's), the integer allocation decides k per cell, and each cell takes its
   k smallest hashes: a simple random sample without replacement of size k, inclusion
   probability exactly k/N (`tracestrata.sampling.decision`).

So the result does not depend on batch boundaries or input order (streaming equals
batch), and two sketches of disjoint partitions merge (`Sketch.merge`) to the sketch of
their union. Memory: per (raw label combination, cell) at most `bound` candidates; with
`top` on a high-cardinality field this is the number of distinct raw values times the
bound (never more than the number of traces).

A repeated trace id is one unit: its first occurrence is kept, the repeats are dropped
before they are counted (`tracestrata.sampling.dedupe`, memory bounded by a window of
recent hashes) and counted in `SampleResult.duplicates`. A repeat the window misses is
still never a second candidate (`CandidateGroup.offer` keeps one per id and the count is
corrected).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial

import numpy as np

from tracestrata.design import ProxyTotals
from tracestrata.protocols import ColumnBatch
from tracestrata.record import TraceRecord
from tracestrata.sampling.candidates import (
    BatchRows,
    CandidateGroup,
    CandidateStore,
    Folded,
    SketchState,
    check_state,
)
from tracestrata.columns import Column, StringColumn, encode
from tracestrata.sampling.decision import Decision, RecordsOf
from tracestrata.sampling.dedupe import DEFAULT_WINDOW, DuplicateFilter, hashed_batches
from tracestrata.sampling.field_check import FieldPresence, watched_fields
from tracestrata.sampling.hashing import hash_ids, hash_key
from tracestrata.sampling.labels import GroupKey, LabelEncoder
from tracestrata.policy.model import Policy
from tracestrata.sampling.proxies import batch_totals, cell_totals
from tracestrata.sampling.record_batches import BATCH_SIZE, record_batches
from tracestrata.sampling.sample_result import SampleResult
from tracestrata.sampling.signal_masks import SignalEvaluator
from tracestrata.policy.strata import RawRow, raw_getter
from tracestrata.sampling.weights import rank_keys

SKETCH_STATE_FORMAT = 1  # `Sketch.to_state`; bump when its layout changes


class Sketch:
    """Mergeable one-pass state of a sample: group counts, bottom candidates, label counts.

    Feed it with `add_records` (TraceRecords), `add_raw` (decoded trace JSON
    objects, the fast path) or `add_columns`; combine partitions with `merge`;
    decide the sample with `result`. Same policy and boost state on both sides
    of a merge, checked. The policy is read once, here: by the label encoder, the
    signal evaluator, the candidate store and the decision built from it.
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
        self.population = 0
        self.duplicates = 0
        self._signals = SignalEvaluator(policy)
        self._labels = LabelEncoder(policy, self._signals.codes.count)
        self._store = CandidateStore(policy, self.remaining)
        self._decision = Decision(policy, self.boost_before, self.remaining)
        self._presence = FieldPresence(watched_fields(policy))
        self._dedupe = DuplicateFilter(repeat_window)
        if seen is not None:
            self._dedupe.seed(seen)
        self._default_convert: Callable[[object], TraceRecord] | None = None

    def __reduce__(self) -> tuple[Callable[[Policy, SketchState], Sketch], tuple[Policy, SketchState]]:
        """Pickled (for `--jobs` workers) as what another process needs to merge it: the policy and `to_state()`."""
        return Sketch.from_state, (self.policy, self.to_state())

    def to_state(self) -> SketchState:
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
            "groups": self._store.to_state(),
        }

    @classmethod
    def from_state(cls, policy: Policy, state: SketchState) -> Sketch:
        """The sketch `to_state()` described; `ValueError` if it was made for another policy."""
        check_state(state, SKETCH_STATE_FORMAT, policy.digest)
        sketch = cls(policy, boost_collected=state["boost_before"])
        sketch.population = int(state["population"])
        sketch.duplicates = int(state.get("duplicates", 0))
        if "absent" in state:  # older states did not watch fields: nothing is reported absent
            sketch._presence.unseen = dict.fromkeys(state["absent"])
            sketch._presence.observed = bool(sketch.population)
        sketch._store.load_state(state["groups"])
        return sketch

    # -- feeding

    def add_records(self, records: Iterable[TraceRecord], *, batch_size: int = BATCH_SIZE) -> None:
        self.add_column_batches(record_batches(records, self.fields, batch_size))

    def add_raw(self, rows: Sequence[RawRow], payloads: Sequence[object] | None = None) -> None:
        """Decoded trace JSON objects (ids already validated); payloads default to the rows."""
        columns = {path: [g(row) for row in rows] for path, g in zip(self.fields, map(raw_getter, self.fields))}
        if payloads is None:
            self._default_convert = TraceRecord.from_json
        self.add_columns([row["id"] for row in rows], columns, rows if payloads is None else payloads)

    def add_column_batches(
        self, batches: Iterable[ColumnBatch], *, progress: Callable[[ColumnBatch], None] | None = None
    ) -> Callable[[object], TraceRecord] | None:
        """Feed every batch; returns the batches' payload -> record function (None if there were none),
        which `result` then uses unless told another."""
        convert: Callable[[object], TraceRecord] | None = None
        try:
            for batch, hashes, fresh in hashed_batches(batches, self.key, self._dedupe):  # a batch ahead, in a thread
                convert = self._default_convert = batch.record
                if hashes is not None:
                    self.add_columns(batch.ids, batch.columns, batch.refs, hashed=(hashes, fresh))
                if progress is not None:
                    progress(batch)
        except MemoryError:
            error = self._labels.memory_error(free=self._store.groups.clear)
            if error is None:
                raise
            raise error from None
        return convert

    def add_columns(
        self, ids: Sequence[str] | StringColumn, columns: Mapping[str, Column], payloads: Sequence[object],
        *, hashed: tuple[np.ndarray, np.ndarray | None] | None = None,
    ) -> None:
        """One batch: `columns[path][i]` is trace i's value of every field the policy reads.

        A column is a list, a numpy array, or a `StringColumn`/`DictColumn` (read as
        buffers, see `tracestrata.columns`); the ids a list, an array or a `StringColumn`.
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
        codes = self._labels.codes(columns, n)
        self._labels.check(self._store.groups)
        masks = self._signals.masks(columns, n)
        cells = self._signals.cells(masks, columns, self.remaining)
        group_of, key_of = self._labels.group_codes(codes, cells)
        proxy = batch_totals(self.proxies, columns, group_of, fresh)
        rows = BatchRows(order, ids, masks, payloads, sizes)
        repeats = self._store.add_batch(group_of, key_of, rows, fresh, proxy)
        self.population -= repeats
        self.duplicates += repeats
        self._labels.check(self._store.groups)

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
            repeats = merged._store.merge_from(source._store)
            merged.population -= repeats
            merged.duplicates += repeats
        return merged

    def result(self, convert: Callable[[object], TraceRecord] | None = None) -> SampleResult:
        """Fold, allocate and pick. `convert` turns a stored payload into a TraceRecord."""
        one = convert or self._default_convert
        return self.result_of_many(_as_records if one is None else partial(_convert_each, one))

    def result_of_many(self, records_of: RecordsOf) -> SampleResult:
        """`result`, with the records of a cell's selected payloads made in one call."""
        return self._decision.decide(self._store.fold(self.population, self.duplicates), records_of,
                                     self._presence.absent)

    def folded(self) -> Folded:
        """The groups after the `top` folds, with the counts of the whole input: what `result`
        allocates over, and what `plan` counts (`tracestrata.sampling.counting`)."""
        return self._store.fold(self.population, self.duplicates)

    def label_counts(self) -> list[Counter[str]]:
        return self._store.label_counts()

    @property
    def groups(self) -> dict[GroupKey, CandidateGroup]:
        """The (raw labels, cell code) groups fed so far."""
        return self._store.groups

    @property
    def repeats(self) -> DuplicateFilter:
        """The filter of repeated ids: which hashes it saw first and last (`sampling.parallel`)."""
        return self._dedupe

    @property
    def presence(self) -> FieldPresence:
        """Which watched (signal, boost) fields no trace fed so far had."""
        return self._presence

    def is_failure_cell(self, cell: int) -> bool:
        return cell == self._signals.codes.failure

    def cell_proxy(self, group: CandidateGroup) -> dict[str, ProxyTotals]:
        """A folded group's proxy totals, by proxy field."""
        return cell_totals(self.proxies, group.proxy)


def _as_records(payloads: list[object]) -> list[TraceRecord]:
    """Payloads that are the records themselves (`add_records`)."""
    return payloads  # type: ignore[return-value]


def _convert_each(convert: Callable[[object], TraceRecord], payloads: list[object]) -> list[TraceRecord]:
    return list(map(convert, payloads))


__all__ = ["SKETCH_STATE_FORMAT", "Sketch"]
