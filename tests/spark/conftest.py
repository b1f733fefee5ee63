"""One local Spark for the whole test session: local[2], UI off, few shuffle partitions, loopback only.

Skipped (with the reason) where pyspark or Java is missing; `make test` installs pyspark
(the `[spark]` extra) and CI machines have Java 17.
"""

import os
import shutil
import sys

import pytest


@pytest.fixture(scope="session")
def spark():
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install '.[spark]' from a checkout)")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java (17+): none on PATH and no JAVA_HOME")
    from tracestrata.spark.session import local_session

    session = local_session(
        "tracestrata-tests",
        cores=2,
        extra={
            "spark.sql.shuffle.partitions": "2",
            "spark.default.parallelism": "2",
            # small Arrow batches: a partition arrives in several batches, as a big one does
            "spark.sql.execution.arrow.maxRecordsPerBatch": "700",
        },
    )
    yield session
    session.stop()


@pytest.fixture(autouse=True)
def _python_for_workers(monkeypatch):
    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)
