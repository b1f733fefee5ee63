"""One job, one identity: what a source holds decides its key in the state, never how scores are
read back, the judge, the report or the review size; an older state's key is adopted, not forked."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tracestrata.job.config import load_config, source_identity
from tracestrata.job.state import State
from tracestrata.job.status import job_status, render_status
from tracestrata.job.sync import run_sync
from tracestrata.synthetic import generate_traces

T0 = datetime(2026, 11, 23, tzinfo=UTC)
H = timedelta(hours=1)
NOW = T0 + 6 * H + timedelta(minutes=30)

POLICY = """
[policy]
seed = "identity"
strata = [{ field = "metadata.intent" }]
[policy.targets]
default = 5
[policy.failure]
multiplier = 4
signals = [{ name = "error", field = "status", equals = "error" }]
"""


def _setup(tmp_path: Path) -> None:
    traces = tmp_path / "traces"
    traces.mkdir()
    with (traces / "day.jsonl").open("w") as out:
        for record in generate_traces(600, start=T0, end=T0 + 6 * H, seed=5):
            out.write(json.dumps(record.to_json()) + "\n")
    (tmp_path / "scores").mkdir()


def _config(tmp_path: Path, *, scores_path: str = "scores", scores: str = 'names = ["correct"]', report: str = "",
            review: str = "", labels: str = "", policy: str = POLICY, max_windows: int = 24) -> Path:
    text = f"""
state = "state.sqlite"
[source]
type = "files"
path = "traces"
scores_path = "{scores_path}"
sink_dir = "sink"
[window]
every = "1h"
settle = "15m"
start = "{T0.isoformat().replace('+00:00', 'Z')}"
max_windows_per_run = {max_windows}
[scores]
{scores}
[report]
dir = "reports"
{report}
{labels}
{policy}
{review}
"""
    path = tmp_path / "sync.toml"
    path.write_text(text)
    return path


def _sampled_rows(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "state.sqlite") as db:
        return int(db.execute("SELECT count(*) FROM sampled").fetchone()[0])


def test_read_back_judge_report_and_review_size_never_resample(tmp_path: Path) -> None:
    _setup(tmp_path)
    first = run_sync(load_config(_config(tmp_path, review="[policy.review]\ntarget = 2")), now=NOW)
    assert len(first.windows) == 6
    rows = _sampled_rows(tmp_path)
    (tmp_path / "scores2").mkdir()
    changed = _config(
        tmp_path,
        scores_path="scores2",  # where scores are read back from
        scores='names = ["correct", "quality"]\nmetric = "quality"',
        report='metrics = ["quality", "correct_human"]',
        labels='[[label]]\nname = "correct_human"\njudge = "correct"',
        review="[policy.review]\ntarget = 3",
    )
    again = run_sync(load_config(changed), now=NOW + 2 * H)
    assert [w.window.start for w in again.windows] == [T0 + 6 * H, T0 + 7 * H]  # only the new windows
    with State(tmp_path / "state.sqlite") as state:
        assert len(state.sources()) == 1
        assert {r.series for r in state.runs()} == {1}  # the review size is not a new series
    assert _sampled_rows(tmp_path) == rows  # the new windows are empty: nothing sampled again


def test_a_state_keyed_by_an_older_version_is_adopted_not_sampled_again(tmp_path: Path) -> None:
    _setup(tmp_path)
    config = load_config(_config(tmp_path))
    run_sync(config, now=NOW)
    rows = _sampled_rows(tmp_path)
    legacy = config.legacy_source_key()
    assert legacy != config.source_key() and source_identity(legacy) == config.source_key()
    with sqlite3.connect(tmp_path / "state.sqlite") as db:  # what an older version wrote
        for table in ("windows", "runs", "boost", "cursors"):
            db.execute(f"UPDATE {table} SET source = ?", (legacy,))
    assert job_status(config, now=NOW).pending_windows == 0  # read-only: status finds it too
    again = run_sync(config, now=NOW)
    assert again.windows == [] and _sampled_rows(tmp_path) == rows
    with State(tmp_path / "state.sqlite") as state:
        assert state.sources() == [config.source_key()]


def test_a_policy_change_starts_a_new_series_and_status_says_what_changed(tmp_path: Path) -> None:
    _setup(tmp_path)
    run_sync(load_config(_config(tmp_path)), now=NOW)
    changed = load_config(_config(tmp_path, policy=POLICY.replace("default = 5", "default = 7")))
    outcome = run_sync(changed, now=NOW + H)
    assert [w.series for w in outcome.windows] == [2]
    text = render_status(job_status(changed, now=NOW + H))
    assert "series 2" in text and "new series: the policy's targets changed" in text, text


def test_status_is_not_ok_while_windows_older_than_its_threshold_are_pending(tmp_path: Path) -> None:
    _setup(tmp_path)
    config = load_config(_config(tmp_path, max_windows=2))
    outcome = run_sync(config, now=NOW)
    assert len(outcome.windows) == 2 and outcome.pending == 4
    status = job_status(config, now=NOW)
    assert status.stale and status.reason.startswith("behind: 4 closed windows pending"), status.reason
    run_sync(config, now=NOW)
    run_sync(config, now=NOW)
    assert not job_status(config, now=NOW).stale
