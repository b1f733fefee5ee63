"""A Parquet export that changes while it is sampled: the right records or one line, never wrong records.

The selected records are read back by (file, row) after the sampling scan; a file rewritten in
place, a file landing on an object store, or a value appearing between the vocabulary read and
the scan must not hand back another trace's record or move a trace to the missing stratum.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tracestrata.connectors.duckdb import formats as duckdb_formats
from tracestrata.connectors.duckdb import records as duckdb_records
from tracestrata.connectors.duckdb import relation as duckdb_relation
from tracestrata.connectors.duckdb.source import DuckDBTraceSource
from tracestrata.errors import InputError
from tracestrata.record import TraceRecord
from tracestrata.policy.parse import parse_policy
from tracestrata.sampling.sample_result import SampleResult
from tracestrata.sampling.samplers import sample_column_batches

POLICY = parse_policy({"seed": "changes", "strata": [{"field": "release"}], "targets": {"default": 100}}, source="test")


def write(path: Path, prefix: str, n: int, *, order: list[int] | None = None, release: str = "v1") -> None:
    """`n` traces `prefix0..`, each with its own latency (so a record read is known to be its own)."""
    rows = order if order is not None else list(range(n))
    pq.write_table(
        pa.table({
            "id": [f"{prefix}{i}" for i in rows],
            "timestamp": pa.array([1767225600 + i for i in rows], pa.int64()),
            "release": [release if i != 0 or prefix != "b" else "v2" for i in rows],
            "latency_ms": pa.array([float(i) + (1000 if prefix == "b" else 0) for i in rows]),
        }),
        path,
    )


def export(tmp_path: Path) -> Path:
    folder = tmp_path / "pq"
    folder.mkdir()
    write(folder / "a.parquet", "a", 5)
    write(folder / "b.parquet", "b", 5)
    return folder


def scan(source: DuckDBTraceSource) -> SampleResult:
    result = sample_column_batches(source.iter_column_batches(None, POLICY.fields()), POLICY)
    assert len(result.selected) == 10  # every trace: each record is checked
    return result


def completed(source: DuckDBTraceSource, result: SampleResult) -> list[TraceRecord]:
    """The selected traces' full records, as sampling completes them at the end."""
    full = source.complete_records([s.record for s in result.selected])
    return [full[s.record.id] for s in result.selected]


def assert_own_records(records: list[TraceRecord], stubs: list[str]) -> None:
    assert [r.id for r in records] == stubs
    for record in records:
        number = float(record.id[1:]) + (1000 if record.id[0] == "b" else 0)
        assert record.latency_ms == number, record


def test_a_file_rewritten_in_place_gives_the_sampled_records(tmp_path):
    folder = export(tmp_path)
    source = DuckDBTraceSource(str(folder))
    result = scan(source)
    stubs = [s.record.id for s in result.selected]
    write(folder / "b.parquet", "b", 5, order=[4, 3, 2, 1, 0])  # the same traces, rows reordered
    rows = {s.record.id: s.record.row for s in result.selected}  # type: ignore[attr-defined]
    moved = source.records_at([rows["b0"], rows["b1"]])
    assert {r.id for r in moved.values()} == {"b4", "b3"}  # what the rows now hold: not the sampled traces
    assert_own_records(completed(source, result), stubs)
    source.close()


def test_a_sampled_trace_gone_from_the_export_is_one_line(tmp_path):
    folder = export(tmp_path)
    source = DuckDBTraceSource(str(folder))
    result = scan(source)
    write(folder / "b.parquet", "b", 3, order=[2, 1, 0])  # b3 and b4 are gone
    with pytest.raises(InputError, match=r"the export changed while it was being sampled .*: rerun") as caught:
        completed(source, result)
    assert "\n" not in str(caught.value)
    source.close()


def test_an_object_store_glob_is_listed_once(tmp_path, monkeypatch):
    """A file landing on the store mid-run (sorted first) shifts no `file_index`: the list is frozen."""
    folder = export(tmp_path)
    monkeypatch.setattr(duckdb_relation, "open_object_store", lambda con, location: None)  # file:// needs no credentials
    source = DuckDBTraceSource(f"file://{folder}/*.parquet")
    result = scan(source)
    stubs = [s.record.id for s in result.selected]
    write(folder / "0.parquet", "z", 5)
    at = source.records_at([s.record.row for s in result.selected])  # type: ignore[attr-defined]
    assert [at[s.record.row].id for s in result.selected] == stubs  # type: ignore[attr-defined]
    assert_own_records(completed(source, result), stubs)
    source.close()


def test_a_value_appearing_after_the_vocabulary_read_is_one_line(tmp_path, monkeypatch):
    """The release values are listed by a read before the scan; `v3` written in between is not among them."""
    folder = export(tmp_path)
    listed = DuckDBTraceSource._distinct

    def list_then_change(self: DuckDBTraceSource, sql: str) -> list[tuple[object, ...]]:
        found = listed(self, sql)
        write(folder / "a.parquet", "a", 5, release="v3")
        return found

    monkeypatch.setattr(DuckDBTraceSource, "_distinct", list_then_change)
    source = DuckDBTraceSource(str(folder))
    with pytest.raises(InputError, match=r"the export changed while it was being sampled \(a value of release") as caught:
        scan(source)
    assert caught.value.path == str(folder) and "\n" not in str(caught.value)
    source.close()


def test_missing_values_still_read_as_missing(tmp_path):
    """NULL is a code of its own (1), not the code of a value not listed (0)."""
    folder = tmp_path / "pq"
    folder.mkdir()
    pq.write_table(pa.table({"id": ["x", "y", "z"], "timestamp": [1767225600] * 3, "release": ["v1", None, "v1"]}),
                   folder / "a.parquet")
    source = DuckDBTraceSource(str(folder))
    result = sample_column_batches(source.iter_column_batches(None, POLICY.fields()), POLICY)
    strata = {s.record.id: s.stratum for s in result.selected}
    assert strata["x"] == strata["z"] != strata["y"]
    source.close()


def test_an_empty_or_missing_status_is_ok_when_status_comes_as_codes(tmp_path):
    """`status` is coded from its raw values ('' and NULL among them); both read as `ok`, as on the files path."""
    folder = tmp_path / "pq"
    folder.mkdir()
    statuses = ["ok", "", None, "error", "ok", None]
    pq.write_table(pa.table({"id": [f"t{i}" for i in range(6)], "timestamp": [1767225600] * 6, "status": statuses}),
                   folder / "a.parquet")
    policy = parse_policy({"seed": "s", "strata": [{"field": "status"}], "targets": {"default": 10}}, source="test")
    source = DuckDBTraceSource(str(folder))
    result = sample_column_batches(source.iter_column_batches(None, policy.fields()), policy)
    assert {s.record.id: s.stratum for s in result.selected} == {f"t{i}": "error" if i == 3 else "ok" for i in range(6)}
    assert source.complete_records([s.record for s in result.selected])["t1"].status == "ok"
    source.close()


def test_unchanged_local_files_are_read_back_without_their_ids(tmp_path, monkeypatch):
    """Files as they were listed (same inode, size, change time): the rows hold the sampled traces,
    so the records are read without the id column and equal those read with it."""
    monkeypatch.setattr(duckdb_formats, "RACY_NS", 0)  # files written moments ago are otherwise not trusted
    folder = export(tmp_path)
    source = DuckDBTraceSource(str(folder))
    result = scan(source)
    assert source.unchanged()
    rows = {s.record.row: s.record.id for s in result.selected}  # type: ignore[attr-defined]
    assert duckdb_records.records_at(source, list(rows), ids=rows) == source.records_at(list(rows))
    assert_own_records(completed(source, result), [s.record.id for s in result.selected])
    write(folder / "a.parquet", "a", 5, order=[4, 3, 2, 1, 0])
    assert not source.unchanged()  # and the records are read by row with their ids checked, as above
    source.close()


def test_files_changed_moments_ago_are_not_trusted_without_their_ids(tmp_path):
    """A file written within the last two seconds may be rewritten with the same size in the same
    coarse clock tick (FAT, SMB, older kernels): its stamps are not trusted, the ids are checked."""
    folder = export(tmp_path)
    source = DuckDBTraceSource(str(folder))
    scan(source)
    assert not source.unchanged()
    source.close()


def test_a_file_replaced_while_the_records_are_read_back_gives_the_sampled_records(tmp_path, monkeypatch):
    """The stamps are checked before and after the read without ids: a file replaced in between
    (same size, rows reordered) is read again with its ids checked, never trusted."""
    monkeypatch.setattr(duckdb_formats, "RACY_NS", 0)
    folder = export(tmp_path)
    source = DuckDBTraceSource(str(folder))
    result = scan(source)
    calls = []
    real = duckdb_relation.ExportRelation.unchanged

    def replaced_after_the_first_check(self):
        calls.append(1)
        if len(calls) == 1:  # the check says unchanged, then the file is replaced before the read
            assert real(self)
            write(folder / "a.parquet", "a", 5, order=[4, 3, 2, 1, 0])
            return True
        return real(self)

    monkeypatch.setattr(duckdb_relation.ExportRelation, "unchanged", replaced_after_the_first_check)
    assert_own_records(completed(source, result), [s.record.id for s in result.selected])
    source.close()
