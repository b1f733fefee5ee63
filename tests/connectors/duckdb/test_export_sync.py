"""`sync` with `[source] type = "export"`: the windows of a Parquet export give the items the files source gives."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import orjson
from builders import sync_config_toml

from tracestrata.cli.main import main
from tracestrata.job.config import load_config
from tracestrata.synthetic import generate_traces

REPO = Path(__file__).resolve().parents[3]
T0 = datetime(2026, 11, 23, tzinfo=UTC)
NOW = "2026-11-23T06:30:00Z"


def config(folder: Path, source: dict) -> Path:
    path = folder / "sync.toml"
    path.write_text(
        sync_config_toml(
            source,
            str(REPO / "examples" / "policies" / "basic.toml"),
            window={"every": "1h", "settle": "15m", "start": "2026-11-23T00:00:00Z"},
            sink={"dataset": "judge-{date}", "batch_size": 50},
            scores={"names": ["correct"], "metric": "correct"},
            report={"dir": "var/reports", "formats": ["json"]},
        )
    )
    return path


def items(folder: Path) -> list[tuple[str, float]]:
    out = []
    for file in sorted((folder / "var" / "sink").rglob("*.jsonl")):
        for line in file.read_bytes().splitlines():
            row = orjson.loads(line)
            out.append((str(row.get("trace_id") or row.get("id")), row.get("inclusion_probability") or row.get("metadata", {}).get("inclusion_probability")))
    return sorted(out, key=str)


def test_sync_over_an_export_writes_what_sync_over_the_files_writes(tmp_path, capsys):
    records = generate_traces(900, start=T0, end=T0 + timedelta(hours=6), seed=8)
    for name in ("files", "export"):
        (tmp_path / name / "traces").mkdir(parents=True)
    jsonl = tmp_path / "files" / "traces" / "day.jsonl"
    jsonl.write_bytes(b"".join(orjson.dumps(r.to_json()) + b"\n" for r in records))
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.sql(f"COPY (SELECT * FROM read_json('{jsonl}')) TO '{tmp_path / 'export' / 'traces' / 'day.parquet'}' (FORMAT parquet)")
    files = config(tmp_path / "files", {"type": "files", "path": "traces", "sink_dir": "var/sink"})
    export = config(tmp_path / "export", {"type": "export", "path": "traces", "format": "parquet", "sink_dir": "var/sink"})
    for path in (files, export):
        assert main(["sync", "--config", str(path), "--now", NOW]) == 0, capsys.readouterr().err
    got, want = items(tmp_path / "export"), items(tmp_path / "files")
    assert got == want and len(got) > 50
    assert main(["sync", "--config", str(export), "--now", NOW]) == 0  # idempotent: nothing new
    assert items(tmp_path / "export") == want


def test_an_object_store_path_is_kept_as_a_url(tmp_path):
    path = config(tmp_path, {"type": "export", "path": "s3://exports/traces/*.parquet", "schema": "langfuse"})
    assert load_config(path).source_options["path"] == "s3://exports/traces/*.parquet"


def test_an_export_folder_with_no_file_yet_is_an_empty_window_not_an_error(tmp_path, capsys):
    """Before the first hourly export lands the folder is empty: quiet, as an empty JSONL folder is;
    a glob that matches nothing is still one line and exit 2."""
    (tmp_path / "traces").mkdir()
    for source in ({"type": "export", "path": "traces", "sink_dir": "var/sink"},
                   {"type": "export", "path": "traces", "format": "parquet", "sink_dir": "var/sink"}):
        assert main(["sync", "--config", str(config(tmp_path, source)), "--now", NOW]) == 0, capsys.readouterr().err
    policy = str(REPO / "examples" / "policies" / "basic.toml")
    assert main(["sample", "--source", f"parquet:{tmp_path / 'traces'}", "--policy", policy, "--out", str(tmp_path / "o"),
                 "--state", str(tmp_path / "s.sqlite")]) == 0
    assert "no traces" in capsys.readouterr().out
    assert main(["sample", "--source", f"parquet:{tmp_path / 'traces'}/*.parquet", "--policy", policy,
                 "--out", str(tmp_path / "o"), "--state", str(tmp_path / "s.sqlite")]) == 2
    assert "no files match" in capsys.readouterr().err
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "PART-00.PARQUET.bz2").write_bytes(b"x")  # files, but none we read: loud, never empty
    assert main(["sample", "--source", f"parquet:{tmp_path / 'other'}", "--policy", policy, "--out", str(tmp_path / "o"),
                 "--state", str(tmp_path / "s.sqlite")]) == 2
    assert "cannot tell the export format" in capsys.readouterr().err

