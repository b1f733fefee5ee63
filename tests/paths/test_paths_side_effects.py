"""Issue 22, paths: a path is checked before it is touched, and outputs are written through.

Device nodes are made in a private temp folder (mknod, as root; skipped otherwise),
never the real /dev; symlinks and FIFOs live in the same temp folder.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tracestrata.cli.main import main
from tracestrata.errors import LockedError, StateError
from tracestrata.job.state import State
from tracestrata.job.state_file import lock_state

CONFIG = (
    'state = "{state}"\n[source]\ntype = "jsonl"\npath = "{traces}"\n'
    '[window]\nevery = "1h"\nsettle = "0s"\nstart = "2026-01-01T00:00:00Z"\n[policy]\nseed = "s"\n'
)


def private_device(folder: Path, name: str, minor: int) -> Path:
    """A character device like /dev/null (1, 3) or /dev/full (1, 7), made in `folder`: the real /dev is never touched."""
    node = folder / name
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot make a device node here ({exc}); needs root")
    return node


def private_null(folder: Path) -> Path:
    return private_device(folder, "null", 3)


def private_full(folder: Path) -> Path:
    return private_device(folder, "full", 7)


def snapshot(path: Path) -> tuple[int, int, bytes | None]:
    info = os.lstat(path)
    data = path.read_bytes() if stat.S_ISREG(info.st_mode) else None
    return info.st_mode, info.st_ino, data


def sync_config(tmp_path: Path, state: Path) -> Path:
    traces = tmp_path / "traces.jsonl"
    traces.write_text("")
    config = tmp_path / "sync.toml"
    config.write_text(CONFIG.format(state=state, traces=traces))
    return config


def test_a_text_file_named_as_the_state_keeps_its_mode_and_content(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    os.chmod(notes, 0o644)
    before = snapshot(notes)
    code = main(["sync", "--config", str(sync_config(tmp_path, notes)), "--now", "2026-01-01T02:00:00Z"])
    assert code == 2 and "not a readable state store" in capsys.readouterr().err
    assert snapshot(notes) == before


def test_a_device_named_as_the_state_is_refused_untouched(tmp_path, capsys):
    node = private_null(tmp_path)
    before = snapshot(node)
    for argv in (["sync", "--config", str(sync_config(tmp_path, node)), "--now", "2026-01-01T02:00:00Z"],
                 ["status", "--config", str(tmp_path / "sync.toml")],
                 ["report", "--ledger", str(node), "--metric", "correct"]):
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 2 and "not a regular file" in err, (argv, err)
    assert snapshot(node) == before
    assert not list(tmp_path.glob("null-*")) and not (tmp_path / "null.lock").exists()


def test_a_folder_named_as_the_state_is_one_line(tmp_path, capsys):
    folder = tmp_path / "state"
    folder.mkdir()
    code = main(["sync", "--config", str(sync_config(tmp_path, folder)), "--now", "2026-01-01T02:00:00Z"])
    assert code == 2 and "is a folder" in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"", b"not sqlite at all\n"])
def test_report_ledger_on_an_empty_or_foreign_file_refuses_without_writing(tmp_path, capsys, content):
    path = tmp_path / "ledger.sqlite"
    path.write_bytes(content)
    before = snapshot(path)
    code = main(["report", "--ledger", str(path), "--metric", "correct"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert snapshot(path) == before and sorted(p.name for p in tmp_path.iterdir()) == ["ledger.sqlite"]


def test_a_hard_link_to_the_state_cannot_take_a_second_lock(tmp_path):
    real = tmp_path / "state.sqlite"
    with State(real):
        pass
    link = tmp_path / "other-name.sqlite"
    os.link(real, link)
    with lock_state(real), pytest.raises(LockedError):
        with lock_state(link):
            pass


def test_status_and_report_read_a_state_on_a_read_only_folder(tmp_path, capsys):
    if os.geteuid() == 0:
        pytest.skip("root writes through read-only modes; the read-only mount case is in tests/paths/test_full_disk.py")
    state = tmp_path / "ro" / "state.sqlite"
    with State(state) as s:
        s.set_cursor("x", "k", "v")
    os.chmod(state.parent, 0o555)
    try:
        with State(state, create=False) as s:
            assert s.get_cursor("x", "k") == "v"
    finally:
        os.chmod(state.parent, 0o755)


# -- outputs: written through --------------------------------------------------------------------


def generate(out: str) -> int:
    return main(["generate", "--traces", "20", "--start", "2026-01-01T00:00:00Z", "--hours", "1", "--out", out])


def test_generate_into_a_device_writes_through_and_keeps_the_node(tmp_path, capsys):
    node = private_null(tmp_path)
    before = snapshot(node)
    assert generate(str(node)) == 0
    assert snapshot(node) == before  # still the device, not a regular file


def test_generate_into_a_full_device_is_one_line_not_success(tmp_path, capsys):
    node = private_full(tmp_path)
    code = generate(str(node))
    err = capsys.readouterr().err
    assert code == 2 and "No space left on device" in err and "wrote" not in err, err
    assert stat.S_ISCHR(os.lstat(node).st_mode)


def test_a_symlink_is_written_through_not_replaced(tmp_path, capsys):
    shared = tmp_path / "shared" / "report.jsonl"
    shared.parent.mkdir()
    shared.write_text("old\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(shared)
    assert generate(str(link)) == 0
    assert link.is_symlink() and os.readlink(link) == str(shared)
    assert shared.read_text().count("\n") == 20


def test_dash_is_standard_output_not_a_file_named_dash(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "tracestrata.cli.main", "generate", "--traces", "5", "--start",
         "2026-01-01T00:00:00Z", "--hours", "1", "--out", "-"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 5 and not (tmp_path / "-").exists()


def test_a_fifo_is_written_as_a_stream(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    assert generate(str(fifo)) == 0
    reader.join(timeout=60)
    assert got and got[0].count(b"\n") == 20 and stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_proc_self_fd_1_symlink_is_written_through(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "tracestrata.cli.main", "generate", "--traces", "3", "--start",
         "2026-01-01T00:00:00Z", "--hours", "1", "--out", "/proc/self/fd/1"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0 and done.stdout.count("\n") == 3, done.stderr


def test_an_output_that_is_a_folder_is_one_line(tmp_path, capsys):
    folder = tmp_path / "folder"
    folder.mkdir()
    assert generate(str(folder)) == 2
    assert "is a directory" in capsys.readouterr().err
    from tracestrata.errors import WriteError
    from tracestrata.io.atomic import atomic_write_text

    with pytest.raises(WriteError, match="is a folder"):
        atomic_write_text(folder, "x")


def files_sync_config(tmp_path: Path, **where: str) -> Path:
    from datetime import UTC, datetime, timedelta

    import orjson
    from builders import sync_config_toml

    from tracestrata.synthetic import generate_traces

    traces = tmp_path / "traces"
    traces.mkdir(exist_ok=True)
    t0 = datetime(2026, 11, 23, tzinfo=UTC)
    records = generate_traces(100, start=t0, end=t0 + timedelta(hours=2), seed=1)
    (traces / "day.jsonl").write_bytes(b"".join(orjson.dumps(r.to_json()) + b"\n" for r in records))
    (tmp_path / "scores.jsonl").write_bytes(
        b"".join(orjson.dumps({"trace_id": r.id, "name": "correct", "value": True}) + b"\n" for r in records)
    )
    config = tmp_path / "sync.toml"
    config.write_text(sync_config_toml(
        {"type": "files", "path": str(traces), "sink_dir": where.get("sink", str(tmp_path / "sink")),
         "scores_path": str(tmp_path / "scores.jsonl")},
        {"seed": "s", "targets": {"default": 5}},
        state=str(tmp_path / "state.sqlite"),
        window={"every": "1h", "settle": "15m", "start": "2026-11-23T00:00:00Z"},
        sink={"dataset": where.get("dataset", "d-{date}")},
        scores={"names": ["correct"], "metric": "correct"},
        report={"dir": where.get("reports", str(tmp_path / "reports")), "formats": ["json"]},
    ))
    return config


@pytest.mark.parametrize("which", ["sink", "reports"])
def test_a_sink_or_report_dir_that_is_a_file_is_one_line(which, tmp_path, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder\n")
    config = files_sync_config(tmp_path, **{which: str(blocker)})
    code = main(["sync", "--config", str(config), "--now", "2026-11-23T03:00:00Z"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and str(blocker) in err, err
    assert blocker.read_text() == "not a folder\n"


def test_a_dataset_name_past_255_bytes_is_written(tmp_path, capsys):
    config = files_sync_config(tmp_path, dataset="d" * 300 + "-{date}")
    assert main(["sync", "--config", str(config), "--now", "2026-11-23T03:00:00Z"]) == 0, capsys.readouterr().err
    names = [p.name for p in (tmp_path / "sink" / "datasets").iterdir()]
    assert names and all(len(n.encode()) < 255 for n in names)
