"""`tracestrata status`: what a monitor asks of the scheduled job, read from its state alone.

Nothing here contacts a backend: a health check must answer when the backend is the
thing that is down. Stale means no run has finished everything due within
`[alert] stale_after` (default: two windows plus settle), a window that closed longer
ago than that is still pending (a job behind, e.g. stopped at `max_windows_per_run`),
the job has never run, or it is failing (`[alert] failing_after` consecutive stopped runs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypedDict

from tracestrata.job.config import SyncConfig, source_identity
from tracestrata.job.health import HEALTH_CURSOR, Health, human_age
from tracestrata.job.state_rows import RunRow, RunStatus
from tracestrata.job.state import State
from tracestrata.job.windows import pending_count
from tracestrata.record import JSONValue, format_timestamp
from tracestrata.redaction import redact


@dataclass(frozen=True)
class SeriesStatus:
    series: int
    policy: str  # the policy digest's first 12 characters
    windows_done: int
    first_window: str
    last_window: str
    changed: tuple[str, ...] = ()  # the policy's top-level keys that differ from the series before


class JobStatusJSON(TypedDict):
    """`status --json`: one object (docs/sync.md)."""

    source: str
    now: str
    ok: bool
    reason: str
    last_success: str | None
    consecutive_failures: int
    failing_since: str | None
    last_error: str | None
    pending_windows: int
    oldest_pending_window: str | None
    unfinished_runs: int
    boosts: dict[str, dict[str, int]]
    series: list[dict[str, JSONValue]]  # a SeriesStatus's fields
    alarms: list[dict[str, JSONValue]]


@dataclass(frozen=True)
class JobStatus:
    source: str
    now: datetime
    health: Health
    pending_windows: int
    oldest_pending: str | None
    unfinished_runs: int
    boosts: dict[str, dict[str, int]]
    series: list[SeriesStatus] = field(default_factory=list)
    stale: bool = False
    reason: str = ""
    alarms: list[dict[str, JSONValue]] = field(default_factory=list)  # [alert] watch: standing alarms (exit 6)
    alarm_lines: list[str] = field(default_factory=list)

    def to_json(self) -> JobStatusJSON:
        return {
            "source": self.source,
            "now": format_timestamp(self.now),
            "ok": not self.stale,
            "reason": redact(self.reason),
            "last_success": self.health.last_success,
            "consecutive_failures": self.health.failures,
            "failing_since": self.health.failing_since,
            "last_error": redact(self.health.last_error or "") or None,  # a state written before redaction
            "pending_windows": self.pending_windows,
            "oldest_pending_window": self.oldest_pending,
            "unfinished_runs": self.unfinished_runs,
            "boosts": self.boosts,
            "series": [s.__dict__ for s in self.series],
            "alarms": self.alarms,
        }


def job_status(config: SyncConfig, *, now: datetime | None = None) -> JobStatus:
    """The job's status from its state store (an absent store: never run, so stale)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    source = config.source_key()
    state_path = Path(config.state)
    if not state_path.exists() or (state_path.is_file() and state_path.stat().st_size == 0):  # 0 bytes: locked, never written
        pending = pending_count(start=config.start, every=config.every, settle=config.settle, now=now, done_until=None)
        return JobStatus(source, now, Health(), pending, None, 0, _boosts(config, {}), stale=True, reason="never run (no state file yet)")
    with State(config.state, create=False) as state:
        source = state.older_key(source, source_identity) or source  # a key an older version wrote
        health = Health.from_text(state.get_cursor(source, HEALTH_CURSOR))
        done_until = state.done_until(source)
        runs = state.runs(source, status=None)
        collected = state.boost_collected(source)
        policies = {r.policy_digest: state.policy(r.policy_digest) for r in runs}
    pending = pending_count(start=config.start, every=config.every, settle=config.settle, now=now, done_until=done_until)
    begin = max(config.start, done_until) if done_until is not None else config.start
    oldest = f"{format_timestamp(begin)}/{format_timestamp(begin + config.every)}" if pending else None
    series: dict[int, list[RunRow]] = {}
    for run in runs:
        if run.status is RunStatus.DONE:
            series.setdefault(run.series, []).append(run)
    rows: list[SeriesStatus] = []
    before: dict[str, JSONValue] | None = None
    for n, done in sorted(series.items()):
        policy = policies.get(done[0].policy_digest)
        changed = _changed_keys(before, policy)
        rows.append(SeriesStatus(n, done[-1].policy_digest[:12], len(done), done[0].window_key, done[-1].window_key, changed))
        before = policies.get(done[-1].policy_digest)
    unfinished = sum(1 for r in runs if r.status is not RunStatus.DONE)
    stale, reason = _verdict(config, health, now)
    behind = now - (begin + config.every + config.settle)  # since the oldest pending window closed
    if not stale and pending and behind > config.stale_limit:
        stale, reason = True, (
            f"behind: {pending} closed windows pending, the oldest closed {human_age(behind)} ago "
            f"(stale after {human_age(config.stale_limit)}; each sync does at most "
            f"max_windows_per_run = {config.max_windows_per_run})"
        )
    status = JobStatus(source, now, health, pending, oldest, unfinished, _boosts(config, collected), rows, stale, reason)
    return _with_alarms(status, config)


def _with_alarms(status: JobStatus, config: SyncConfig) -> JobStatus:
    """The standing alarms of `[alert] watch`, read from the ledger (no backend)."""
    if not config.watch:
        return status
    from dataclasses import replace

    from tracestrata.estimate.alarm import alarm_line
    from tracestrata.job.report_page import WatchSettings, watch_ledger

    detections, _ = watch_ledger(config.state, WatchSettings(config.watch, config.alert_alpha, config.alert_horizon),
                                 until=status.now, source=status.source)
    standing = [d for d in detections if d.alarm]
    return replace(status, alarms=[d.to_json() for d in standing], alarm_lines=[alarm_line(d) for d in standing])


def _changed_keys(before: dict[str, JSONValue] | None, after: dict[str, JSONValue] | None) -> tuple[str, ...]:
    """What a new series changed: the policy's top-level keys that differ (empty for the first)."""
    if before is None or after is None:
        return ()
    return tuple(sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k)))


def _verdict(config: SyncConfig, health: Health, now: datetime) -> tuple[bool, str]:
    if health.failures >= config.failing_after:
        return True, f"failing: {health.failures} consecutive failed runs since {health.failing_since}"
    age = health.since_success(now)
    if age is None:
        return True, "no run has finished yet"
    if age > config.stale_limit:
        return True, f"stale: last success {human_age(age)} ago (stale after {human_age(config.stale_limit)})"
    return False, f"ok: last success {human_age(age)} ago"


def _boosts(config: SyncConfig, collected: dict[str, int]) -> dict[str, dict[str, int]]:
    return {b.name: {"collected": int(collected.get(b.name, 0)), "collect": int(b.collect)} for b in config.policy.boosts}


def render_status(status: JobStatus) -> str:
    """The status as a few lines of text for a terminal."""
    h = status.health
    rows = [
        ("source", status.source),
        ("last success", h.last_success or "never"),
        ("failures in a row", f"{h.failures}" + (f" (since {h.failing_since})" if h.failing_since else "")),
    ]
    if h.last_error and h.failures:
        rows.append(("last error", redact(h.last_error)))
    rows.append(("pending windows", f"{status.pending_windows}" + (f" (oldest {status.oldest_pending})" if status.oldest_pending else "")))
    if status.unfinished_runs:
        rows.append(("unfinished runs", f"{status.unfinished_runs} (the next run finishes them)"))
    for name, b in status.boosts.items():
        state = "done, dropped back" if b["collected"] >= b["collect"] else "active"
        rows.append((f"boost {name}", f"{b['collected']}/{b['collect']} collected ({state})"))
    for s in status.series:
        why = f" (new series: the policy's {', '.join(s.changed)} changed)" if s.changed else ""
        rows.append((f"series {s.series}", f"policy {s.policy}: {s.windows_done} windows done, {s.first_window} .. {s.last_window}{why}"))
    width = max(len(label) for label, _ in rows)
    return "\n".join([f"{'STALE' if status.stale else 'OK'}  {redact(status.reason)}"] + [f"{label:<{width}}  {value}" for label, value in rows]
                     + status.alarm_lines)


__all__ = ["JobStatus", "SeriesStatus", "job_status", "render_status"]
