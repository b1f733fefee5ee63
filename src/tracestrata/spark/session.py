"""A local SparkSession that starts fast and stays on this machine (tests, benchmarks, `--master local`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

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
) -> Any:
    """`local[cores]` (or `master`) with the UI off and the driver on 127.0.0.1; workers run this Python."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master or f"local[{cores}]").appName(app).config("spark.driver.memory", memory)
    for key, value in {**LOCAL_CONF, **(extra or {})}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


__all__ = ["LOCAL_CONF", "local_session"]
