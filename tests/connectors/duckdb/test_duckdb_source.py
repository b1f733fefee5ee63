"""Exports through DuckDB: the same sample, counts and errors as the files path, on JSONL, Parquet and CSV."""

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import orjson
import pytest
from builders import write_jsonl
from click.testing import CliRunner
from identical import assert_identical_samples

from tracestrata.cli.main import cli, main
from tracestrata.connectors import connector_factory
from tracestrata.connectors.duckdb.source import DuckDBTraceSource, check_credentials
from tracestrata.connectors.files.source import FilesTraceSource
from tracestrata.errors import InputError
from tracestrata.protocols import Window
from tracestrata.record import TraceRecord
from tracestrata.policy.parse import load_policy, parse_policy
from tracestrata.synthetic import generate_traces

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(days=1)
CROSSED = str(Path(__file__).resolve().parents[3] / "examples" / "policies" / "crossed.toml")
EDGES = {
    "seed": "edges",
    "strata": [
        {"field": "metadata.intent", "top": 3},
        {"field": "latency_ms", "edges": [1000, 3000, 10000]},
        {"field": "metadata.big", "label": "big"},
    ],
    "targets": {"default": 15},
    "failure": {
        "multiplier": 3,
        "signals": [
            {"name": "error", "field": "status", "equals": "error"},
            {"name": "slow", "field": "latency_ms", "ge": 10000},
            {"name": "thumbs", "field": "scores.user_feedback", "lt": 0.5},
        ],
    },
    "boost": [{"name": "refunds", "field": "metadata.intent", "equals": "refund", "collect": 40}],
}


def edge_records():
    """Synthetic traffic plus the edges: values on bucket edges, missing fields, big ints, non-ASCII ids."""
    records = list(generate_traces(3000, start=T0, end=T1, seed=11))
    out = []
    for index, record in enumerate(records):
        if index % 7:
            out.append(record)
            continue
        i = index // 7
        meta = dict(record.metadata)
        if i % 5 == 0:
            meta.pop("intent", None)
        if i % 7 == 0:
            meta["big"] = 2**53 + 1 + i  # past float precision: exact on every path
        latency = [1000.0, 3000.0, 10000.0, None, 999.999][i % 5]
        trace_id = ["трасса-", "追踪-", "é-", "emoji-😀-", "plain-"][i % 5] + str(i)
        scores = {} if i % 3 else {"user_feedback": [0.0, 0.5, 1.0][i % 9 // 3]}
        out.append(replace(record, id=trace_id, latency_ms=latency, metadata=meta, scores=scores))
    return out


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("exports")
    jsonl = write_jsonl(folder / "traces.jsonl", edge_records())
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    (folder / "parts").mkdir()
    rows = con.sql(f"SELECT * FROM read_json('{jsonl}', format = 'newline_delimited')")
    con.sql(f"COPY (SELECT * FROM rows ORDER BY id) TO '{folder / 'parts'}' (FORMAT parquet, PER_THREAD_OUTPUT)")
    con.sql(f"COPY (SELECT * FROM rows) TO '{folder / 'one.parquet'}' (FORMAT parquet)")
    (folder / "edges.toml").write_text(_toml(EDGES))
    return folder


def _toml(policy):
    lines = [f'seed = "{policy["seed"]}"']
    for d in policy["strata"]:
        lines += ["[[strata]]", *(f"{k} = {json.dumps(v)}" for k, v in d.items())]
    lines += ["[targets]", f"default = {policy['targets']['default']}", "[failure]", f"multiplier = {policy['failure']['multiplier']}"]
    for s in policy["failure"]["signals"]:
        lines += ["[[failure.signals]]", *(f"{k} = {json.dumps(v)}" for k, v in s.items())]
    for b in policy["boost"]:
        lines += ["[[boost]]", *(f"{k} = {json.dumps(v)}" for k, v in b.items())]
    return "\n".join(lines) + "\n"


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.output


def sample(tmp_path, source, policy, name, *extra):
    out = tmp_path / name
    code, output = run("sample", "--source", source, "--policy", policy, "--out", out, "--state", tmp_path / f"{name}.sqlite", *extra)
    assert code == 0, output
    return out


@pytest.mark.parametrize("policy", ["crossed", "edges"])
@pytest.mark.parametrize("window", [(), ("--since", "2026-01-01T06:00:00Z", "--until", "2026-01-01T18:00:00.5Z")])
def test_the_same_sample_from_jsonl_parquet_and_the_files_path(exports, tmp_path, policy, window):
    policy_path = CROSSED if policy == "crossed" else exports / "edges.toml"
    files = sample(tmp_path, f"jsonl:{exports / 'traces.jsonl'}", policy_path, "files", *window)
    jobs = sample(tmp_path, f"jsonl:{exports / 'traces.jsonl'}", policy_path, "jobs", "--jobs", "2", *window)
    through_json = sample(tmp_path, f"duckdb:{exports / 'traces.jsonl'}", policy_path, "json", *window)
    parquet_glob = sample(tmp_path, f"parquet:{exports / 'parts'}/*.parquet", policy_path, "glob", *window)
    parquet_dir = sample(tmp_path, f"parquet:{exports / 'parts'}", policy_path, "dir", *window)
    common = assert_identical_samples(files, through_json, records=True)
    assert_identical_samples(files, jobs, records=True)
    assert_identical_samples(files, parquet_glob)
    assert_identical_samples(files, parquet_dir)
    assert len(common.units) > 100
    manifest = orjson.loads((parquet_glob / "manifest.json").read_bytes())
    assert manifest["source"].startswith("parquet:")
    ids = {json.loads(line)["id"] for line in (through_json / "sample.jsonl").read_text().splitlines()}
    assert any(not i.isascii() for i in ids)


def test_plan_counts_come_from_a_group_by_and_match_the_files_path(exports):
    args = ["plan", "--policy", CROSSED, "--format", "json", "--budget", "1500"]
    code, from_files = run(*args, "--source", f"jsonl:{exports / 'traces.jsonl'}")
    assert code == 0, from_files
    for source in (f"parquet:{exports / 'one.parquet'}", f"duckdb:{exports / 'traces.jsonl'}"):
        code, from_duckdb = run(*args, "--source", source)
        assert code == 0, from_duckdb
        assert json.loads(from_duckdb) == json.loads(from_files)
    code, edges_files = run("plan", "--policy", exports / "edges.toml", "--format", "json", "--source", f"jsonl:{exports / 'traces.jsonl'}")
    code, edges_duck = run("plan", "--policy", exports / "edges.toml", "--format", "json", "--source", f"parquet:{exports / 'one.parquet'}")
    assert code == 0 and json.loads(edges_duck) == json.loads(edges_files)


def test_a_csv_export_with_a_column_mapping(tmp_path):
    records = list(generate_traces(800, start=T0, end=T1, seed=2))
    lines = ["trace_id,ts,intent,latency,state"]
    for r in records:
        lines.append(f"{r.id},{r.timestamp.isoformat()},{r.metadata.get('intent', '')},{r.latency_ms},{r.status}")
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    stripped = [TraceRecord(id=r.id, timestamp=r.timestamp, latency_ms=r.latency_ms, status=r.status, metadata={"intent": r.metadata["intent"]} if r.metadata.get("intent") else {}) for r in records]
    write_jsonl(tmp_path / "t.jsonl", stripped)
    policy = parse_policy({**EDGES, "strata": EDGES["strata"][:2], "failure": {"multiplier": 3, "signals": EDGES["failure"]["signals"][:2]}}, source="t")
    (tmp_path / "p.toml").write_text(_toml({**EDGES, "strata": EDGES["strata"][:2], "failure": {"multiplier": 3, "signals": EDGES["failure"]["signals"][:2]}}))
    assert policy.fields()
    files = sample(tmp_path, f"jsonl:{tmp_path / 't.jsonl'}", tmp_path / "p.toml", "files")
    mapped = sample(
        tmp_path, f"duckdb:{tmp_path / 't.csv'}", tmp_path / "p.toml", "csv",
        "--column", "id=trace_id", "--column", "timestamp=ts", "--column", "metadata.intent=intent",
        "--column", "latency_ms=latency", "--column", "status=state",
    )
    assert_identical_samples(files, mapped)


def test_langfuse_traces_export_layout(tmp_path):
    """The `traces/` table of Langfuse's blob storage export: timestamps as `YYYY-MM-DD HH:MM:SS.ffffff`."""
    records = list(generate_traces(1500, start=T0, end=T1, seed=4))
    con = duckdb.connect()
    rows = [
        {
            "id": r.id, "timestamp": r.timestamp.strftime("%Y-%m-%d %H:%M:%S.%f"), "name": r.name, "environment": "default",
            "user_id": r.user_id, "session_id": r.session_id, "release": r.release, "version": r.version,
            "tags": list(r.tags), "metadata": r.metadata, "input": "{}", "output": "{}", "project_id": "p1",
        }
        for r in records
    ]
    (tmp_path / "traces.jsonl").write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    con.sql(f"COPY (SELECT * FROM read_json('{tmp_path / 'traces.jsonl'}')) TO '{tmp_path / 'traces.parquet'}' (FORMAT parquet)")
    as_records = [replace(r, status="ok", latency_ms=None, cost=None, scores={}, span_id=None) for r in records]
    write_jsonl(tmp_path / "records.jsonl", as_records)
    policy = tmp_path / "p.toml"
    policy.write_text('seed = "lf"\n[[strata]]\nfield = "metadata.intent"\n[[strata]]\nfield = "release"\ntop = 2\n[targets]\ndefault = 20\n')
    files = sample(tmp_path, f"jsonl:{tmp_path / 'records.jsonl'}", policy, "files")
    for spec in (f"parquet:{tmp_path / 'traces.parquet'}", f"duckdb:{tmp_path / 'traces.jsonl'}"):
        out = sample(tmp_path, spec, policy, "lf" + spec[:4], "--schema", "langfuse")
        assert_identical_samples(files, out)
        row = json.loads((out / "sample.jsonl").read_text().splitlines()[0])
        assert row["source"]["backend"] == "langfuse" and row["user_id"].startswith("user-")


def test_phoenix_spans_export_layout_reads_root_spans(tmp_path):
    records = list(generate_traces(1200, start=T0, end=T1, seed=6))
    spans = []
    for r in records:
        end = r.timestamp + timedelta(milliseconds=r.latency_ms or 0)
        root = {
            "context.trace_id": r.id, "context.span_id": r.span_id, "parent_id": None, "name": r.name,
            "start_time": r.timestamp.isoformat(), "end_time": end.isoformat(),
            "status_code": "ERROR" if r.status == "error" else "OK",
            "attributes.metadata": r.metadata, "attributes.user.id": r.user_id,
        }
        child = {**root, "context.span_id": "child-" + str(r.span_id), "parent_id": r.span_id, "status_code": "ERROR"}
        spans += [root, child]
    (tmp_path / "spans.jsonl").write_bytes(b"\n".join(orjson.dumps(s) for s in spans) + b"\n")
    policy = tmp_path / "p.toml"
    policy.write_text(
        'seed = "px"\n[[strata]]\nfield = "metadata.intent"\n[[strata]]\nfield = "latency_ms"\nedges = [1000, 3000]\n'
        '[targets]\ndefault = 20\n[failure]\nmultiplier = 3\n[[failure.signals]]\nname = "error"\nfield = "status"\nequals = "error"\n'
    )
    expected = [
        replace(r, latency_ms=round((r.latency_ms or 0) * 1000) / 1000, tags=(), cost=None, scores={}, session_id=None, release=None, version=None)
        for r in records
    ]
    write_jsonl(tmp_path / "records.jsonl", expected)
    files = sample(tmp_path, f"jsonl:{tmp_path / 'records.jsonl'}", policy, "files")
    out = sample(tmp_path, f"duckdb:{tmp_path / 'spans.jsonl'}", policy, "px", "--schema", "phoenix")
    assert_identical_samples(files, out)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        ("glob", "no files match"),
        ("mapping", 'source.columns.id: Referenced column "trace_id" not found'),
        ("timestamp", "timestamp: expected a timestamp, a date, ISO 8601 text or epoch seconds, got a column of type BOOLEAN"),
        ("s3", "s3 credentials missing: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
        ("text", "timestamp: expected a timestamp, ISO 8601 text or epoch seconds (missing or unreadable; epoch milliseconds are out of range): 1 row(s)"),
        ("twice", 'in line 2: Object {"id":"b","id":"c"'),  # a key twice: loud, never the first or last silently
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, make, expected):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    con = duckdb.connect()
    extra = []
    source = f"parquet:{tmp_path / 't.parquet'}"
    if make == "glob":
        source = f"parquet:{tmp_path / 'nothing'}-*.parquet"
    elif make == "mapping":
        con.sql(f"COPY (SELECT 'a' AS id, TIMESTAMPTZ '2026-01-01' AS timestamp) TO '{tmp_path / 't.parquet'}' (FORMAT parquet)")
        extra = ["--column", "id=trace_id"]
    elif make == "timestamp":
        con.sql(f"COPY (SELECT 'a' AS id, true AS timestamp) TO '{tmp_path / 't.parquet'}' (FORMAT parquet)")
    elif make == "s3":
        source = "parquet:s3://exports/traces/*.parquet"
    elif make == "twice":
        source = f"duckdb:{tmp_path / 't.jsonl'}"
        (tmp_path / "t.jsonl").write_text(
            '{"id":"a","timestamp":"2026-01-01T00:00:00Z"}\n{"id":"b","id":"c","timestamp":"2026-01-01T00:00:01Z"}\n'
        )
    else:
        con.sql(f"COPY (SELECT * FROM (VALUES ('a', '2026-01-01T00:00:00Z'), ('b', 'yesterday')) t(id, timestamp)) TO '{tmp_path / 't.parquet'}' (FORMAT parquet)")
    code = main([str(a) for a in ("sample", "--source", source, "--policy", CROSSED, "--out", tmp_path / "out", *extra)])
    output = capsys.readouterr().err
    assert code == 2, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], output
    assert "Traceback" not in output


def test_credentials_are_checked_by_name_only():
    check_credentials("s3://b/x.parquet", {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"})
    check_credentials("gs://b/x.parquet", {"GCS_ACCESS_KEY_ID": "k", "GCS_SECRET_ACCESS_KEY": "s"})
    check_credentials("az://c/x.parquet", {"AZURE_STORAGE_CONNECTION_STRING": "c"})
    check_credentials("local/x.parquet", {})
    with pytest.raises(InputError, match="az credentials missing"):
        check_credentials("az://c/x.parquet", {})
    with pytest.raises(InputError, match="unsupported URL scheme"):
        check_credentials("ftp://c/x.parquet", {})


def test_the_export_connector_reads_windows_for_sync(exports):
    connector = connector_factory("export")({"path": str(exports / "parts"), "format": "parquet"})
    window = Window(T0 + timedelta(hours=3), T0 + timedelta(hours=4))
    got = sorted(r.id for r in connector.trace_source().iter_traces(window))
    want = sorted(r.id for r in FilesTraceSource(exports / "traces.jsonl").iter_traces(window))
    assert got == want and got
    with pytest.raises(Exception, match="unknown option"):
        connector_factory("export")({"path": "x.parquet", "colums": {}})


def test_records_read_back_are_the_files_records(exports):
    source = DuckDBTraceSource(str(exports / "traces.jsonl"))
    window = Window(T0, T0 + timedelta(hours=2))
    assert list(source.iter_traces(window)) == list(FilesTraceSource(exports / "traces.jsonl").iter_traces(window))
    policy = load_policy(CROSSED)
    assert set(policy.fields()) <= {"metadata.intent", "latency_ms", "status", "metadata.refusal", "scores.user_feedback", "metadata.escalated"}


def test_a_jsonl_line_the_files_path_rejects_is_one_line_and_exit_2(tmp_path, capsys):
    lines = [
        b'{"id": "a", "timestamp": "2026-01-01T00:00:00Z", "metadata": {"intent": "billing"}}',
        b'{"id": "b", "timestamp": "2026-01-01T00:00:01Z", "metadata": "not an object"}',
    ]
    (tmp_path / "t.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    for spec in (f"jsonl:{tmp_path / 't.jsonl'}", f"duckdb:{tmp_path / 't.jsonl'}"):
        code = main(["sample", "--source", spec, "--policy", CROSSED, "--out", str(tmp_path / "out")])
        err = capsys.readouterr().err
        assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_a_bad_line_after_the_first_batch_or_only_in_a_selected_record_is_one_line_and_exit_2(tmp_path, capsys):
    good = [orjson.dumps({"id": f"t{i}", "timestamp": "2026-01-01T00:00:00Z"}) for i in range(5000)]
    (tmp_path / "late.jsonl").write_bytes(b"\n".join([*good, b'{"id": "x", broken']) + b"\n")
    source = DuckDBTraceSource(str(tmp_path / "late.jsonl"), batch_rows=512)  # the bad line is many batches in
    policy = load_policy(CROSSED)
    with pytest.raises(InputError, match="cannot read a value: Malformed JSON"):
        for _ in source.iter_column_batches(None, policy.fields()):
            pass
    # NaN: DuckDB reads it, the files path's decoder does not; the one trace is selected
    (tmp_path / "nan.jsonl").write_bytes(b'{"id": "a", "timestamp": "2026-01-01T00:00:00Z", "cost": NaN}\n')
    code = main(["sample", "--source", f"duckdb:{tmp_path / 'nan.jsonl'}", "--policy", CROSSED, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "not valid JSON" in err, err


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_a_signal_field_no_trace_has_is_warned_about_as_on_the_files_path(tmp_path, capsys, fmt):
    rows = [{"id": f"t{i}", "timestamp": "2026-01-01T00:00:00Z", "status": "ok", "metadata": {"intent": "a"}} for i in range(20)]
    write_jsonl(tmp_path / "t.jsonl", [TraceRecord.from_json(r) for r in rows])
    policy = tmp_path / "p.toml"
    policy.write_text(
        'seed = "w"\n[[strata]]\nfield = "metadata.intent"\n[targets]\ndefault = 5\n[failure]\nmultiplier = 2\n'
        '[[failure.signals]]\nname = "user"\nfield = "user_id"\nexists = true\n'
        '[[failure.signals]]\nname = "flag"\nfield = "metadata.flag"\nequals = true\n'
    )
    spec = f"duckdb:{tmp_path / 't.jsonl'}"
    if fmt == "parquet":
        duckdb.sql(f"COPY (SELECT * FROM read_json('{tmp_path / 't.jsonl'}')) TO '{tmp_path / 't.parquet'}' (FORMAT parquet)")
        spec = f"parquet:{tmp_path / 't.parquet'}"
    for command in ("sample", "plan"):
        warnings = {}
        for name, source in (("files", f"jsonl:{tmp_path / 't.jsonl'}"), ("duckdb", spec)):
            extra = ["--out", str(tmp_path / name)] if command == "sample" else ["--rate", "0.1"]
            assert main([command, "--source", source, "--policy", str(policy), *extra]) == 0
            warnings[name] = sorted(line for line in capsys.readouterr().err.splitlines() if "warning" in line)
        assert warnings["files"] and warnings["duckdb"] == warnings["files"], command


def test_source_fields_read_as_on_the_files_path(tmp_path):
    lines = [
        {"id": "s1", "timestamp": "2026-01-01T00:00:00Z", "source": {"backend": "langfuse", "project": "alpha"}},
        {"id": "s2", "timestamp": "2026-01-01T00:00:01Z", "source": {"backend": "phoenix", "project": "beta"}},
        {"id": "s3", "timestamp": "2026-01-01T00:00:02Z"},  # no source: the files backend
    ]
    (tmp_path / "t.jsonl").write_bytes(b"\n".join(orjson.dumps(r) for r in lines) + b"\n")
    (tmp_path / "bare.jsonl").write_bytes(
        (tmp_path / "t.jsonl").read_bytes() + b'{"id": "s4", "timestamp": "2026-01-01T00:00:03Z", "source": "langfuse"}\n'
    )
    con = duckdb.connect()
    con.sql("SET TimeZone = 'UTC'")
    con.sql(f"COPY (SELECT * FROM read_json('{tmp_path / 't.jsonl'}')) TO '{tmp_path / 't.parquet'}' (FORMAT parquet)")
    policy = tmp_path / "p.toml"
    policy.write_text('seed = "s"\n[[strata]]\nfield = "source.project"\n[[strata]]\nfield = "source.backend"\n[targets]\ndefault = 5\n')
    for name, base, spec in (
        ("json", "t.jsonl", f"duckdb:{tmp_path / 't.jsonl'}"),
        ("bare", "bare.jsonl", f"duckdb:{tmp_path / 'bare.jsonl'}"),
        ("parquet", "t.jsonl", f"parquet:{tmp_path / 't.parquet'}"),
    ):
        files = sample(tmp_path, f"jsonl:{tmp_path / base}", policy, f"files-{name}")
        assert_identical_samples(files, sample(tmp_path, spec, policy, name))


def test_a_metadata_key_with_a_quote_or_backslash_reads_on_both_paths(tmp_path):
    rows = [{"id": f"q{i}", "timestamp": "2026-01-01T00:00:00Z", "metadata": {'a"b': f"v{i % 2}", "c\\d": i % 3 == 0}} for i in range(12)]
    (tmp_path / "t.jsonl").write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    policy = tmp_path / "p.toml"
    policy.write_text(
        "seed = \"q\"\n[[strata]]\nfield = 'metadata.a\"b'\n[targets]\ndefault = 3\n[failure]\nmultiplier = 2\n"
        "[[failure.signals]]\nname = \"flag\"\nfield = 'metadata.c\\d'\nequals = true\n"
    )
    files = sample(tmp_path, f"jsonl:{tmp_path / 't.jsonl'}", policy, "files")
    assert_identical_samples(files, sample(tmp_path, f"duckdb:{tmp_path / 't.jsonl'}", policy, "duckdb"))
    assert {json.loads(line)["stratum"] for line in (files / "sample.jsonl").read_text().splitlines()} == {"v0", "v1"}


def test_plan_buckets_a_numeric_source_project_and_a_field_the_export_lacks(tmp_path):
    con = duckdb.connect()
    con.sql(
        f"COPY (SELECT 'p' || i AS id, TIMESTAMPTZ '2026-01-01' AS timestamp, {{'backend': 'files', 'project': i}} AS source "
        f"FROM range(30) t(i)) TO '{tmp_path / 't.parquet'}' (FORMAT parquet)"
    )
    policy = tmp_path / "p.toml"
    policy.write_text('seed = "b"\n[[strata]]\nfield = "source.project"\nedges = [10, 100]\n[[strata]]\nfield = "latency_ms"\nedges = [1000]\n[targets]\ndefault = 5\n')
    code, output = run("plan", "--source", f"parquet:{tmp_path / 't.parquet'}", "--policy", policy, "--rate", "0.1")
    assert code == 0, output
    assert "10–100" in output and "<10" in output


def test_csv_text_fields_stay_text(tmp_path):
    """The CSV sniffer would read the ids "007" and "7" as one number and release "1.10" as 1.1."""
    (tmp_path / "t.csv").write_text(
        "trace_id,timestamp,release,user_id\n007,2026-01-01T01:00:00Z,1.10,00123\n"
        "7,2026-01-01T02:00:00Z,1.1,123\n42,2026-01-01T03:00:00Z,1.10,00123\n"
    )
    rows = [
        {"id": i, "timestamp": t, "release": r, "user_id": u}
        for i, t, r, u in (("007", "2026-01-01T01:00:00Z", "1.10", "00123"), ("7", "2026-01-01T02:00:00Z", "1.1", "123"),
                           ("42", "2026-01-01T03:00:00Z", "1.10", "00123"))
    ]
    (tmp_path / "t.jsonl").write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    (tmp_path / "p.toml").write_text(
        'seed = "csv"\n[[strata]]\nfield = "release"\n[[failure.signals]]\nname = "u"\nfield = "user_id"\nequals = "00123"\n'
    )
    files = sample(tmp_path, f"jsonl:{tmp_path / 't.jsonl'}", tmp_path / "p.toml", "files")
    csv = sample(tmp_path, f"duckdb:{tmp_path / 't.csv'}", tmp_path / "p.toml", "csv", "--column", "id=trace_id")
    assert_identical_samples(files, csv, records=True)


def test_a_status_the_files_path_refuses_is_refused_here_too(tmp_path, capsys):
    from tracestrata.cli.main import main

    """`ERROR` is not a status: exit 2 on every path, not only when such a trace is selected."""
    rows = [{"id": f"s{i}", "timestamp": "2026-01-01T00:00:00Z", "status": "ERROR" if i % 10 == 0 else "ok"} for i in range(200)]
    (tmp_path / "t.jsonl").write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    duckdb.sql(f"COPY (SELECT * FROM read_json('{tmp_path / 't.jsonl'}')) TO '{tmp_path / 't.parquet'}' (FORMAT parquet)")
    (tmp_path / "p.toml").write_text(
        'seed = "s"\n[targets]\ndefault = 3\n[[failure.signals]]\nname = "error"\nfield = "status"\nequals = "error"\n'
    )
    (tmp_path / "q.toml").write_text('seed = "s"\n[targets]\ndefault = 3\n')  # a policy that does not read status
    for source in (f"jsonl:{tmp_path / 't.jsonl'}", f"duckdb:{tmp_path / 't.jsonl'}", f"parquet:{tmp_path / 't.parquet'}"):
        for policy in ("p.toml", "q.toml"):
            code = main(["sample", "--source", source, "--policy", str(tmp_path / policy), "--out", str(tmp_path / "o"),
                         "--state", str(tmp_path / "s.sqlite")])
            output = capsys.readouterr().err
            assert code == 2 and "status" in output and "ERROR" in output, (source, policy, output)
    code, output = run("sample", "--source", f"parquet:{tmp_path / 't.parquet'}", "--policy", tmp_path / "p.toml",
                       "--out", tmp_path / "o", "--state", tmp_path / "s.sqlite", "--skip-bad")
    assert code == 0 and "sampled" in output and "180" in output, output


def test_plan_counts_a_repeated_trace_id_once_as_sampling_does(tmp_path):
    rows = [{"id": f"d{i}", "timestamp": "2026-01-01T00:00:00Z", "name": "abc"[i % 3]} for i in range(300)]
    rows += [dict(r, name="zzz") for r in rows[::5]]  # the same traces again, another name: still the first's
    (tmp_path / "t.jsonl").write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    duckdb.sql(f"COPY (SELECT * FROM read_json('{tmp_path / 't.jsonl'}')) TO '{tmp_path / 't.parquet'}' (FORMAT parquet)")
    (tmp_path / "p.toml").write_text('seed = "s"\n[[strata]]\nfield = "name"\n')
    args = ["plan", "--policy", tmp_path / "p.toml", "--format", "json", "--budget", "200", "--source"]
    plans = []
    for source in (f"jsonl:{tmp_path / 't.jsonl'}", f"duckdb:{tmp_path / 't.jsonl'}", f"parquet:{tmp_path / 't.parquet'}"):
        code, output = run(*args, source)
        assert code == 0, output
        plans.append(json.loads(output[output.index("{"):]))
    assert plans[0] == plans[1] == plans[2]
    assert "zzz" not in json.dumps(plans[2])


@pytest.mark.parametrize("window", [(), ("--since", "2026-06-01", "--until", "2026-06-02")])
def test_epoch_milliseconds_are_refused_not_read_as_a_date_50000_years_ahead(tmp_path, capsys, window):
    from tracestrata.cli.main import main

    (tmp_path / "ms.jsonl").write_text('{"id": "a", "timestamp": 1780272000000}\n{"id": "b", "timestamp": 1780272000}\n')
    duckdb.sql(f"COPY (SELECT * FROM read_json('{tmp_path / 'ms.jsonl'}')) TO '{tmp_path / 'ms.parquet'}' (FORMAT parquet)")
    (tmp_path / "p.toml").write_text('seed = "s"\n')
    for source in (f"jsonl:{tmp_path / 'ms.jsonl'}", f"duckdb:{tmp_path / 'ms.jsonl'}", f"parquet:{tmp_path / 'ms.parquet'}"):
        code = main(["sample", "--source", source, "--policy", str(tmp_path / "p.toml"), "--out", str(tmp_path / "o"),
                     "--state", str(tmp_path / "s.sqlite"), *window])
        err = capsys.readouterr().err
        assert code == 2 and "timestamp" in err and "millisecond" in err, (source, err)


TEXT_STAMPS = [
    "2026-01-01T00:00:00Z", "2026-01-01 00:00:00.123456", "2026-01-01T00:00:00.123456789Z", "2026-01-01",
    "2026-01-01T00:00+05:30", "2026-01-01T00:00:00+0530", "2026-01-01T00:00:00.5-05",
    "2026-01-01 00:00:00 UTC", "2026-01-01T00:00:00 America/New_York", "20260101T000000Z", "2026-01-01T12",
    "2026-01-01T24:00:00Z",
]


def test_text_timestamps_never_read_differently_from_the_files_path(tmp_path):
    """A form both read is the same instant; a form the files path refuses DuckDB refuses too
    (time zone names); a form only the files path reads is refused by DuckDB (loud, never another sample)."""
    rows = [{"id": f"t{i}", "timestamp": text} for i, text in enumerate(TEXT_STAMPS)]
    (tmp_path / "t.jsonl").write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    duckdb.sql(f"COPY (SELECT * FROM read_json('{tmp_path / 't.jsonl'}')) TO '{tmp_path / 't.parquet'}' (FORMAT parquet)")
    (tmp_path / "p.toml").write_text('seed = "s"\n')
    read = {}
    for source in (f"jsonl:{tmp_path / 't.jsonl'}", f"duckdb:{tmp_path / 't.jsonl'}", f"parquet:{tmp_path / 't.parquet'}"):
        out = sample(tmp_path, source, tmp_path / "p.toml", source.partition(":")[0], "--skip-bad")
        read[source.partition(":")[0]] = {
            r["id"]: r["timestamp"] for r in map(orjson.loads, (out / "sample.jsonl").read_bytes().splitlines())
        }
    files = read["jsonl"]
    assert {"t7", "t8", "t11"}.isdisjoint(files) and {"t9", "t10"} <= set(files)
    for name in ("duckdb", "parquet"):
        assert read[name] == {k: v for k, v in files.items() if k not in ("t9", "t10")}, name


def test_schema_and_column_on_a_jsonl_source_name_the_flag(tmp_path, capsys):
    from tracestrata.cli.main import main

    (tmp_path / "t.jsonl").write_text('{"id": "a", "timestamp": "2026-01-01T00:00:00Z"}\n')
    (tmp_path / "p.toml").write_text('seed = "s"\n')
    for flag in (["--schema", "langfuse"], ["--column", "id=trace_id"]):
        code = main(["sample", "--source", f"jsonl:{tmp_path / 't.jsonl'}", *flag, "--policy", str(tmp_path / "p.toml"),
                     "--out", str(tmp_path / "o")])
        assert code == 2 and f"{flag[0]}: applies to parquet: and duckdb: sources" in capsys.readouterr().err
