"""Issue 22: a full disk and a read-only folder, for the state, the sink, the reports and `generate`.

Each test mounts a small tmpfs of its own (skipped with the reason where mounting is not
allowed): the run stops with one line naming the path (exit 2, never 1), and the rerun once
space returns (or the mount is writable again) finishes with nothing lost or duplicated:
the sink and the report equal those of a run that never hit the wall.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from builders import sync_config_toml

from tracestrata.connectors.files.sinks import read_items
from tracestrata.synthetic import generate_traces

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 23, tzinfo=UTC)
NOW = "2026-11-23T06:30:00Z"


def mount(folder: Path, options: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")


def remount(folder: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(folder)], check=True, capture_output=True)


@pytest.fixture
def disk(tmp_path):
    folder = tmp_path / "disk"
    yield folder
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"x" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


def write_traces(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    records = generate_traces(600, start=T0, end=T0 + timedelta(hours=6), seed=11)
    (folder / "day.jsonl").write_bytes(b"".join(orjson.dumps(r.to_json()) + b"\n" for r in records))
    scores = [{"trace_id": r.id, "name": "correct", "value": i % 3 != 0} for i, r in enumerate(records)]
    (folder.parent / "scores.jsonl").write_bytes(b"".join(orjson.dumps(s) + b"\n" for s in scores))


def config(tmp: Path, where: dict[str, str]) -> Path:
    write_traces(tmp / "traces")
    text = sync_config_toml(
        {"type": "files", "path": str(tmp / "traces"), "sink_dir": where["sink"], "scores_path": str(tmp / "scores.jsonl")},
        str(REPO / "examples" / "policies" / "basic.toml"),
        state=where["state"],
        window={"every": "1h", "settle": "15m", "start": "2026-11-23T00:00:00Z"},
        sink={"dataset": "judge-{date}", "batch_size": 20},
        scores={"names": ["correct"], "metric": "correct"},
        report={"dir": where["reports"], "formats": ["json"]},
        retry={"attempts": 2, "total_seconds": 5, "initial": 0.05},
    )
    path = tmp / "sync.toml"
    path.write_text(text)
    return path


def sync(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracestrata.cli.main", "sync", "--config", str(path), "--now", NOW],
        capture_output=True, text=True, timeout=300,
    )


def outcome(where: dict[str, str]) -> tuple[dict, dict]:
    sink = {}
    for file in sorted(Path(where["sink"]).rglob("*.jsonl")):
        sink.update({k: v["record"]["id"] for k, v in read_items(file).items()})
    report = json.loads((Path(where["reports"]) / "report.json").read_text())
    estimate = report.get("estimate") or {}
    return sink, {k: estimate.get(k) for k in ("mean", "ci_low", "ci_high", "n_scored")}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reference")
    where = {"state": str(tmp / "state.sqlite"), "sink": str(tmp / "sink"), "reports": str(tmp / "reports")}
    done = sync(config(tmp, where))
    assert done.returncode == 0, done.stderr
    return outcome(where)


@pytest.mark.parametrize("on_disk", ["state", "sink", "reports"])
@pytest.mark.parametrize("size", ["48k", "160k"])
def test_a_full_disk_is_one_line_and_the_rerun_loses_nothing(on_disk, size, tmp_path, disk, reference):
    mount(disk, f"size={size}")
    where = {"state": str(tmp_path / "state.sqlite"), "sink": str(tmp_path / "sink"), "reports": str(tmp_path / "reports")}
    where[on_disk] = str(disk / Path(where[on_disk]).name)
    path = config(tmp_path, where)
    if on_disk == "reports":  # reports are small: fill the disk first
        fill(disk / "filler")
    first = sync(path)
    lines = first.stderr.strip().splitlines()
    assert first.returncode == 2, first.stderr
    assert len(lines) == 1 and str(disk) in lines[0] and ("space" in lines[0] or "full" in lines[0]), first.stderr
    remount(disk, "size=64m")
    second = sync(path)
    assert second.returncode == 0, second.stderr
    assert outcome(where) == reference


@pytest.mark.parametrize("on_disk", ["sink", "reports"])
def test_a_read_only_folder_is_one_line_and_the_rerun_loses_nothing(on_disk, tmp_path, disk, reference):
    mount(disk, "size=16m")
    where = {"state": str(tmp_path / "state.sqlite"), "sink": str(tmp_path / "sink"), "reports": str(tmp_path / "reports")}
    where[on_disk] = str(disk / Path(where[on_disk]).name)
    remount(disk, "ro")
    path = config(tmp_path, where)
    first = sync(path)
    lines = first.stderr.strip().splitlines()
    assert first.returncode == 2 and len(lines) == 1 and str(disk) in lines[0] and "read-only" in lines[0], first.stderr
    remount(disk, "rw")
    second = sync(path)
    assert second.returncode == 0, second.stderr
    assert outcome(where) == reference


def test_status_and_report_read_a_finished_state_on_a_read_only_mount(tmp_path, disk):
    mount(disk, "size=16m")
    where = {"state": str(disk / "state.sqlite"), "sink": str(tmp_path / "sink"), "reports": str(tmp_path / "reports")}
    path = config(tmp_path, where)
    assert sync(path).returncode == 0
    before = sorted(p.name for p in disk.iterdir())
    remount(disk, "ro")
    for argv in (["status", "--config", str(path), "--now", NOW],
                 ["report", "--ledger", where["state"], "--metric", "correct", "--until", NOW]):
        done = subprocess.run([sys.executable, "-m", "tracestrata.cli.main", *argv], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (argv, done.stderr)
    assert sorted(p.name for p in disk.iterdir()) == before


def test_generate_on_a_full_or_read_only_disk_is_one_line(tmp_path, disk):
    mount(disk, "size=32k")
    out = disk / "traces.jsonl"
    argv = [sys.executable, "-m", "tracestrata.cli.main", "generate", "--traces", "2000", "--start",
            "2026-01-01T00:00:00Z", "--out", str(out)]
    full = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert full.returncode == 2 and full.stderr.count("\n") == 1 and str(out) in full.stderr, full.stderr
    assert not out.exists() and not list(disk.iterdir())  # no temp file left behind
    remount(disk, "ro")
    ro = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert ro.returncode == 2 and "read-only" in ro.stderr, ro.stderr
    remount(disk, "rw,size=8m")
    assert subprocess.run(argv, capture_output=True, text=True, timeout=120).returncode == 0
