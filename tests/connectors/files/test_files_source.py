"""The JSONL trace source: fast batches, line-numbered errors, --skip-bad, windows, folders."""

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from builders import PATHS, make_policy, record_values, summarize, write_jsonl

from tracestrata.connectors.files.source import FilesTraceSource
from tracestrata.errors import InputError
from tracestrata.protocols import TraceSource, Window
from tracestrata.sampling.samplers import sample_column_batches, sample_records
from tracestrata.synthetic import generate_traces

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(days=1)


@pytest.fixture(scope="module")
def records():
    return list(generate_traces(3000, start=T0, end=T1, seed=11))


def test_is_a_trace_source_and_round_trips(tmp_path, records):
    path = write_jsonl(tmp_path / "t.jsonl", records)
    source = FilesTraceSource(path)
    assert isinstance(source, TraceSource)
    assert list(source.iter_traces(Window(T0, T1))) == records


def test_fast_path_gives_exactly_the_record_path_sample(tmp_path, records):
    path = write_jsonl(tmp_path / "t.jsonl", records)
    policy = make_policy(target=40, top=5, collect=30)
    fast = sample_column_batches(FilesTraceSource(path, chunk_bytes=50_000).iter_column_batches(None, policy.fields()), policy)
    slow = sample_records(records, policy)
    assert summarize(fast) == summarize(slow)
    assert fast.selected == slow.selected and fast.cells == slow.cells


def test_window_is_half_open(tmp_path, records):
    path = write_jsonl(tmp_path / "t.jsonl", records)
    window = Window(records[100].timestamp, records[200].timestamp)
    got = list(FilesTraceSource(path, chunk_bytes=10_000).iter_traces(window))
    assert got == [r for r in records if window.contains(r.timestamp)]
    assert got[0] == records[100] and records[200] not in got


def test_folder_of_files_in_name_order(tmp_path, records):
    write_jsonl(tmp_path / "b.jsonl", records[1000:])
    write_jsonl(tmp_path / "a.jsonl", records[:1000])
    (tmp_path / "notes.txt").write_text("ignored")
    assert list(FilesTraceSource(tmp_path).iter_traces(Window(T0, T1))) == records


BAD_LINES = {
    b"{not json": ("not valid JSON", None),
    b"[1, 2]": ("expected a JSON object", None),
    b'{"timestamp": "2026-01-01T00:00:00Z"}': ("expected a non-empty string", "id"),
    b'{"id": "x"}': ("expected an ISO 8601 timestamp (missing)", "timestamp"),
    b'{"id": "", "timestamp": "2026-01-01T00:00:00Z"}': ("expected a non-empty string", "id"),
}


def error_on_line_21(tmp_path, records, bad, read, expected):
    """`read` of 50 good lines with `bad` as line 21 raises InputError naming the file, line 21 and the
    `expected` (message part, field): (the file, the error)."""
    path = write_jsonl(tmp_path / "t.jsonl", records[:50], {20: bad})
    with pytest.raises(InputError) as info:
        read(path)
    message, field = expected
    assert info.value.line == 21 and info.value.path == str(path) and info.value.field == field
    assert message in info.value.message
    return path, info.value


@pytest.mark.parametrize("bad", list(BAD_LINES), ids=lambda b: b.decode()[:20])
def test_malformed_line_is_reported_with_file_and_line(tmp_path, records, bad):
    path, error = error_on_line_21(
        tmp_path, records, bad, lambda p: list(FilesTraceSource(p).iter_column_batches(None, ())), BAD_LINES[bad]
    )
    assert str(error).startswith(f"{path}:21: ")


def test_skip_bad_counts_and_continues_and_blank_lines_are_ignored(tmp_path, records):
    path = write_jsonl(tmp_path / "t.jsonl", records[:50], {3: b"", 10: b"{oops", 30: b"   ", 40: b"[]"})
    source = FilesTraceSource(path, skip_bad=True)
    rows = [i for batch in source.iter_column_batches(None, ()) for i in batch.ids]
    assert len(rows) == 50 and source.bad_lines == 2
    assert source.first_bad is not None and source.first_bad.line == 11


def test_line_numbers_survive_chunking_and_blank_lines(tmp_path, records):
    path = write_jsonl(tmp_path / "t.jsonl", records[:400], {0: b"", 150: b""})
    numbers = []
    for batch in FilesTraceSource(path, chunk_bytes=7_000).iter_column_batches(None, ()):
        numbers.extend(ref[1] for ref in batch.refs)
    assert numbers == [n for n in range(1, 403) if n not in (1, 151)]


def test_bad_timestamp_under_a_window(tmp_path, records):
    path = write_jsonl(tmp_path / "t.jsonl", records[:5], {2: b'{"id": "x", "timestamp": "yesterday"}'})
    with pytest.raises(InputError, match="yesterday") as info:
        list(FilesTraceSource(path).iter_traces(Window(T0, T1)))
    assert info.value.line == 3 and info.value.field == "timestamp"


def test_selected_record_gets_the_full_schema_check(tmp_path):
    line = b'{"id": "x", "timestamp": "2026-01-01T00:00:00Z", "status": "weird"}'
    path = tmp_path / "t.jsonl"
    path.write_bytes(line + b"\n")
    with pytest.raises(InputError) as info:
        policy = make_policy()
        sample_column_batches(FilesTraceSource(path).iter_column_batches(None, policy.fields()), policy)
    assert info.value.line == 1 and info.value.field == "status"


def test_missing_path_and_no_trailing_newline(tmp_path, records):
    with pytest.raises(InputError, match="no such file"):
        list(FilesTraceSource(tmp_path / "nope.jsonl").iter_all())
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(r.to_json()) for r in records[:3]))
    assert list(FilesTraceSource(path).iter_traces(Window(T0, T1))) == records[:3]


# ---------------------------------------------------------------- the columnar (msgspec) path

from hypothesis import given, settings  # noqa: E402

from tracestrata.connectors.files.source import ColumnDecoder  # noqa: E402
from tracestrata.policy.strata import raw_getter  # noqa: E402


def column_batches(path, policy, window=None, **options):
    return FilesTraceSource(path, **options).iter_column_batches(window, policy.fields())


def test_column_path_gives_exactly_the_record_path_sample(tmp_path, records):
    path = write_jsonl(tmp_path / "t.jsonl", records, {5: b"", 900: b"  "})
    policy = make_policy(target=40, top=5, collect=30)
    for chunk in (3_000, 64_000, 1 << 22):
        fast = sample_column_batches(column_batches(path, policy, chunk_bytes=chunk), policy)
        slow = sample_records(records, policy)
        assert fast.selected == slow.selected and fast.cells == slow.cells


@settings(max_examples=40, deadline=None)
@given(record_values)
def test_decoded_columns_read_like_the_json(data):
    data = {k: v for k, v in data.items() if v is not None} | {"id": "t1", "timestamp": "2026-01-01T00:00:00Z"}
    decoder = ColumnDecoder(PATHS)
    columns = decoder.columns(decoder.many.decode(orjson.dumps([data])))
    for path in PATHS:
        assert columns[path] == [raw_getter(path)(data)], path


COLUMN_BAD_LINES = {
    **BAD_LINES,
    b"[1, 2]": ("expected a JSON object, got array", None),
    b'{"id": 5, "timestamp": "2026-01-01T00:00:00Z"}': ("expected str, got int", "id"),
    b'{"id": "x", "timestamp": "2026-01-01T00:00:00Z", "latency_ms": true}': ("got bool", "latency_ms"),
    b'{"id": "x", "timestamp": "2026-01-01T00:00:00Z", "metadata": [1]}': ("got array", "metadata"),
}


@pytest.mark.parametrize("bad", list(COLUMN_BAD_LINES), ids=lambda b: b.decode()[:24])
def test_column_path_names_the_bad_line(tmp_path, records, bad):
    policy = make_policy()
    path, _ = error_on_line_21(tmp_path, records, bad, lambda p: list(column_batches(p, policy)), COLUMN_BAD_LINES[bad])
    source = FilesTraceSource(path, skip_bad=True)
    rows = sum(len(b.ids) for b in source.iter_column_batches(None, policy.fields()))
    assert rows == 50 and source.bad_lines == 1


def test_column_path_window_and_line_numbers(tmp_path, records):
    path = write_jsonl(tmp_path / "t.jsonl", records[:400], {0: b"", 150: b""})
    window = Window(records[100].timestamp, records[300].timestamp)
    refs = []
    for batch in column_batches(path, make_policy(), window, chunk_bytes=5_000):
        refs.extend(batch.refs[i] for i in range(len(batch.ids)))
    assert [ref[1] for ref in refs] == [n for n in range(1, 403) if n not in (1, 151)][100:300]
    assert [orjson.loads(ref[2])["id"] for ref in refs] == [r.id for r in records[100:300]]


def test_crlf_files_read_the_same(tmp_path, records):
    lines = [orjson.dumps(r.to_json()) for r in records[:30]]
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"\r\n".join(lines[:10] + [b""] + lines[10:]) + b"\r\n")
    policy = make_policy(target=5)
    fast = sample_column_batches(column_batches(path, policy, chunk_bytes=2_000), policy)
    assert fast.selected == sample_records(records[:30], policy).selected
    assert list(FilesTraceSource(path).iter_traces(Window(T0, T1))) == records[:30]


def test_column_window_boundaries_to_the_microsecond(tmp_path):
    base = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    offsets = [-1_000_000, -1, 0, 1, 499_999, 500_000, 999_999, 1_000_000, 2_000_000, 2_500_000, 3_000_000]
    stamps = [base + timedelta(microseconds=o) for o in offsets]
    lines = [
        orjson.dumps({"id": f"t{i}", "timestamp": t.isoformat().replace("+00:00", "Z")}) for i, t in enumerate(stamps)
    ]
    lines.append(orjson.dumps({"id": "offset", "timestamp": "2026-01-01T13:00:01+01:00"}))  # = 12:00:01Z
    lines.append(orjson.dumps({"id": "epoch", "timestamp": base.timestamp() + 2.0}))
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    window = Window(base + timedelta(microseconds=500_000), base + timedelta(microseconds=2_500_000))
    policy = make_policy()
    got = [i for b in column_batches(path, policy, window) for i in b.ids]
    expected = [f"t{i}" for i, t in enumerate(stamps) if window.contains(t)] + ["offset", "epoch"]
    assert got == expected
    assert [r.id for r in FilesTraceSource(path).iter_traces(window)] == expected
