"""A local SparkSession that starts fast and stays on this machine (tests, benchmarks, `--master local`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from tracestrata.connectors import split_source_spec
from tracestrata.errors import ConfigError, FailingError, InputError, first_line
from tracestrata.record import TEXT_FIELDS

if TYPE_CHECKING:  # pyspark is the optional `spark` extra
    from pyspark.sql import DataFrame, SparkSession

LOCAL_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.maxRecordsPerBatch": "65536",  # the sketch's batch size (Spark's default: 10,000)
}


def local_session(
    app: str, *, master: str | None = None, cores: int = 2, memory: str = "2g", extra: Mapping[str, str] | None = None
) -> SparkSession:
    """`local[cores]` (or `master`) with the UI off and the driver on 127.0.0.1; workers run this Python."""
    import warnings

    from pyspark.sql import SparkSession

    # pyspark 4.x warns on every mapInArrow that pandas 3 is untested; tracestrata does not use pandas there
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master or f"local[{cores}]").appName(app).config("spark.driver.memory", memory)
    for key, value in {**LOCAL_CONF, **(extra or {})}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("FATAL")  # a failed read is our one line, not the executor's stack trace
    return session


def require_pyspark() -> None:
    """`ConfigError` with the install line when pyspark is missing."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise ConfigError("spark-sample needs pyspark: install the spark extra (pip install '.[spark]' from a checkout)") from None


FORMATS = ("parquet", "json", "jsonl", "csv", "orc", "table")


def read_source(
    spark: SparkSession, spec: str, text_columns: Collection[str] = (), stamp_columns: Collection[str] = ()
) -> tuple[DataFrame, str]:
    """(DataFrame, source name) for `parquet:PATH`, `json:PATH` (JSON lines), `csv:PATH`, `orc:PATH`
    or `table:NAME`; PATH is anything Spark reads (a folder, a glob, `s3a://`, `gs://`, `abfss://`).

    CSV is read as RFC 4180 (doubled quotes, quoted line breaks), as DuckDB reads it, with
    types inferred except for the id, the text fields and `text_columns`, which stay text
    ("007" is not 7). The trace time (`timestamp` and `stamp_columns`) stays text if Spark would
    read it as a timestamp: Spark also reads time zone names ("... America/New_York"), which
    the files path refuses, so the text is checked as that path checks it.
    """
    from pyspark.errors import PySparkException

    kind, location = split_source_spec(spec)
    if kind not in FORMATS:
        raise ConfigError(f"expected one of {', '.join(f'{f}:' for f in FORMATS)}, got {kind!r}", field="--source")
    try:
        with read_errors(location):
            if kind == "table":
                df = spark.table(location)
            elif kind in ("json", "jsonl"):
                df = spark.read.json(location)
            elif kind == "csv":
                df = _read_csv(spark, location, {"id", *TEXT_FIELDS, *text_columns}, {"timestamp", *stamp_columns})
            else:
                df = getattr(spark.read, kind)(location)
    except PySparkException as exc:
        raise InputError(first_line(exc), path=location) from None
    return df, f"{kind}:{location}"


def _read_csv(spark: SparkSession, location: str, text: set[str], stamps: set[str]) -> DataFrame:
    from pyspark.sql import types as T

    reader = spark.read.option("header", True).option("escape", '"').option("multiLine", True)
    inferred = reader.option("inferSchema", True).csv(location).schema
    zoned = (T.TimestampType, T.TimestampNTZType)
    schema = T.StructType(
        [
            T.StructField(f.name, T.StringType(), True)
            if f.name in text or (f.name in stamps and isinstance(f.dataType, zoned))
            else f
            for f in inferred.fields
        ]
    )
    return reader.schema(schema).csv(location)


def start_spark(master: str | None, cores: int) -> SparkSession:
    """The session spark-submit (or a notebook) set up, else a local one on this machine."""
    import logging
    import os

    from pyspark.sql import SparkSession

    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)  # repeats what our one line says

    launched = "PYSPARK_GATEWAY_PORT" in os.environ  # spark-submit started this Python
    if master is None and (launched or SparkSession.getActiveSession() is not None):
        return SparkSession.builder.appName("tracestrata-spark-sample").getOrCreate()
    if master is None or master.startswith("local"):
        return local_session("tracestrata-spark-sample", master=master, cores=cores)
    from py4j.protocol import Py4JJavaError

    from tracestrata.spark.master import require_reachable, shown_master

    require_reachable(master)
    try:
        return SparkSession.builder.appName("tracestrata-spark-sample").master(master).getOrCreate()
    except Py4JJavaError as exc:  # reachable, but it did not take the application (not a master, gone since)
        message = first_line(Exception(str(exc.java_exception.getMessage() or "")))
        raise FailingError(
            f"the Spark master {shown_master(master)} did not start the application: {message}", field="--master"
        ) from None


@contextmanager
def read_errors(where: str | None) -> Iterator[None]:
    """A file Spark cannot read (corrupt, or a column's type differing between files) as one
    `InputError` line instead of a JVM stack trace."""
    from py4j.protocol import Py4JJavaError

    try:
        yield
    except Py4JJavaError as exc:
        message = first_line(Exception(str(exc.java_exception.getMessage() or "")))
        raise InputError(f"Spark cannot read the data: {message}", path=where) from None


__all__ = ["FORMATS", "LOCAL_CONF", "local_session", "read_errors", "read_source", "require_pyspark", "start_spark"]
