"""Sample a pandas DataFrame or an Arrow table in memory, reading its columns as buffers.

    import pandas as pd
    from tracestrata import load_policy
    from tracestrata.sampling.frames import sample_frame, selected_frame

    frame = pd.json_normalize(traces)  # columns named like the policy's fields: "metadata.intent"
    result = sample_frame(frame, load_policy("policy.toml"))
    picked = selected_frame(result)     # id, stratum, cell, failure, signals, inclusion_probability, weight

A column is found under the policy's field path (`metadata.intent`, as
`pd.json_normalize` names it), or under the name `rename` gives for that path.
String columns (pandas `str` backed by Arrow, Arrow `string`/`large_string`) and
`category`/dictionary columns are handed to the core without a copy, as
`StringColumn`/`DictColumn`; numbers and booleans as numpy arrays; anything else as
Python values. The sample is the one `tracestrata sample` draws from the same traces.
Needs `pip install '.[frames]'` from a checkout (pandas and pyarrow).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
import pyarrow as pa

from tracestrata.errors import InputError
from tracestrata.record import RECORD_FIELDS, TraceRecord
from tracestrata.columns import Column, DictColumn, FieldValue, JsonObject, StringColumn
from tracestrata.sampling.manifest import DESIGN_FIELDS
from tracestrata.policy.model import Policy
from tracestrata.sampling.sample_result import SampleResult
from tracestrata.sampling.samplers import sample_columns

if TYPE_CHECKING:
    import pandas as pd

    Frame: TypeAlias = pd.DataFrame | pa.Table | pa.RecordBatch
    """A pandas DataFrame or an Arrow table (one row per trace)."""
    FrameColumn: TypeAlias = pd.Series | pa.Array | pa.ChunkedArray


def sample_frame(
    frame: Frame,
    policy: Policy,
    *,
    id_column: str = "id",
    rename: Mapping[str, str] | None = None,
    boost_collected: Mapping[str, int] | None = None,
    full_records: bool = False,
) -> SampleResult:
    """Sample the rows of a pandas DataFrame or a pyarrow Table (one row per trace).

    Each selected trace's record holds its id (join back on `id_column`, or use
    `selected_frame`). With `full_records`, it is rebuilt from the row's columns named
    like record fields (`timestamp`, `status`, `tags`, `metadata.intent`, `scores.x`,
    ...; missing values left out), the record `tracestrata sample` would read, as
    `write_sample_dir` needs; without a `timestamp` column its timestamp is the epoch.
    That costs ~20 µs per selected trace.
    """
    ids, columns = frame_columns(frame, policy.fields(), id_column=id_column, rename=rename)
    if not full_records:
        return sample_columns(ids, columns, policy, boost_collected=boost_collected)

    def records_of(rows: list[int]) -> list[TraceRecord]:
        return frame_records(frame, rows, id_column=id_column, rename=rename)

    return sample_columns(ids, columns, policy, boost_collected=boost_collected, records_of=records_of)


def frame_records(
    frame: Frame, rows: list[int], *, id_column: str = "id", rename: Mapping[str, str] | None = None
) -> list[TraceRecord]:
    """The `TraceRecord`s of some rows (by position), from the columns named like record fields."""
    paths = {column: path for path, column in (rename or {}).items()}
    paths[id_column] = "id"
    if isinstance(frame, (pa.Table, pa.RecordBatch)):
        flat_rows = frame.take(pa.array(rows, type=pa.int64())).to_pylist()
    else:
        flat_rows = frame.iloc[rows].to_dict("records")
    out = []
    for row, flat in zip(rows, flat_rows, strict=True):
        data: JsonObject = {"timestamp": _EPOCH}
        for column, value in flat.items():
            path = paths.get(column, column)
            if path.partition(".")[0] not in RECORD_FIELDS or _missing(value):
                continue
            _put(data, path, _plain(value))
        try:
            out.append(TraceRecord.from_json(data))
        except InputError as exc:
            raise InputError(exc.message, path=f"row {row}", field=exc.field) from None
    return out


def frame_columns(
    frame: Frame, fields: list[str], *, id_column: str = "id", rename: Mapping[str, str] | None = None
) -> tuple[Column, dict[str, Column]]:
    """(ids, {field path: column}) for `sample_columns`, without copying string buffers."""
    names = dict(rename or {})
    ids = _ids(_get(frame, id_column, "the trace id"))
    columns = {path: _get(frame, names.get(path, path), f"the policy's field {path!r}") for path in fields}
    return ids, {path: as_column(values) for path, values in columns.items()}


def selected_frame(result: SampleResult) -> pd.DataFrame:
    """The sample as a pandas DataFrame: one row per selected trace, its id and design fields
    (the columns `sample.jsonl` adds to a record)."""
    import pandas as pd

    columns: dict[str, list[object]] = {"id": [s.record.id for s in result.selected]}
    for name in DESIGN_FIELDS:
        values = [getattr(s, name) for s in result.selected]
        if name == "kind":
            values = [kind.value for kind in values]
        elif name == "signals":
            values = [list(fired) for fired in values]
        columns[name] = values
    return pd.DataFrame(columns)


def as_column(values: FrameColumn) -> Column:
    """One pandas Series or Arrow (chunked) array as a column the core reads."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return arrow_column(values)
    return pandas_column(values)


def pandas_column(series: pd.Series) -> Column:
    dtype = series.dtype
    if dtype.name == "category":
        return DictColumn(series.cat.codes.to_numpy(), series.cat.categories.tolist())
    if not isinstance(dtype, np.dtype):  # str, string, nullable Int64/boolean...: through Arrow
        return arrow_column(pa.array(series))
    if dtype.kind in "fiub":  # numpy numbers and booleans: NaN is missing
        return series.to_numpy()
    return [None if _missing(v) else v for v in series.tolist()]  # object, datetime...


def arrow_column(array: pa.Array | pa.ChunkedArray) -> Column:
    if isinstance(array, pa.ChunkedArray):
        array = array.chunk(0) if array.num_chunks == 1 else array.combine_chunks()
    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _strings(array)
    if getattr(pa.types, "is_string_view", lambda _: False)(kind):  # pyarrow >= 16
        return _strings(array.cast(pa.large_string()))
    if pa.types.is_dictionary(kind):
        indices = array.indices.cast(pa.int64()).fill_null(-1)
        return DictColumn(indices.to_numpy(), array.dictionary.to_pylist())
    if array.null_count == 0 and (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)):
        return array.to_numpy(zero_copy_only=False)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return array.cast(pa.float64()).to_numpy(zero_copy_only=False)  # null -> NaN: missing
    if pa.types.is_boolean(kind):
        codes = array.cast(pa.int8()).fill_null(-1).to_numpy()
        return DictColumn(codes, [False, True])
    return array.to_pylist()


def arrow_field_column(array: pa.Array | pa.ChunkedArray) -> Column:
    """A field's Arrow column as the core reads it, text dictionary-encoded by Arrow.

    The sketch reads text columns as `DictColumn`s (each distinct value labelled once);
    Arrow's hash-based `dictionary_encode` gives the codes the core's `factorize` gives
    (values in order of first appearance, a null as one of them) at about half the cost.
    Ids stay `StringColumn`s (`arrow_column`): the hash reads their bytes.
    """
    if isinstance(array, pa.ChunkedArray):
        array = array.chunk(0) if array.num_chunks == 1 else array.combine_chunks()
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return arrow_column(array)
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(array, null_encoding="encode")
    indices = encoded.indices
    codes = np.frombuffer(indices.buffers()[1], dtype=np.int32, count=len(indices), offset=indices.offset * 4)
    return DictColumn(codes, encoded.dictionary.to_pylist())


def _strings(array: pa.Array) -> StringColumn:
    validity, offsets, data = array.buffers()[:3]
    width = np.int64 if pa.types.is_large_string(array.type) else np.int32
    n, start = len(array), array.offset
    offsets_np = np.frombuffer(offsets, dtype=width)[start : start + n + 1] if offsets else np.zeros(1, dtype=width)
    data_np = np.frombuffer(data, dtype=np.uint8) if data else np.zeros(0, dtype=np.uint8)
    valid = None
    if validity is not None and array.null_count:
        bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
        valid = bits[start : start + n].astype(bool)
    return StringColumn(offsets_np, data_np, valid)


def _ids(values: FrameColumn) -> Column:
    column = as_column(values)
    if isinstance(column, StringColumn):
        if column.valid is not None and not column.valid.all():
            raise InputError(f"row {int(np.argmin(column.valid))}: the trace id is missing")
        return column
    ids = column.tolist() if isinstance(column, (DictColumn, np.ndarray)) else column
    for row, value in enumerate(ids):
        if not isinstance(value, str) or not value:
            raise InputError(f"row {row}: expected the trace id as a non-empty string, got {value!r}")
    return ids


def _get(frame: Frame, name: str, what: str) -> FrameColumn:
    if isinstance(frame, (pa.Table, pa.RecordBatch)):
        found = name in frame.column_names
        values = frame.column(name) if found else None
    else:
        found = name in frame.columns
        values = frame[name] if found else None
    if not found:
        raise InputError(
            f"the frame has no column {name!r} ({what}); name it so, or map it with rename={{path: column}}"
        )
    return values


_EPOCH = "1970-01-01T00:00:00Z"


def _put(data: JsonObject, path: str, value: FieldValue) -> None:
    """`data["metadata"]["intent"] = value` for the path `metadata.intent`."""
    *heads, last = path.split(".")
    for head in heads:
        inner = data.get(head)
        if not isinstance(inner, dict):
            inner = data[head] = {}
        data = inner
    data[last] = value


def _plain(value: object) -> FieldValue:
    """A JSON-like Python value: numpy scalars unwrapped, timestamps as ISO 8601, arrays as lists."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _missing(value: object) -> bool:
    """pandas' missing markers in an object column: None, NaN, NA, NaT."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return type(value).__name__ in ("NAType", "NaTType")


__all__ = ["arrow_column", "arrow_field_column", "as_column", "frame_columns", "pandas_column", "sample_frame", "selected_frame"]
