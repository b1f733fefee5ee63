"""Resumable: `tracestrata sync` SIGKILLed at many random points mid-write, then rerun.

Each killed run is a real process killed by SIGKILL: most kill themselves at a chosen
batch and phase (before the sink write, after it but before the state records it,
after the state records it) through the test-only `TRACESTRATA_DEBUG_WRITE_HOOK`;
a few are killed from outside at a random moment while writes are slowed down.
After every kill the sink holds no duplicate; after the final run every planned
item is in the sink exactly once, and the sample equals an uninterrupted run's.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from builders import sync_config_toml

from tracestrata.synthetic import generate_traces

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 23, tzinfo=UTC)
NOW = "2026-11-23T03:30:00Z"
HOOK = "TRACESTRATA_DEBUG_WRITE_HOOK"
PHASES = ("before-write", "after-write", "after-mark")

def config_text(policy: Path, traces: Path) -> str:
    return sync_config_toml(
        {"type": "files", "path": str(traces), "sink_dir": "sink"},
        str(policy),
        state="state.sqlite",
        window={"every": "1h", "settle": "15m", "start": "2026-11-23T00:00:00Z"},
        sink={"dataset": "judge-{date}", "queue": "review-{window_start}", "batch_size": 4},
        report={"formats": []},
    )


def make(root: Path, traces: Path) -> Path:
    """A sync of basic.toml with targets per window, so each small window is a census (every trace an item)."""
    root.mkdir(parents=True, exist_ok=True)
    policy = root / "policy.toml"
    text = (REPO / "examples" / "policies" / "basic.toml").read_text().replace('per = "day"', 'per = "window"')
    policy.write_text(text.replace("[review]\ntarget = 30", ""))  # every sampled trace in the queue too
    config = root / "sync.toml"
    config.write_text(config_text(policy, traces))
    return config


def start(config: Path, hook: str | None) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env.pop(HOOK, None)
    if hook:
        env[HOOK] = hook
    return subprocess.Popen(
        [sys.executable, "-m", "tracestrata.cli.main", "sync", "--config", str(config), "--now", NOW],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def sink_ids(root: Path) -> list[str]:
    """Item ids of every complete line (a torn last line, no newline, is not part of the file)."""
    ids: list[str] = []
    for path in sorted((root / "sink").rglob("*.jsonl")):
        data = path.read_bytes()
        for raw in data[: data.rfind(b"\n") + 1].splitlines():
            ids.append(orjson.loads(raw)["item_id"])
    return ids


def state_items(root: Path) -> dict[str, str]:
    if not (root / "state.sqlite").exists():
        return {}
    db = sqlite3.connect(root / "state.sqlite")
    try:
        return dict(db.execute("SELECT item_id, status FROM items"))
    except sqlite3.OperationalError:  # killed before the schema was committed
        return {}
    finally:
        db.close()


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume_writes_everything_exactly_once(tmp_path: Path) -> None:
    traces = tmp_path / "traces.jsonl"
    records = generate_traces(240, start=T0, end=T0 + timedelta(hours=3), seed=5)
    traces.write_bytes(b"".join(orjson.dumps(r.to_json()) + b"\n" for r in records))

    clean = make(tmp_path / "clean", traces)
    done = start(clean, None)
    assert done.wait(60) == 0, done.communicate()[1]
    expected = sink_ids(tmp_path / "clean")
    assert len(expected) == len(set(expected)) == 480  # every trace sampled, in a dataset and a queue

    root = tmp_path / "killed"
    config = make(root, traces)
    rng = random.Random(20261123)
    kills = 0
    for attempt in range(40):
        if kills >= 24:
            break
        pending = sum(1 for s in state_items(root).values() if s == "planned")
        batches_left = max(1, (pending or 60) // 4)
        if attempt % 6 == 5:  # from outside, at a random moment, writes slowed down
            proc = start(config, "sleep:0.05")
            time.sleep(rng.uniform(0.3, 1.0))
            proc.send_signal(signal.SIGKILL)
        else:
            proc = start(config, f"kill:{rng.randrange(min(batches_left, 5))}:{rng.choice(PHASES)}")
        code = proc.wait(60)
        stderr = proc.communicate()[1]
        if code == 0:
            break  # finished before the kill point: everything is written
        assert code == -signal.SIGKILL, stderr
        kills += 1
        ids = sink_ids(root)
        assert len(ids) == len(set(ids)), "a killed run left a duplicate in the sink"
        items = state_items(root)
        written = {i for i, s in items.items() if s == "written"}
        assert written <= set(ids), "the state claims an item the sink does not have"
    assert kills >= 20, f"only {kills} kills landed"

    final = start(config, None)
    assert final.wait(60) == 0, final.communicate()[1]
    ids = sink_ids(root)
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(expected), "lost or extra items after resuming"
    items = state_items(root)
    assert set(items.values()) == {"written"} and set(items) == set(ids)
    again = start(config, None)
    out, err = again.communicate(timeout=60)
    assert (again.returncode, out, err) == (0, "", "")
