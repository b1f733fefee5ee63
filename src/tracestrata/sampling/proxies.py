"""Proxy totals per cell, accumulated inside the sampling pass (count, sum, sum of squares).

A proxy is a cheap signal known on *every* trace (`[[proxy]] field = ...` in the
policy). Estimators need its exact population totals per cell, so the sketch adds
them up over all traces, not only the sampled ones.

Sums are kept in fixed point (each value, and its square, rounded to a multiple of
2^-30, about 1e-9) and added as integers: integer addition is associative, so the
totals do not depend on batch boundaries, `--jobs` partitions or merge order, and
two sketches of disjoint partitions merge to exactly the totals of their union.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
import numpy as np

from tracestrata.design import ProxyTotals
from tracestrata.errors import InputError
from tracestrata.record import MAX_SCORE, TraceRecord
from tracestrata.columns import Column, DictColumn, FieldValue, StringColumn
from tracestrata.policy.strata import record_column

SCALE_BITS = 30
_SCALE = float(2**SCALE_BITS)
_DIGIT = float(2**26)  # digits of this size, 2^26 of them at most, sum exactly in float64


def proxy_values(column: Column, field: str) -> np.ndarray:
    """The column as floats (booleans as 0/1, missing as NaN); `InputError` on anything else."""
    if isinstance(column, DictColumn):
        per_value = _as_floats(list(column.values), field)
        return column.take(per_value, math.nan)
    if isinstance(column, StringColumn):
        values: Sequence[FieldValue] = column.pick(list(range(len(column))))
    elif isinstance(column, np.ndarray):
        if column.dtype.kind in "fiub":
            out = column.astype(float)
            if np.isinf(out).any():
                raise InputError(f"proxy value {float(out[np.isinf(out)][0])!r} is not finite", field=field)
            return out
        values = column.tolist()
    else:
        values = column
    return _as_floats(values, field)


_NUMERIC = frozenset({float, int, type(None)})


def _as_floats(values: Sequence[FieldValue], field: str) -> np.ndarray:
    kinds = set(map(type, values))
    if kinds <= _NUMERIC:  # numbers and None: one conversion in C (None -> NaN)
        try:
            out = np.array(values, dtype=float)
        except OverflowError:
            raise InputError("a proxy value is an integer beyond the range of a float", field=field) from None
        if not np.isfinite(out[~np.isnan(out)]).all():
            raise InputError("proxy values must be finite numbers", field=field)
        return out
    out = np.empty(len(values), dtype=float)
    for i, v in enumerate(values):
        kind = type(v)
        if kind is float or kind is int:
            if not math.isfinite(v):
                raise InputError(f"proxy value {v!r} is not finite", field=field)
            out[i] = v
        elif v is None:
            out[i] = math.nan
        elif kind is bool:
            out[i] = 1.0 if v else 0.0
        else:
            raise InputError(f"expected a number or boolean proxy value, got {v!r}", field=field)
    return out


def group_totals(values: np.ndarray, group_of: np.ndarray, groups: int) -> list[tuple[int, int, int]]:
    """(count, fixed-point sum, fixed-point sum of squares) of the non-NaN values per group code."""
    ok = ~np.isnan(values)
    codes = group_of[ok]
    v = values[ok]
    if len(v) and float(np.abs(v).max()) > MAX_SCORE:  # checked where proxies enter: sums of squares stay finite
        raise InputError(f"proxy value {float(v[np.argmax(np.abs(v))])!r} is beyond ±{MAX_SCORE:g}: rescale the proxy")
    counts = np.bincount(codes, minlength=groups).tolist()
    sums = _exact_sums(np.rint(v * _SCALE), codes, groups)
    sumsqs = _exact_sums(np.rint(v * v * _SCALE), codes, groups)
    return list(zip(counts, sums, sumsqs, strict=True))


def _exact_sums(q: np.ndarray, codes: np.ndarray, groups: int) -> list[int]:
    """Per-group sums of integer-valued floats, exactly.

    q is split into base-2^26 digits (exact operations on integer-valued floats); a
    batch's digits sum below 2^53, where float64 adds integers exactly, so each
    digit's `bincount` is exact and the digits recombine as Python ints.
    """
    totals = [0] * groups
    if len(q) == 0:
        return totals
    chunk = 1 << 26
    scale = 1
    for start in range(0, len(q), chunk):  # a batch is far smaller; bounded anyway
        part, where = q[start : start + chunk], codes[start : start + chunk]
        scale = 1
        while True:
            if float(np.abs(part).max(initial=0.0)) < _DIGIT:
                sums = np.bincount(where, weights=part, minlength=groups).tolist()
                totals = [t + int(x) * scale for t, x in zip(totals, sums, strict=True)]
                break
            high = np.floor(part / _DIGIT)
            low = part - high * _DIGIT
            sums = np.bincount(where, weights=low, minlength=groups).tolist()
            totals = [t + int(x) * scale for t, x in zip(totals, sums, strict=True)]
            part, scale = high, scale * (1 << 26)
    return totals


def to_totals(n: int, qsum: int, qsumsq: int) -> ProxyTotals:
    return ProxyTotals(int(n), qsum / 2**SCALE_BITS, qsumsq / 2**SCALE_BITS)


def batch_totals(
    paths: Sequence[str], columns: Mapping[str, Column], group_of: np.ndarray, fresh: np.ndarray | None
) -> list[list[tuple[int, int, int]]] | None:
    """Per group code, per proxy path: (n, fixed-point sum, sumsq) over a batch's `fresh` rows
    (every row when None); None when the policy has no proxies."""
    if not paths:
        return None
    groups = int(group_of.max()) + 1 if len(group_of) else 0
    codes = group_of if fresh is None else group_of[fresh]
    per_proxy = []
    for path in paths:
        values = proxy_values(columns[path], path)
        per_proxy.append(group_totals(values if fresh is None else values[fresh], codes, groups))
    return [list(t) for t in zip(*per_proxy, strict=True)]


def cell_totals(paths: Sequence[str], sums: Sequence[Sequence[int]]) -> dict[str, ProxyTotals]:
    """A cell's totals by proxy field path, from its fixed-point sums (none yet: zeros)."""
    if not paths:
        return {}
    rows = sums or [[0, 0, 0] for _ in paths]
    return {path: to_totals(*t) for path, t in zip(paths, rows, strict=True)}


def unit_proxies(paths: Sequence[str], records: Sequence[TraceRecord]) -> list[dict[str, float | None]]:
    """Each record's proxy values by field path (None where it has none)."""
    if not paths:
        return [{} for _ in records]
    columns = [proxy_values(record_column(records, path), path).tolist() for path in paths]
    return [
        {path: (None if v != v else v) for path, v in zip(paths, row, strict=True)}
        for row in zip(*columns, strict=True)
    ]


__all__ = ["SCALE_BITS", "batch_totals", "cell_totals", "group_totals", "proxy_values", "to_totals", "unit_proxies"]
