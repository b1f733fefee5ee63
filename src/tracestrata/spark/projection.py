"""The driver's side: select from a DataFrame only what the sample needs, under fixed names.

The projection has `id`, `timestamp`, one column per field the policy reads (`field_0`,
`field_1`, ... in `policy.fields()` order) and the record fields the DataFrame has
(`record_` + name), which only the selected traces turn into JSON. Spark then reads
only those columns (column pruning on Parquet) and pushes the window filter on a
`timestamp` column of timestamp type down to the scan.

A field path is resolved against the schema: `metadata.intent` reads a struct field or a
map key; a path the schema does not have reads as missing (null), as an absent JSON key
does on the files path. `columns` maps a path (or `id`, `timestamp`) to any Spark SQL
expression instead, for exports whose schema differs from the trace record:
`{"id": "trace_id", "metadata.intent": "get_json_object(metadata, '$.intent')"}`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING

from tracestrata.errors import ConfigError, InputError, first_line
from tracestrata.protocols import Window
from tracestrata.record import RECORD_FIELDS
from tracestrata.spark.partitions import BLOCK, FILE, ID, RECORD_PREFIX, TIMESTAMP, field_column

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame


def project(
    df: DataFrame,
    fields: Sequence[str],
    window: Window | None = None,
    columns: Mapping[str, str] | None = None,
    *,
    source_order: bool = False,
) -> DataFrame:
    """The DataFrame the partitions sketch (see the module docstring).

    `source_order` adds where each row was read (`FILE`, `BLOCK`: its file and the start of
    the file's split), which orders repeated trace ids as the files path meets them.
    """
    from pyspark.errors import PySparkException
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    mapping = dict(columns or {})
    selected = []
    try:
        for name in (ID, TIMESTAMP):
            if name in mapping:
                selected.append(F.expr(mapping[name]).alias(name))
            elif name in df.columns:
                selected.append(F.col(_quoted(name)).alias(name))
            else:
                what = "the trace id" if name == ID else "the trace time"
                raise InputError(
                    f"the DataFrame has no column {name!r} ({what}); map one with columns={{{name!r}: 'your_column'}}"
                )
        for i, path in enumerate(fields):
            column = F.expr(mapping[path]) if path in mapping else _path_column(df, path, F, T)
            selected.append(column.alias(field_column(i)))
        for name in RECORD_FIELDS:
            if name in (ID, TIMESTAMP):
                continue
            if name in mapping:
                selected.append(F.expr(mapping[name]).alias(RECORD_PREFIX + name))
            elif name in df.columns:
                selected.append(F.col(_quoted(name)).alias(RECORD_PREFIX + name))
        if source_order:
            selected += [F.input_file_name().alias(FILE), F.input_file_block_start().alias(BLOCK)]
        projected = df.select(*selected)
        schema = projected.schema  # analysis errors (a mapping naming a missing column) show here
    except PySparkException as exc:
        raise ConfigError(f"column mapping: {first_line(exc)}", field="columns") from None
    if window is not None and isinstance(schema[TIMESTAMP].dataType, T.TimestampType):
        stamp = F.col(TIMESTAMP)
        projected = projected.where((stamp >= F.lit(window.start)) & (stamp < F.lit(window.end)))
    return projected


def _path_column(df: DataFrame, path: str, F: ModuleType, T: ModuleType) -> Column:
    # F, T: pyspark.sql.functions and .types, imported by the caller
    """`path` read through the schema's structs and maps; a null literal where it has no such field."""
    head, _, rest = path.partition(".")
    if head not in df.columns:
        return F.lit(None)
    column, kind = F.col(_quoted(head)), df.schema[head].dataType
    if head == "source" and isinstance(kind, T.StringType):  # a bare backend name
        return column if rest == "backend" else F.lit(None)
    if rest and isinstance(kind, T.StringType):  # JSON text: Spark has no typed reading of it
        raise InputError(
            f"{head} is text (JSON?) in this DataFrame, so {path} cannot be read from it: map it, e.g. "
            f"columns={{{path!r}: \"get_json_object({head}, '$.{rest}')\"}} (--column on the command line), "
            "or give the data a schema with a struct"
        )
    for part in rest.split(".") if rest else ():
        if isinstance(kind, T.StructType):
            if part not in kind.fieldNames():
                return F.lit(None)
            column, kind = column.getField(part), kind[part].dataType
        elif isinstance(kind, T.MapType):
            column, kind = column.getItem(part), kind.valueType
        else:
            return F.lit(None)
    return column


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


__all__ = ["project"]
