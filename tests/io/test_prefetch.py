"""A prefetched iterator gives the same items in order, raises where the producer failed, and
stops its thread when the consumer stops early."""

import threading
import time

import pytest

from tracestrata.io.prefetch import prefetched


def test_same_items_in_the_same_order():
    assert list(prefetched(iter(range(1000)), depth=3)) == list(range(1000))
    assert list(prefetched([])) == []


def test_the_producers_error_is_raised_after_the_items_before_it():
    def items():
        yield 1
        yield 2
        raise ValueError("row 3 is bad")

    seen = []
    with pytest.raises(ValueError, match="row 3 is bad"):
        for item in prefetched(items()):
            seen.append(item)
    assert seen == [1, 2]


def test_closing_early_stops_the_producer_before_it_reads_on():
    produced = []

    def items():
        for i in range(1_000_000):
            produced.append(i)
            yield i

    iterator = prefetched(items(), depth=2)
    assert next(iterator) == 0
    iterator.close()
    count = len(produced)
    time.sleep(0.2)
    assert len(produced) == count <= 5  # the item in hand, the queue, and no more
    assert not [t for t in threading.enumerate() if t.name == "prefetch"]


def test_a_consumer_error_stops_the_producer_too():
    def items():
        yield from range(100)

    with pytest.raises(RuntimeError):
        for item in prefetched(items()):
            if item == 3:
                raise RuntimeError("consumer failed")
    assert not [t for t in threading.enumerate() if t.name == "prefetch"]


def test_closing_a_duckdb_source_mid_scan_stops_its_reading_thread(tmp_path):
    import duckdb

    from tracestrata.connectors.duckdb.source import DuckDBTraceSource

    path = tmp_path / "t.parquet"
    duckdb.sql(
        f"COPY (SELECT 'id-' || i AS id, TIMESTAMPTZ '2026-01-01' AS timestamp FROM range(300000) t(i)) TO '{path}' (FORMAT parquet)"
    )
    source = DuckDBTraceSource(str(path), batch_rows=2048)
    batches = source.iter_column_batches(None, [])
    assert len(next(batches).ids) > 0  # the sketch failed here, say: the scan is never finished
    source.close()
    assert not [t for t in threading.enumerate() if t.name == "prefetch"]


def test_a_producer_still_busy_when_closed_is_interrupted():
    release = threading.Event()
    interrupted = []

    def items():
        yield 0
        release.wait(5)  # a slow read; `interrupt` ends it
        yield 1

    iterator = prefetched(items(), interrupt=lambda: (interrupted.append(True), release.set()))
    assert next(iterator) == 0
    time.sleep(0.1)  # the producer is inside its slow read
    start = time.monotonic()
    iterator.close()
    assert interrupted and time.monotonic() - start < 2
