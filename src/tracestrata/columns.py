"""String and dictionary-encoded columns that the sampler reads as buffers, not as Python objects.

On object arrays, in-memory sampling spends most of its time reading scattered Python
strings: every string is a cache miss. Arrow and pandas keep strings in one of two
contiguous forms: offsets into a single byte buffer, or small integer codes into a few
distinct values. `StringColumn` and `DictColumn` hold exactly those layouts in plain
numpy. The core therefore stays free of pyarrow and pandas, and a caller can hand over
the buffers of an Arrow array or a pandas `str`/`category` column without copying them
(`tracestrata.sampling.frames` does this).

Every operation here gives the same result as the same values held in a Python list
(tested).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Protocol, TypeAlias, TypeVar, Union, overload, runtime_checkable

import numpy as np

from tracestrata.errors import InputError

FieldValue: TypeAlias = Union[str, int, float, bool, None, list["FieldValue"], dict[str, "FieldValue"]]
"""One trace field's value, as `TraceRecord.from_json` normalizes JSON: what signals test and strata label."""
JsonObject: TypeAlias = dict[str, FieldValue]
"""A JSON object, as a policy table or a sample line is written."""
Column: TypeAlias = Union[Sequence[FieldValue], np.ndarray, "StringColumn", "DictColumn"]
"""The values of one field for a batch of traces: a list, a numpy array (NaN = missing) or a buffer column."""

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX = np.uint64(0xFF51AFD7ED558CCD)
# _BYTE_MASKS[k] keeps the low k bytes of a little-endian word.
_BYTE_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], dtype=np.uint64)
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
    evaluated once per distinct value, not once per row. `values` are kept as Python
    values (a numpy array or numpy scalars are converted), as a JSON record holds them.
    """

    codes: np.ndarray
    values: Sequence[FieldValue]

    def __post_init__(self) -> None:
        values = self.values.tolist() if isinstance(self.values, np.ndarray) else self.values
        if any(isinstance(v, np.generic) for v in values):
            values = [v.item() if isinstance(v, np.generic) else v for v in values]
        object.__setattr__(self, "values", values)
        codes = self.codes
        if codes.ndim != 1 or codes.dtype.kind not in "iu":
            raise ValueError("DictColumn.codes: expected a 1-d integer array")
        if len(codes) and (int(codes.min()) < -1 or int(codes.max()) >= len(self.values)):
            raise ValueError(f"DictColumn.codes: expected codes in [-1, {len(self.values)})")

    def __len__(self) -> int:
        return len(self.codes)

    @overload
    def __getitem__(self, index: int) -> FieldValue: ...
    @overload
    def __getitem__(self, index: slice) -> DictColumn: ...
    def __getitem__(self, index: int | slice) -> FieldValue | DictColumn:
        if isinstance(index, slice):
            return DictColumn(self.codes[index], self.values)
        code = int(self.codes[index])
        return None if code < 0 else self.values[code]

    def __iter__(self) -> Iterator[FieldValue]:
        return iter(self.tolist())

    def tolist(self) -> list[FieldValue]:
        return [None if c < 0 else self.values[c] for c in self.codes.tolist()]

    def take(self, per_value: np.ndarray, missing: object) -> np.ndarray:
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

    A row's key is its byte length plus the 64-bit words of its bytes, which together
    spell the string exactly. Keys are hashed into a table that holds, per slot, the key
    of the first row to reach it. Every row is then compared, key against key, with its
    slot's key; a row that matches has that slot's value.

    When two values share a slot, the rows of the one that came second do not match.
    They are set aside and go through the same steps again, with another hash and a
    larger table. So each round costs time linear in the rows it is given, and it
    never gives a wrong code. After `_MAX_ROUNDS` rounds, whatever is left is sorted.
    Rows are read in chunks, so the temporaries stay in cache.
    """
    n = len(column)
    if n == 0:
        return [], np.zeros(0, dtype=np.intp)
    width = max(1, (int(column.lengths().max()) + 7) // 8)
    codes = np.empty(n, dtype=np.intp)
    first_bits = min(_FIRST_BITS, max(8, n.bit_length() + 1))  # small columns: a small table
    table = _Table(first_bits, width, 0)
    rest = _Rest(width)
    for start in range(0, n, _ROWS):
        lengths, words = _keys(column[start : start + _ROWS], width)
        rows = np.arange(start, start + len(lengths))
        codes[start : start + len(rows)] = table.add(lengths, words, rows, rest)
    first_rows = table.first_rows
    for round_ in range(1, _MAX_ROUNDS + 1):
        if not rest.rows:
            break
        rows, lengths, words = rest.take()
        if round_ == _MAX_ROUNDS:  # pathological: sort what is left
            local_first, local = _unique_keys(lengths, words)
            codes[rows] = local + len(first_rows)
            first_rows += rows[local_first].tolist()
            break
        table = _Table(min(_MAX_BITS, max(first_bits, len(rows).bit_length() + 1) + 2 * round_), width, round_)
        for start in range(0, len(rows), _ROWS):
            part = slice(start, start + _ROWS)
            found = table.add(lengths[part], [w[part] for w in words], rows[part], rest)
            matched = found >= 0
            codes[rows[part][matched]] = found[matched] + len(first_rows)
        first_rows += table.first_rows
    first = np.asarray(first_rows, dtype=np.intp)
    order = np.argsort(first, kind="stable")  # codes in order of first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return column.pick(first[order].tolist()), rank[codes]


_EMPTY = -2  # a slot no row reached; a key's length is >= -1 (-1: missing)
_FIRST_BITS = 16  # the first table: at most 65,536 slots
_MAX_BITS = 20  # tables of at most ~1M slots (8 MB per key word)
_MAX_ROUNDS = 8


def _keys(column: StringColumn, width: int) -> tuple[np.ndarray, list[np.ndarray]]:
    lengths = column.lengths()
    words = column.words(width, lengths)
    if column.valid is not None:
        lengths = np.where(column.valid, lengths, -1)  # a missing row is not the empty string
    return lengths, words


class _Rest:
    """The rows set aside in a round: their numbers and keys, collected chunk by chunk."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.rows: list[np.ndarray] = []
        self.lengths: list[np.ndarray] = []
        self.words: list[list[np.ndarray]] = []

    def add(self, rows: np.ndarray, lengths: np.ndarray, words: list[np.ndarray], which: np.ndarray) -> None:
        self.rows.append(rows[which])
        self.lengths.append(lengths[which])
        self.words.append([w[which] for w in words])

    def take(self) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        rows, lengths = np.concatenate(self.rows), np.concatenate(self.lengths)
        words = [np.concatenate([w[j] for w in self.words]) for j in range(self.width)]
        self.rows, self.lengths, self.words = [], [], []
        return rows, lengths, words


class _Table:
    """One round's hash table: per slot, the key of the first row that reached it and its code."""

    def __init__(self, bits: int, width: int, salt: int) -> None:
        size = 1 << bits
        self.lengths = np.full(size, _EMPTY, dtype=np.int64)
        self.words = np.zeros((width, size), dtype=np.uint64)
        self.codes = np.full(size, -1, dtype=np.intp)
        self.first_rows: list[int] = []
        self.drop = np.uint64(64 - bits)
        self.salt = np.uint64((salt * 0x632BE59BD9B4E019) & ((1 << 64) - 1))

    def add(self, lengths: np.ndarray, words: list[np.ndarray], rows: np.ndarray, rest: _Rest) -> np.ndarray:
        """Each row's code in this table (claiming free slots for new keys), -1 for a row set aside."""
        with np.errstate(over="ignore"):  # multiplicative hashing: the top bits depend on every bit
            mixed = (lengths.view(np.uint64) ^ self.salt) * _GOLDEN
            for word in words:
                mixed ^= word
                mixed *= _MIX
        slot = (mixed >> self.drop).view(np.int64)
        same = self._matches(slot, lengths, words)
        if not same.all():  # keys new to the table, or a collision
            fresh = np.flatnonzero(~same)
            fresh = fresh[self.lengths[slot[fresh]] == _EMPTY]
            if len(fresh):  # claim each free slot for the first row that reached it
                new_slots, first = np.unique(slot[fresh], return_index=True)
                claimed = fresh[first]
                order = np.argsort(claimed, kind="stable")
                new_slots, claimed = new_slots[order], claimed[order]
                self.lengths[new_slots] = lengths[claimed]
                for j, word in enumerate(words):
                    self.words[j, new_slots] = word[claimed]
                self.codes[new_slots] = np.arange(len(self.first_rows), len(self.first_rows) + len(claimed))
                self.first_rows.extend(rows[claimed].tolist())
            again = np.flatnonzero(~same)
            same[again] = self._matches(slot[again], lengths[again], [w[again] for w in words])
        codes = self.codes[slot]
        if not same.all():
            aside = ~same
            codes[aside] = -1
            rest.add(rows, lengths, words, aside)
        return codes

    def _matches(self, slot: np.ndarray, lengths: np.ndarray, words: list[np.ndarray]) -> np.ndarray:
        """Whether each row's key equals the key held in its slot."""
        same = self.lengths[slot] == lengths
        for j, word in enumerate(words):
            same &= self.words[j][slot] == word
        return same


def _unique_keys(lengths: np.ndarray, words: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(a row of each distinct key, each row's index into them) by sorting: the last resort."""
    keys = np.stack([lengths.astype(np.uint64), *words], axis=1)
    _, first_rows, codes = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    return first_rows, codes.reshape(-1)


def encode(column: Column) -> Column:
    """A `StringColumn` dictionary-encoded; any other column unchanged."""
    return column.encoded() if isinstance(column, StringColumn) else column


def rows_not_in(column: Column, allowed: Collection[FieldValue]) -> np.ndarray | None:
    """A mask of the rows whose value is not in `allowed` (None when every row's is), read once
    per distinct value of a `DictColumn`."""
    if isinstance(column, DictColumn):
        bad = np.array([v not in allowed for v in column.values] + [None not in allowed], dtype=bool)
        mask = bad[column.codes]  # code -1 (missing) reads the last entry
    else:
        mask = np.fromiter((v not in allowed for v in column), dtype=bool, count=len(column))
    return mask if mask.any() else None


_NUMERIC = frozenset({float, int, type(None)})


def numeric_array(col: Sequence[FieldValue]) -> np.ndarray | None:
    """A list of numbers and Nones as a float array (None -> NaN), or None if anything else is in it."""
    first = next((v for v in col if v is not None), None)
    if type(first) not in _NUMERIC or not set(map(type, col)) <= _NUMERIC:
        return None
    try:
        return np.array(col, dtype=float)
    except OverflowError:  # an integer past the float range (400 digits): one line, not a crash
        big = next(v for v in col if isinstance(v, int) and abs(v) > 2**1000)
        raise InputError(f"the number {str(big)[:20]}... ({len(str(big))} digits) is beyond the range of a float") from None


T = TypeVar("T", covariant=True)


@runtime_checkable
class Picks(Protocol[T]):
    """Values that pick rows themselves: a `StringColumn`, or payloads made in one call per batch."""

    def pick(self, rows: list[int]) -> list[T]: ...


def picker(values: Sequence[T] | Picks[T]) -> Callable[[list[int]], list[T]]:
    """A function of rows giving `[values[i] for i in rows]`, in C (asked once per batch)."""
    if isinstance(values, Picks):
        return values.pick
    return lambda rows: list(map(values.__getitem__, rows))


__all__ = [
    "Column",
    "DictColumn",
    "FieldValue",
    "JsonObject",
    "Picks",
    "StringColumn",
    "encode",
    "factorize",
    "numeric_array",
    "picker",
    "rows_not_in",
]
