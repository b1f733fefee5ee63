"""Repeated trace ids: one trace is one unit, its first occurrence is kept.

A source may deliver a trace id twice: a JSONL line written twice, a Phoenix
trace with two root spans. Counting both would inflate the population (and
write the same item twice in a sync). Every path that counts or samples
(`Sketch`, the plan's tallies) drops repeats here, so all agree.

Memory stays bounded: a set of every id would grow with N. Repeats are almost
always close together (the same page of a source, the next line), so the
filter remembers the keyed 64-bit hashes of the last `window` distinct traces
(8 bytes each; 2 MiB by default, plus a 4 MiB table of slots that spares most
rows the search) and drops a row whose hash it has seen:

- within one batch, exactly (equal hashes are confirmed by equal ids);
- across batches, by hash among the last `window` traces (two different ids
  share a 64-bit keyed hash with probability ~ window * N / 2**64, about 1e-6
  for 100M traces).

A repeat farther apart than `window` traces is still never sampled twice: the
sketch keeps one candidate per id (see `candidates.CandidateGroup.offer`) and then
corrects its count. Only a repeat of a trace that was no longer a candidate
(its hash too large to be drawn) and more than `window` traces away is counted
twice: the population of its cell is then one too high (documented bound).
"""

from __future__ import annotations

import itertools
from concurrent.futures import Future, ThreadPoolExecutor
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from tracestrata.sampling.hashing import hash_ids

DEFAULT_WINDOW = 1 << 18
B = TypeVar("B")
_MERGE_BELOW = 4096  # batches smaller than this are merged into one array before they are stored


class DuplicateFilter:
    """Remembers recent trace hashes; `keep` says which rows of a batch are first occurrences."""

    def __init__(self, window: int = DEFAULT_WINDOW) -> None:
        self.window = window
        self.dropped = 0
        self._recent: deque[tuple[int, np.ndarray]] = deque()  # (first batch number, sorted unique hashes), oldest first
        self._size = 0
        self._batch = 0
        # slot (top bits of a hash) -> the number, mod 256, of the last batch that put a hash in
        # it. A hash can be in the window only if its slot's batch still is, so only those rows
        # (about a tenth: 8 to 16 slots per remembered hash, 4 MiB by default) go on to the exact
        # search, and nothing has to be deleted when a batch leaves the window. The number mod
        # 256 can make a slot look newer than it is, never older: at worst a row is searched
        # for nothing. (One int32 per slot and 2 to 4 slots per hash, in the same 4 MiB, sent a
        # third of the rows to the search, issue 25.)
        self._bits = max(10, min(24, max(window, 1).bit_length() + 3))
        self._slots = np.zeros(1 << self._bits, dtype=np.uint8)
        self._head: list[np.ndarray] = []  # the first `window` distinct hashes it remembered
        self._head_size = 0

    def seed(self, hashes: np.ndarray) -> None:
        """Remember `hashes` as if they had been read just before (a part read after others)."""
        self._remember(_distinct(np.asarray(hashes, dtype=np.uint64)), head=False)

    def recent(self) -> np.ndarray:
        """The hashes it remembers now (the last `window` or more distinct traces), in no order."""
        if not self._recent:
            return np.zeros(0, dtype=np.uint64)
        return np.concatenate([hashes for _, hashes in self._recent])

    def head(self) -> np.ndarray:
        """The first `window` (or more) distinct hashes it was given, in no order: with `recent()`,
        what a part read in another process tells the parts around it (`sampling.parallel`)."""
        if not self._head:
            return np.zeros(0, dtype=np.uint64)
        return np.concatenate(self._head)

    def holds_any(self, hashes: np.ndarray) -> bool:
        """Whether any of these distinct hashes is among the remembered ones."""
        return bool(len(hashes)) and bool(self._seen(np.sort(hashes)).any())

    @property
    def remembered(self) -> int:
        """How many hashes it holds: at most `window` plus the last batch's."""
        return self._size

    def keep(self, hashes: np.ndarray, ids: Sequence[Any]) -> np.ndarray | None:
        """A boolean mask of the rows to keep, or None when every row is new (the common case)."""
        n = len(hashes)
        if n == 0:
            return None
        uniq = sorted_hashes(hashes)
        mask: np.ndarray | None = None
        if n > 1 and (uniq[1:] == uniq[:-1]).any():  # a repeat within the batch: rare, exact below
            uniq, first = np.unique(hashes, return_index=True)
            mask = np.zeros(n, dtype=bool)
            mask[first] = True
            first_row = dict(zip(hashes[first].tolist(), first.tolist(), strict=True))
            for row in np.flatnonzero(~mask).tolist():
                if str(ids[first_row[int(hashes[row])]]) != str(ids[row]):  # a hash collision, not a repeat
                    mask[row] = True
        seen = self._seen(uniq)
        if seen.any():
            old = np.isin(hashes, uniq[seen])
            mask = ~old if mask is None else mask & ~old
            uniq = uniq[~seen]
        self._remember(uniq)
        if mask is None:
            return None
        self.dropped += int(n - mask.sum())
        return mask

    def _seen(self, uniq: np.ndarray) -> np.ndarray:
        """Which of the sorted unique hashes the window holds (exact)."""
        seen = np.zeros(len(uniq), dtype=bool)
        if not self._recent:
            return seen
        slots = uniq >> np.uint64(64 - self._bits)
        span = self._batch - self._recent[0][0]  # the batches in the window: this many before the last one
        if span < 255:  # a slot's age, mod 256, is at most its true age: a slot in the window passes
            maybe = np.flatnonzero(np.uint8(self._batch & 255) - self._slots[slots] <= span)  # sorted, as `uniq` is
        else:
            maybe = np.arange(len(uniq))
        if not len(maybe):
            return seen
        needles = uniq[maybe]
        for _, recent in self._recent:
            at = np.searchsorted(recent, needles)
            at[at == len(recent)] = 0
            seen[maybe] |= recent[at] == needles
        return seen

    def _remember(self, uniq: np.ndarray, *, head: bool = True) -> None:
        self._batch += 1
        if not len(uniq):
            return
        if head and self._head_size < self.window:
            self._head.append(uniq)
            self._head_size += len(uniq)
        first = self._batch
        if self._recent and len(self._recent[-1][1]) < _MERGE_BELOW:
            first, tail = self._recent.pop()
            self._size -= len(tail)
            uniq = np.union1d(tail, uniq)
        self._slots[uniq >> np.uint64(64 - self._bits)] = self._batch & 255
        self._recent.append((first, uniq))
        self._size += len(uniq)
        while self._size > self.window and len(self._recent) > 1:
            self._size -= len(self._recent.popleft()[1])




_S32, _S48 = np.uint64(32), np.uint64(48)


def sorted_hashes(hashes: np.ndarray) -> np.ndarray:
    """`np.sort(hashes)`, about 3x faster on hashes (uniform 64-bit values): two passes of
    numpy's radix sort (its stable sort of 16-bit keys) order them by their top 32 bits, which
    already sorts them but for values sharing those bits (a few pairs a batch); each such run is
    then sorted in place. Values far from uniform (many sharing their top bits) are sorted whole."""
    if len(hashes) < 4096:
        return np.sort(hashes)
    order = np.argsort((hashes >> _S32).astype(np.uint16), kind="stable")
    order = order[np.argsort((hashes[order] >> _S48).astype(np.uint16), kind="stable")]
    out = hashes[order]
    down = np.flatnonzero(out[1:] < out[:-1])
    if len(down) > 64:
        return np.sort(hashes)
    if len(down):
        tops = out >> _S32
        for i in down.tolist():
            out[np.searchsorted(tops, tops[i], "left") : np.searchsorted(tops, tops[i], "right")].sort()
    return out


def _distinct(hashes: np.ndarray) -> np.ndarray:
    """The distinct values, sorted (a sort: numpy's hash-based `unique` took 0.4 s on 250k hashes)."""
    ordered = sorted_hashes(hashes)
    if len(ordered) < 2:
        return ordered
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]


def select_rows(column: Any, keep: np.ndarray) -> Any:
    """The rows of a column (a list, a numpy array, a String/DictColumn) where `keep` is True."""
    if isinstance(column, np.ndarray):
        return column[keep]
    values = column.tolist() if hasattr(column, "tolist") else list(column)
    return list(itertools.compress(values, keep.tolist()))


def unique_batches(
    batches: Iterable[tuple[Sequence[Any], Mapping[str, Any]]], key: tuple[int, int], window: int = DEFAULT_WINDOW
) -> Iterator[tuple[int, dict[str, Any], int]]:
    """(rows, columns, repeats dropped) of each `(ids, columns)` batch, repeated ids removed."""
    seen = DuplicateFilter(window)
    for ids, columns in batches:
        keep = seen.keep(hash_ids(ids, key), ids) if len(ids) else None
        if keep is None:
            yield len(ids), dict(columns), 0
        else:
            yield int(keep.sum()), {p: select_rows(c, keep) for p, c in columns.items()}, int(len(ids) - keep.sum())


def hashed_batches(
    batches: Iterable[B], key: tuple[int, int], seen: DuplicateFilter
) -> Iterator[tuple[B, np.ndarray | None, np.ndarray | None]]:
    """Each batch (anything with `ids`) with its ids' keyed hashes and `seen.keep` of them (None,
    None for an empty batch), made a batch ahead in one worker thread: the hash and the repeat
    filter (numpy, which releases the GIL on whole arrays) run while the caller sketches the batch
    before. The batches themselves are pulled in the caller's thread, so a source that reads
    under the caller's context (the job's retry budget, `io.retry.governing`) keeps it; one
    worker keeps the repeat filter in batch order. A source that fails hands the caller the batch
    read before the failure first, so errors come in source order, as without the look-ahead."""

    def hashed(batch: B) -> tuple[B, np.ndarray | None, np.ndarray | None]:
        ids = batch.ids  # type: ignore[attr-defined]
        if not len(ids):
            return batch, None, None
        hashes = hash_ids(ids, key)
        return batch, hashes, seen.keep(hashes, ids)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracestrata-hash") as pool:
        ahead: Future[tuple[B, np.ndarray | None, np.ndarray | None]] | None = None
        source = iter(batches)
        while True:
            try:
                batch = next(source)
            except StopIteration:
                break
            except Exception:
                if ahead is not None:  # the batch before first: an error the caller finds there comes first
                    yield ahead.result()
                raise
            submitted = pool.submit(hashed, batch)
            if ahead is not None:
                yield ahead.result()
            ahead = submitted
        if ahead is not None:
            yield ahead.result()


def unique_records(
    records: Iterable[Any],
    key: tuple[int, int],
    *,
    chunk: int = 65_536,
    on_repeats: Callable[[int], None] | None = None,
) -> Iterator[Any]:
    """`records` (anything with an `id`) without repeated ids, first occurrences kept, in order;
    `on_repeats(n)` hears the number dropped at the end, when there were any."""
    seen = DuplicateFilter()
    iterator = iter(records)
    while batch := list(itertools.islice(iterator, chunk)):
        ids = [str(r.id) for r in batch]
        keep = seen.keep(hash_ids(ids, key), ids)
        yield from (batch if keep is None else itertools.compress(batch, keep.tolist()))
    if seen.dropped and on_repeats is not None:
        on_repeats(seen.dropped)


__all__ = ["DEFAULT_WINDOW", "DuplicateFilter", "hashed_batches", "select_rows", "unique_batches", "unique_records"]
