"""Stratum labels as small integer codes: what the sketch groups a batch's rows by.

A `LabelEncoder` is built once from the policy's `[[strata]]`. For each batch it gives
every row the code of its raw label in each dimension (a label is computed once per
distinct value, never once per row: a dictionary column is labelled per entry, a column
of strings through a first-seen table filled in C, numbers by their bucket), and folds
the dimension codes and the cell code into one group number per row. The labels are the
ones before any `top` fold: the sketch folds at the end, with the exact counts.

It also guards memory: `check` stops a dimension with more distinct values than
`max_strata` allows, and `memory_error` names the dimension when memory ran out first.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

import numpy as np

from tracestrata.errors import ConfigError
from tracestrata.columns import Column, DictColumn, FieldValue, numeric_array
from tracestrata.policy.model import DEFAULT_MAX_STRATA, Policy
from tracestrata.policy.signals import column_values
from tracestrata.policy.strata import MISSING, OTHER, bucket_labels, check_strata_count

Labels = tuple[str, ...]
GroupKey = tuple[Labels, int]
"""A sketch group: the raw labels (one per dimension) and the cell code."""


class LabelEncoder:
    """Raw stratum labels -> per-dimension codes -> one group number per row."""

    def __init__(self, policy: Policy, cells: int) -> None:
        """`cells`: how many cell codes there are (the group number's lowest digit)."""
        self._policy = policy
        self._cells = cells
        self.fields = tuple(d.field for d in policy.strata)
        self._labelers = [d.labeler() for d in policy.strata]
        self._edges = [np.asarray(d.edges, dtype=float) if d.edges is not None else None for d in policy.strata]
        self._vocab: list[dict[str, int]] = [{} for _ in policy.strata]
        self.names: list[list[str]] = [[] for _ in policy.strata]
        self._string_codes: list[dict[str, int]] = [{} for _ in policy.strata]

    def codes(self, columns: Mapping[str, Column], n: int) -> list[np.ndarray]:
        """Per dimension, each row's code of its raw label."""
        return [self._dim_codes(i, columns[path], n) for i, path in enumerate(self.fields)]

    def group_codes(self, codes: list[np.ndarray], cells: np.ndarray) -> tuple[np.ndarray, Callable[[int], GroupKey]]:
        """A small non-negative group number per row, and number -> (raw labels, cell)."""
        combined, radices = cells, self._cells
        for i, c in enumerate(codes):
            size = max(1, len(self.names[i]))
            if radices * size >= 2**62:  # too many combinations for one integer: number the rows seen
                stacked = np.stack([*codes, cells], axis=1)
                uniq_rows, inverse = np.unique(stacked, axis=0, return_inverse=True)
                keys = [self._key(tuple(int(x) for x in row)) for row in uniq_rows]
                return inverse.reshape(-1), keys.__getitem__
            combined = combined + c * radices
            radices *= size
        if radices <= max(len(combined), 1 << 16):
            return combined, self._decode
        uniq, inverse = np.unique(combined, return_inverse=True)  # sparse: renumber the ones present
        return inverse.reshape(-1), lambda g: self._decode(int(uniq[g]))

    def check(self, groups: Collection[GroupKey]) -> None:
        """Stop before a high-cardinality dimension grows memory without bound (`max_strata`)."""
        policy = self._policy
        combinations = len(groups) // max(1, self._cells) if len(groups) > policy.max_strata else 0
        if combinations or any(len(names) > policy.max_strata for names in self.names):
            if combinations:
                combinations = len({labels for labels, _ in groups})
            distinct = [len(names) for names in self.names]
            check_strata_count(policy.strata, distinct, combinations, policy.max_strata, source=policy.source)

    def memory_error(self, free: Callable[[], None]) -> ConfigError | None:
        """Memory ran out before `max_strata` stopped the strata: the one line naming the fix
        (None when the strata are few, so they are not the cause). `free` drops what the
        sketch holds, to make room for the message.

        Each stratum holds its candidates and their records (with a target of 2 and a value
        per trace, every trace), so a `max_strata` raised past what memory holds fails here.
        """
        policy = self._policy
        distinct = [len(names) for names in self.names]
        if not distinct or max(distinct) <= DEFAULT_MAX_STRATA:
            return None
        free()
        widest = max(range(len(distinct)), key=distinct.__getitem__)
        return ConfigError(
            f"ran out of memory with '{policy.strata[widest].field}' at {distinct[widest]:,} distinct values "
            f"(max_strata = {policy.max_strata:,}): add `top = 20` to that [[strata]] table (the 20 most "
            f"frequent values, the rest in {OTHER}), cut it with `edges`, or lower max_strata",
            path=policy.source,
            field=f"strata[{widest}]",
        )

    def _key(self, codes: tuple[int, ...]) -> GroupKey:
        *dim_codes, cell = codes
        return tuple(self.names[i][c] for i, c in enumerate(dim_codes)), cell

    def _decode(self, value: int) -> GroupKey:
        cell = value % self._cells
        value //= self._cells
        labels = []
        for names in self.names:
            size = max(1, len(names))
            labels.append(names[value % size])
            value //= size
        return tuple(labels), cell

    def _code(self, i: int, label: str) -> int:
        vocab = self._vocab[i]
        code = vocab.get(label)
        if code is None:
            code = vocab[label] = len(self.names[i])
            self.names[i].append(label)
        return code

    def _dim_codes(self, i: int, col: Column, n: int) -> np.ndarray:
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
        return self._codes_one_by_one(i, column_values(col), n)

    def _codes_one_by_one(self, i: int, col: Sequence[FieldValue], n: int) -> np.ndarray:
        """Codes of a column of mixed values: strings through a cache, anything else labelled alone."""
        labeler = self._labelers[i]
        cache = self._string_codes[i]
        try:
            codes = [cache.get(v) for v in col]  # type: ignore[arg-type]  # the cache holds str keys only
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

    def _bucket_codes(self, i: int, col: Column, edges: np.ndarray) -> np.ndarray:
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


class _NotText(Exception):
    """A value other than str/None in a column `_first_seen_codes` is reading."""


class _FirstSeen(dict[str | None, int]):
    """value -> order of first appearance, filled by `__missing__` during a C-level `map`."""

    __slots__ = ()

    def __missing__(self, value: str | None) -> int:
        if value is not None and type(value) is not str:
            raise _NotText
        code = self[value] = len(self)
        return code


def _first_seen_codes(col: Iterable[FieldValue], n: int) -> tuple[list[str | None], np.ndarray] | None:
    """(distinct values in order of first appearance, each row's index into them) for a column
    of str/None, in one pass in C; None for any other column.

    Other types are excluded because `1`, `1.0` and `True` are one dict key but
    three different labels.
    """
    seen = _FirstSeen()
    try:
        try:  # up to 256 distinct values: one byte per row
            raw = np.frombuffer(bytearray(map(seen.__getitem__, col)), dtype=np.uint8)  # type: ignore[arg-type]
        except ValueError:  # more: the values seen so far keep their numbers
            raw = np.fromiter(map(seen.__getitem__, col), dtype=np.int64, count=n)  # type: ignore[arg-type]
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


_BUCKET_CACHE: dict[tuple[float, ...], tuple[str, ...]] = {}


def _bucket_names(edges: np.ndarray) -> tuple[str, ...]:
    key = tuple(float(e) for e in edges)
    names = _BUCKET_CACHE.get(key)
    if names is None:
        names = _BUCKET_CACHE[key] = bucket_labels(key)
    return names


__all__ = ["GroupKey", "LabelEncoder", "Labels"]
