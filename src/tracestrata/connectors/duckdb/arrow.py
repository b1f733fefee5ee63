"""Arrow columns from DuckDB as the sketch reads them, and DuckDB values as a record's JSON values,
normalized as the files path normalizes them (`TraceRecord.from_json`), so the sample is the same."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeAlias

import numpy as np

from tracestrata.errors import InputError
from tracestrata.record import TEXT_FIELDS, format_timestamp
from tracestrata.columns import DictColumn, StringColumn
from tracestrata.policy.strata import normalize_top, source_value

if TYPE_CHECKING:
    import pyarrow as pa

#: A column as the sketch reads it (see `tracestrata.columns`).
SketchColumn: TypeAlias = "StringColumn | DictColumn | np.ndarray | list[object]"
#: An Arrow column of a batch or a table.
ArrowColumn: TypeAlias = "pa.Array | pa.ChunkedArray"


def decode_json(text: str | bytes) -> object:
    """The files path's decoder (msgspec): same ints, floats and strings."""
    return _decoder()(text)


@functools.cache
def _decoder() -> Callable[[str | bytes], object]:
    """Imported on first use: a Parquet export in the trace layout never needs it (start-up)."""
    import msgspec

    return msgspec.json.Decoder().decode


def json_errors() -> type[Exception]:
    import msgspec

    return msgspec.DecodeError


def strings(array: ArrowColumn) -> StringColumn:
    import pyarrow as pa

    from tracestrata.sampling.frames import arrow_column

    column = arrow_column(array if pa.types.is_string(array.type) or pa.types.is_large_string(array.type) else array.cast(pa.large_string()))
    assert isinstance(column, StringColumn)
    return column


def sketch_column(path: str, array: ArrowColumn, kind: str, backend: str = "files") -> SketchColumn:
    """An Arrow column as the sketch reads it, normalized like `TraceRecord.from_json`;
    a trace without a `source` is of `backend`, as its record says."""
    import pyarrow as pa

    column = _json_column(path, array) if kind == "json" else _typed_column(path, array)
    head = path.partition(".")[0]
    text = kind != "json" and (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)
                               or getattr(pa.types, "is_string_view", lambda _: False)(array.type))
    if head in ("tags", *TEXT_FIELDS) and isinstance(column, DictColumn):  # once per distinct value
        return normalized(head, column)
    if head in ("tags", *TEXT_FIELDS) and not (text or isinstance(column, np.ndarray)) or head == "source":
        values = as_list(column)
        if head == "source":
            key, default = path.partition(".")[2], {"backend": backend}
            return [source_value(default if v is None else v, key) if v is None or isinstance(v, (dict, str)) else v for v in values]
        return normalize_top(head, values)
    return column


def _json_column(path: str, array: ArrowColumn) -> DictColumn:
    """JSON text decoded as the files path decodes it, once per distinct value."""
    import pyarrow as pa

    from tracestrata.sampling.frames import arrow_field_column

    texts = arrow_field_column(array if pa.types.is_string(array.type) else array.cast(pa.large_string()))
    assert isinstance(texts, DictColumn)
    try:
        values = [None if v is None else decode_json(v) for v in texts.values]
    except json_errors() as exc:  # NaN, Infinity: DuckDB reads them, the files path does not
        raise InputError(f"not valid JSON: {exc}", field=path) from None
    return DictColumn(texts.codes, values)


def _typed_column(path: str, array: ArrowColumn) -> SketchColumn:
    import pyarrow as pa

    from tracestrata.sampling.frames import arrow_field_column

    kind = array.type
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_struct(kind) or pa.types.is_map(kind):
        return [plain(path, v) for v in array.to_pylist()]
    if pa.types.is_boolean(kind):
        array = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
        values = flags(array)
        if not array.null_count:
            return values
        codes = values.astype(np.int64)
        codes[~validity(array)] = -1
        return DictColumn(codes, [False, True])
    if pa.types.is_integer(kind) and array.null_count and not _float_exact(array):
        return array.to_pylist()  # nulls and integers past 2**53: a float array would round them
    return arrow_field_column(array)


def normalized(head: str, column: DictColumn) -> DictColumn:
    """`normalize_top` of a dictionary-encoded column, applied to its distinct values."""
    values, codes = normalize_top(head, column.values), column.codes
    if len(codes) and int(codes.min()) < 0:
        missing = normalize_top(head, [None])[0]
        if missing is not None:
            values, codes = [*values, missing], np.where(codes < 0, len(values), codes)
    return DictColumn(codes, values)


def flags(array: pa.Array) -> np.ndarray:
    """A non-null Arrow boolean array as numpy, from its bit buffer (pyarrow's own way imports pandas)."""
    bits = np.frombuffer(array.buffers()[1], dtype=np.uint8)
    return np.unpackbits(bits, bitorder="little")[array.offset : array.offset + len(array)].astype(bool)


def validity(array: pa.Array) -> np.ndarray:
    """Which rows of an Arrow array hold a value."""
    bits = np.frombuffer(array.buffers()[0], dtype=np.uint8)
    return np.unpackbits(bits, bitorder="little")[array.offset : array.offset + len(array)].astype(bool)


def _float_exact(array: ArrowColumn) -> bool:
    """Whether every integer of the column is exact as a float (|v| <= 2**53)."""
    import pyarrow.compute as pc

    low, high = pc.min_max(array).values()
    return low.as_py() is None or (-(2**53) <= low.as_py() and high.as_py() <= 2**53)


def as_list(column: SketchColumn) -> list[object]:
    if isinstance(column, np.ndarray):
        if column.dtype.kind == "f":
            return [None if v != v else v for v in column.tolist()]
        return column.tolist()
    if isinstance(column, (StringColumn, DictColumn)):
        return column.tolist()
    return list(column)


def plain(name: str, value: object) -> object:
    """A JSON-like value of a record field: JSON text decoded, a struct without its absent keys, a map as a dict."""
    if isinstance(value, str) and name in ("metadata", "scores", "tags"):  # JSON text in a text column
        try:
            value = decode_json(value)
        except json_errors():
            return None
    if isinstance(value, list) and value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
        return {k: v for k, v in value}
    if isinstance(value, dict):
        return {k: _plain_value(v) for k, v in value.items() if v is not None}
    return _plain_value(value)


def _plain_value(value: object) -> object:
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, dict):
        return {k: _plain_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_plain_value(v) for v in value]
    return value


__all__ = [
    "ArrowColumn",
    "SketchColumn",
    "as_list",
    "decode_json",
    "flags",
    "json_errors",
    "normalized",
    "plain",
    "sketch_column",
    "strings",
    "validity",
]
