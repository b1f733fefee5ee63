"""String and dictionary-encoded columns that the sampler reads as buffers, not as Python objects.

On object arrays, in-memory sampling spends most of its time reading scattered Python
strings: every string is a cache miss. Arrow and pandas keep strings in one of two
contiguous forms: offsets into a single byte buffer, or small integer codes into a few
distinct values. `StringColumn` and `DictColumn` hold exactly those layouts in plain
numpy. The core therefore stays free of pyarrow and pandas, and a caller can hand over
the buffers of an Arrow array or a pandas `str`/`category` column without copying them
(`tracestrata_connectors.frames` does this).

Every operation here gives the same result as the same values held in a Python list
(tested).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, overload

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX = np.uint64(0xFF51AFD7ED558CCD)
# _BYTE_MASKS[k] keeps the low k bytes of a little-endian word.
_BYTE_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], dtype=np.uint64)
# Table sizes tried by `factorize`, in bits. A collision in the table is detected and
# costs one retry, never a wrong code.
_TABLE_BITS = (10, 14, 18)
_ROWS = 16_384  # rows per chunk in `factorize`


@dataclass(frozen=True, eq=False, slots=True)
class StringColumn:
    """UTF-8 strings in Arrow's layout: row i is `data[offsets[i]:offsets[i + 1]]`.

    `valid[i]` False means row i is missing (None). `data` must be UTF-8, as Arrow's
    string types guarantee: the bytes are hashed and compared as they are, and they are
    decoded only for the few rows and distinct values that are read back.
    """

    offsets: np.ndarray
    data: np.ndarray
    valid: np.ndarray | None = None

    def __post_init__(self) -> None:
        offsets, data, valid = self.offsets, self.data, self.valid
        if offsets.ndim != 1 or offsets.dtype.kind not in "iu" or len(offsets) == 0:
            raise ValueError("StringColumn.offsets: expected a 1-d integer array of length rows + 1")
        if data.ndim != 1 or data.dtype != np.uint8:
            raise ValueError("StringColumn.data: expected a 1-d uint8 array")
        if valid is not None and (valid.shape != (len(offsets) - 1,) or valid.dtype != np.bool_):
            raise ValueError("StringColumn.valid: expected a bool array with one entry per row")
        if int(offsets[0]) < 0 or int(offsets[-1]) > len(data) or (np.diff(offsets) < 0).any():
            raise ValueError("StringColumn.offsets: expected non-decreasing offsets inside the data buffer")

    @classmethod
    def from_strings(cls, values: Iterable[str | None]) -> StringColumn:
        """Build the layout from Python strings (None is missing)."""
        items = list(values)
        encoded = [b"" if v is None else v.encode("utf-8") for v in items]
        offsets = np.zeros(len(items) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in encoded], out=offsets[1:])
        data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        valid = None if all(v is not None for v in items) else np.array([v is not None for v in items])
        return cls(offsets, data, valid)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @overload
    def __getitem__(self, index: int) -> str | None: ...
    @overload
    def __getitem__(self, index: slice) -> StringColumn: ...
    def __getitem__(self, index: int | slice) -> str | None | StringColumn:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                raise ValueError("StringColumn: only contiguous slices")
            stop = max(start, stop)
            valid = None if self.valid is None else self.valid[start:stop]
            return _unchecked(self.offsets[start : stop + 1], self.data, valid)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("StringColumn index out of range")
        if self.valid is not None and not self.valid[index]:
            return None
        return bytes(self.data[int(self.offsets[index]) : int(self.offsets[index + 1])]).decode("utf-8")

    def __iter__(self) -> Iterator[str | None]:
        return iter(self.tolist())

    def tolist(self) -> list[str | None]:
        start, stop = int(self.offsets[0]), int(self.offsets[-1])
        text = bytes(self.data[start:stop])
        bounds = (self.offsets - start).tolist()
        out: list[str | None] = [text[a:b].decode("utf-8") for a, b in pairwise(bounds)]
        if self.valid is not None:
            for i in np.flatnonzero(~self.valid).tolist():
                out[i] = None
        return out

    def pick(self, rows: Sequence[int]) -> list[str | None]:
        """`[self[i] for i in rows]`, decoding the picked bytes in one call."""
        if len(rows) == 0:
            return []
        index = np.asarray(rows, dtype=np.intp)
        starts, ends = self.offsets[index].astype(np.int64), self.offsets[index + 1].astype(np.int64)
        sizes = ends - starts
        bounds = np.zeros(len(index) + 1, dtype=np.int64)
        np.cumsum(sizes, out=bounds[1:])
        # every picked byte's position in `data`: its row's start plus its place in the row
        positions = np.arange(int(bounds[-1]), dtype=np.int64) + np.repeat(starts - bounds[:-1], sizes)
        text = bytes(self.data[positions])
        edges = bounds.tolist()
        try:
            out: list[str | None] = [text[a:b].decode("ascii") for a, b in pairwise(edges)]
        except UnicodeDecodeError:
            out = [text[a:b].decode("utf-8") for a, b in pairwise(edges)]
        if self.valid is not None:
            for j in np.flatnonzero(~self.valid[index]).tolist():
                out[j] = None
        return out

    def lengths(self) -> np.ndarray:
        """Byte length of every row (int64)."""
        return np.subtract(self.offsets[1:], self.offsets[:-1], dtype=np.int64)

    def words(self, count: int, lengths: np.ndarray | None = None) -> list[np.ndarray]:
        """The first `count` little-endian 64-bit words of every row's bytes, zero past its end.

        Row i's word j is bytes 8j..8j+7 of its string: two aligned loads from the
        buffer, shifted together and masked to the row's length, so the cost is per
        row and word, not per byte.
        """
        n = len(self)
        if n == 0 or count == 0:
            return [np.zeros(n, dtype=np.uint64) for _ in range(count)]
        starts = self.offsets[:-1].astype(np.int64, copy=False)
        buffer, first_word = self._aligned_words(count)
        word = starts >> 3
        word -= first_word
        shift = ((starts & 7) << 3).view(np.uint64)
        high_shift = np.uint64(56) - shift
        lengths = self.lengths() if lengths is None else lengths
        longest = int(lengths.max())
        low = buffer[word]
        out = []
        for j in range(count):
            word += 1
            high = buffer[word]
            if longest <= 8 * j:  # every row ended before this word
                out.append(np.zeros(n, dtype=np.uint64))
                continue
            value = low >> shift
            high <<= high_shift
            high <<= np.uint64(8)
            value |= high
            if j == 0:
                value &= _BYTE_MASKS[np.minimum(lengths, 8)]
            else:
                value &= _BYTE_MASKS[np.clip(lengths - 8 * j, 0, 8)]
            out.append(value)
            low = buffer[word]
        return out

    def _aligned_words(self, count: int) -> tuple[np.ndarray, int]:
        """The data as 64-bit words from the one holding the first row's start, with at least
        `count + 1` words after the last row's start, and the index of that first word.

        A view of the buffer when it has the words and the alignment, else a zero-padded copy.
        """
        first_word, end = int(self.offsets[0]) >> 3, int(self.offsets[-1])
        stop_word = (end >> 3) + count + 2
        data = self.data
        if stop_word * 8 <= len(data) and data.ctypes.data % 8 == 0:
            return data[first_word * 8 : stop_word * 8].view(np.uint64), first_word
        buffer = np.zeros(stop_word - first_word, dtype=np.uint64)
        buffer.view(np.uint8)[: end - first_word * 8] = data[first_word * 8 : end]
        return buffer, first_word

    def encoded(self) -> DictColumn:
        """The same column dictionary-encoded (see `factorize`)."""
        values, codes = factorize(self)
        return DictColumn(codes, values)


@dataclass(frozen=True, eq=False, slots=True)
class DictColumn:
    """Dictionary-encoded values: row i is `values[codes[i]]`, and code -1 is missing (None).

    The layout of a pandas `category` column or an Arrow dictionary array. A value is
    evaluated once per distinct value, not once per row.
    """

    codes: np.ndarray
    values: Sequence[Any]

    def __post_init__(self) -> None:
        codes = self.codes
        if codes.ndim != 1 or codes.dtype.kind not in "iu":
            raise ValueError("DictColumn.codes: expected a 1-d integer array")
        if len(codes) and (int(codes.min()) < -1 or int(codes.max()) >= len(self.values)):
            raise ValueError(f"DictColumn.codes: expected codes in [-1, {len(self.values)})")

    def __len__(self) -> int:
        return len(self.codes)

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> DictColumn: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return DictColumn(self.codes[index], self.values)
        code = int(self.codes[index])
        return None if code < 0 else self.values[code]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.tolist())

    def tolist(self) -> list[Any]:
        return [None if c < 0 else self.values[c] for c in self.codes.tolist()]

    def take(self, per_value: np.ndarray, missing: Any) -> np.ndarray:
        """Each row's entry of `per_value` (one entry per distinct value), `missing` for code -1."""
        return np.append(np.asarray(per_value), np.asarray(missing, dtype=np.asarray(per_value).dtype))[self.codes]


def _unchecked(offsets: np.ndarray, data: np.ndarray, valid: np.ndarray | None) -> StringColumn:
    """A slice of a checked column: the same buffers, nothing to check again."""
    column = object.__new__(StringColumn)
    object.__setattr__(column, "offsets", offsets)
    object.__setattr__(column, "data", data)
    object.__setattr__(column, "valid", valid)
    return column


def factorize(column: StringColumn) -> tuple[list[str | None], np.ndarray]:
    """(distinct values in order of first appearance, each row's index into them): exact, in numpy.

    A row is keyed by its byte length and the 64-bit words of its bytes, which together
    spell the string exactly. Keys are hashed into a small table holding the key of the
    first row that reached each slot, and every row is compared, key against key, with
    its slot's: when all match, slots and values correspond one to one. When two values
    share a slot, a larger table is tried, and finally a sort. Rows are read in chunks,
    so the temporaries stay in cache.
    """
    n = len(column)
    if n == 0:
        return [], np.zeros(0, dtype=np.intp)
    width = max(1, (int(column.lengths().max()) + 7) // 8)
    for bits in _TABLE_BITS:
        found = _factorize_in_table(column, width, bits)
        if found is not None:
            first_rows, codes = found
            break
    else:
        first_rows, codes = _factorize_by_sorting(column, width)
    return column.pick(first_rows), codes


_EMPTY = -2  # a slot no row reached; a key's length is >= -1 (-1: missing)


def _keys(column: StringColumn, width: int) -> tuple[np.ndarray, list[np.ndarray]]:
    lengths = column.lengths()
    words = column.words(width, lengths)
    if column.valid is not None:
        lengths = np.where(column.valid, lengths, -1)  # a missing row is not the empty string
    return lengths, words


def _factorize_in_table(column: StringColumn, width: int, bits: int) -> tuple[list[int], np.ndarray] | None:
    size = 1 << bits
    table_lengths = np.full(size, _EMPTY, dtype=np.int64)
    table_words = np.zeros((width, size), dtype=np.uint64)
    table_codes = np.full(size, -1, dtype=np.intp)
    first_rows: list[int] = []
    codes = np.empty(len(column), dtype=np.intp)
    drop = np.uint64(64 - bits)
    for start in range(0, len(column), _ROWS):
        lengths, words = _keys(column[start : start + _ROWS], width)
        with np.errstate(over="ignore"):  # multiplicative hashing: the top bits depend on every bit
            mixed = lengths.view(np.uint64) * _GOLDEN
            for word in words:
                mixed ^= word
                mixed *= _MIX
        slot = (mixed >> drop).view(np.int64)
        same = _matches(table_lengths, table_words, slot, lengths, words)
        if not same.all():  # values new to the table, or a collision
            fresh = np.flatnonzero(~same)
            fresh = fresh[table_lengths[slot[fresh]] == _EMPTY]
            if len(fresh):  # claim each new slot for the first row that reached it
                new_slots, first = np.unique(slot[fresh], return_index=True)
                rows = fresh[first]
                order = np.argsort(rows, kind="stable")  # codes in order of first appearance
                new_slots, rows = new_slots[order], rows[order]
                table_lengths[new_slots] = lengths[rows]
                for j, word in enumerate(words):
                    table_words[j, new_slots] = word[rows]
                table_codes[new_slots] = np.arange(len(first_rows), len(first_rows) + len(rows))
                first_rows.extend((rows + start).tolist())
            again = np.flatnonzero(~same)
            retried = _matches(table_lengths, table_words, slot[again], lengths[again], [w[again] for w in words])
            if not retried.all():
                return None
        codes[start : start + len(slot)] = table_codes[slot]
    return first_rows, codes


def _matches(
    table_lengths: np.ndarray, table_words: np.ndarray, slot: np.ndarray, lengths: np.ndarray, words: list[np.ndarray]
) -> np.ndarray:
    """Whether each row's key equals the key held in its slot."""
    same = table_lengths[slot] == lengths
    for j, word in enumerate(words):
        same &= table_words[j][slot] == word
    return same


def _factorize_by_sorting(column: StringColumn, width: int) -> tuple[list[int], np.ndarray]:
    lengths, words = _keys(column, width)
    keys = np.stack([lengths.astype(np.uint64), *words], axis=1)
    _, first_rows, codes = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first_rows, kind="stable")  # codes in order of first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return first_rows[order].tolist(), rank[codes.reshape(-1)]


def encode(column: Any) -> Any:
    """A `StringColumn` dictionary-encoded; any other column unchanged."""
    return column.encoded() if isinstance(column, StringColumn) else column


__all__ = ["DictColumn", "StringColumn", "encode", "factorize"]
