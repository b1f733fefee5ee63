"""The scheduled job: sample every closed window once, write it, read scores back, report.

For each closed window not yet done, oldest first (at most `max_windows_per_run`):

1. pull the window's traces from the connector's `TraceSource`;
2. sample them (`sample_records`, with the boost counters from the state);
3. record the run — design, sample, every item to write, new boost counters — in
   the state, in one transaction, *before* writing anything;
4. write the items to the sink(s) in batches, marking each batch written once the
   sink confirmed it (a resumed run writes only what is not marked; sinks upsert
   by the deterministic item id, so a batch written but not marked is harmless);
5. mark the window done.

Then read back scores for the traces sampled in the reporting period, store what is
new, and when anything changed refresh the reports over the period (windows are
just more strata; see `ledger.py`).

Transient backend failures are retried under the config's budget (`retry.py`).
When the budget is spent the run stops: what was done is recorded, the outcome is
*partial* (exit 4), and the next run continues from there. A run stopped at any
point — even by SIGKILL — is resumed the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from tracestrata.connectors import connector_factory
from tracestrata.errors import ConfigError, RetriableSourceError, TracestrataError
from tracestrata.io.retry import governing
from tracestrata.job.config import SyncConfig, load_config, source_identity
from tracestrata.job.evaluator_reports import refresh_evaluator_report
from tracestrata.job.health import HEALTH_CURSOR, Health, human_age
from tracestrata.job.late_step import check_late
from tracestrata.job.logs import NullLog, SyncLog
from tracestrata.job.report_step import refresh_reports
from tracestrata.job.run_context import RunContext, SyncOutcome, WindowResult, retry_message
from tracestrata.job.scores_step import read_scores, watch
from tracestrata.job.state import State
from tracestrata.job.state_file import lock_state
from tracestrata.job.window_step import render_name, sample_window
from tracestrata.job.windows import due_windows, format_duration, pending_count
from tracestrata.protocols import Connector, SetsUpReview, Window
from tracestrata.record import format_timestamp


def load_connector(config: SyncConfig) -> Connector:
    """The connector named by `source.type`: an entry point, or `module:factory` for local ones."""
    try:
        factory = connector_factory(config.source_type)
    except ConfigError as exc:
        exc.path, exc.field = str(config.path), "source.type"
        raise
    try:
        connector = factory(dict(config.source_options))
    except TracestrataError as exc:
        if exc.path is None:
            exc.path = str(config.path)
        raise
    except Exception as exc:  # noqa: BLE001 - `module:function` may name anything, e.g. json:loads
        raise ConfigError(
            f"{config.source_type!r} is not a connector factory (calling it failed: {type(exc).__name__})",
            path=str(config.path),
            field="source.type",
        ) from None
    if not isinstance(connector, Connector):
        raise ConfigError(
            f"{config.source_type!r} made a {type(connector).__name__}, not a connector", path=str(config.path), field="source.type"
        )
    return connector


def run_sync(
    config: SyncConfig,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    log: SyncLog | None = None,
    connector: Connector | None = None,
    sleep: Callable[[float], None] | None = None,
) -> SyncOutcome:
    """One scheduled run. Raises `LockedError` at once if another run holds the state."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    log = log or NullLog()
    log.add_secret_env(config.secret_env_vars)
    config.check_credentials()
    if dry_run and not Path(config.state).exists():
        # nothing to lock and nothing to write: plan against an empty in-memory state
        return _run_locked(config, ":memory:", now, log, dry_run, connector, sleep)
    with lock_state(config.state):
        return _run_locked(config, config.state, now, log, dry_run, connector, sleep)


def _run_locked(
    config: SyncConfig,
    state_path: str | Path,
    now: datetime,
    log: SyncLog,
    dry_run: bool,
    connector: Connector | None,
    sleep: Callable[[float], None] | None,
) -> SyncOutcome:
    def on_retry(exc: RetriableSourceError, attempt: int, wait: float) -> None:
        log.detail("retry", retry_message(exc, attempt, wait, config.retry.attempts), attempt=attempt, wait=round(wait, 3))

    with State(state_path) as state, governing(config.retry, on_retry=on_retry, sleep=sleep):
        Health.from_text(state.get_cursor(config.source_key(), HEALTH_CURSOR))  # damaged: one line, before any work
        own = connector is None
        conn = connector if connector is not None else load_connector(config)
        try:
            return _Run(config, state, conn, now, log, dry_run, sleep).run()
        finally:
            if own:
                conn.close()


class _Run(RunContext):
    """One scheduled run: its steps in order (each in a step module), its stop, its health."""

    # -- the run -----------------------------------------------------------------------------

    def run(self) -> SyncOutcome:
        if self.dry_run:  # read what an upgrade would adopt, change nothing
            self.source = self.state.older_key(self.source, source_identity) or self.source
        else:
            adopted = self.state.adopt_source(self.source, source_identity)
            if adopted is not None:
                self.log.detail("state", f"source key upgraded: {adopted} -> {self.source} (its windows are kept)")
        self.steps()
        if not self.dry_run:
            self.record_health()
        return self.outcome

    def record_health(self) -> None:
        """Count consecutive stopped runs in the state; past `[alert] failing_after`, or when
        the backend could not be reached at all, the stop becomes `failing` (exit 6)."""
        before = Health.from_text(self.state.get_cursor(self.source, HEALTH_CURSOR))
        health = before.after(now=self.now, error=self.outcome.partial)
        self.state.set_cursor(self.source, HEALTH_CURSOR, health.to_text())
        if self.outcome.partial is None:
            return
        unreachable = self.stopped_by is not None and self.stopped_by.unreachable and not self.outcome.windows
        if not unreachable and health.failures < self.config.failing_after:
            return
        why = "the backend cannot be reached" if unreachable else "the job keeps stopping"
        first = health.failing_since or format_timestamp(self.now)
        line = f"failing: {why}: {health.failures} consecutive failed run{'s' if health.failures != 1 else ''} (since {first})"
        oldest = self.oldest_pending()
        if oldest is not None:
            line += f", oldest pending window {oldest.key} closed {human_age(self.now - oldest.end - self.config.settle)} ago"
        self.outcome.failing = f"{line}; last error: {self.stopped_by or self.outcome.partial}"

    def oldest_pending(self) -> Window | None:
        cfg = self.config
        done_until = self.state.done_until(self.source)
        begin = max(cfg.start, done_until) if done_until is not None else cfg.start
        return Window(begin, begin + cfg.every) if begin + cfg.every + cfg.settle <= self.now else None

    def steps(self) -> None:
        cfg = self.config
        done_until = self.state.done_until(self.source)
        windows = due_windows(
            start=cfg.start,
            every=cfg.every,
            settle=cfg.settle,
            now=self.now,
            done_until=done_until,
            cap=cfg.max_windows_per_run,
        )
        total = pending_count(start=cfg.start, every=cfg.every, settle=cfg.settle, now=self.now, done_until=done_until)
        if done_until is not None:
            self.log.detail("skip", f"windows before {format_timestamp(done_until)} already done")
        if not windows:
            nxt = done_until or cfg.start
            self.log.detail(
                "skip",
                f"no closed window to sample: the next one ends at {format_timestamp(nxt + cfg.every)} "
                f"and closes {format_timestamp(nxt + cfg.every + cfg.settle)} (settle {format_duration(cfg.settle)})",
            )
        elif total > len(windows):
            self.log.detail("skip", f"{total - len(windows)} closed windows left for later runs (max_windows_per_run = {cfg.max_windows_per_run})")
        self.outcome.pending = total
        if not self.dry_run and not self.set_up_review():
            return
        last = self.state.last_run(self.source)
        if windows and last is not None and self.state.next_series(self.source, self.policy.digest, self.policy.to_json()) != last.series:
            self.log.detail(
                "policy",
                f"policy changed (digest {last.policy_digest[:12]} -> {self.policy.digest[:12]}): "
                f"new windows start series {last.series + 1}; reports use only the latest series",
            )
        for window in windows:
            try:
                result = sample_window(self, window)
            except RetriableSourceError as exc:
                self.stop(exc, f"stopped at window {window.key}: {exc}; retries exhausted, "
                          "progress is recorded, the next run continues", window=window.key)
                return
            self.outcome.windows.append(result)
            self.outcome.pending -= 1
        if self.dry_run:
            return
        try:
            check_late(self)
            self.judge()
            read_scores(self)
            watch(self)
            refresh_reports(self)
            self.outcome.reports += refresh_evaluator_report(
                self.config, self.state.runs(self.source), self.connector, self.now,
                new_windows=bool(self.outcome.windows), retry=self.retry, log=self.log,
            )
        except RetriableSourceError as exc:
            self.stop(exc, f"stopped reading scores: {exc}; retries exhausted, the next run continues")

    def set_up_review(self) -> bool:
        """Create what a reviewer needs for each `[[label]]` (Phoenix: an annotation config the
        panel offers; Langfuse: a score config the queue offers); False if the backend kept failing."""
        if not self.config.labels:
            return True
        if not isinstance(self.connector, SetsUpReview):
            self.log.detail("skip", f"labels: the {self.config.source_type} connector has no review UI to set up")
            return True
        labels = self.config.labels
        try:
            created = self.retry("setting up the review", lambda: self.connector.ensure_labels(labels))  # type: ignore[union-attr]
        except RetriableSourceError as exc:
            self.stop(exc, f"stopped setting up the review: {exc}; retries exhausted, the next run continues")
            return False
        if created:
            self.log.change("labels", f"labels: created {', '.join(created)} for reviewers", created=created)
        return True

    def judge(self) -> None:
        """`[judge]`: judge the sampled traces not yet scored under its name (job/judge_step.py)."""
        if self.config.judge is None:
            return
        from tracestrata.job.judge_step import run_judge_step

        try:
            result = run_judge_step(self.config, self.state, self.connector, self.now, judge_config=self.config.judge)
        except RetriableSourceError:
            raise  # the backend past its retries: the run stops partial, as for any step
        except TracestrataError as exc:
            # a refused judge key (or a judge that cannot load) stops the judge, not the job: scores
            # are still read back and reports refreshed, and the run exits with the judge's code
            self.outcome.judge_error = exc
            self.log.detail("judge", f"judge {self.config.judge.name} stopped: {exc}")
            return
        fields = {"judged": result.judged, "failed": result.failed, "deferred": result.deferred, "calls": result.calls}
        if result.failed:
            self.log.warn("judge", result.line(), **fields)
        elif result.judged:
            self.log.change("judge", result.line(), **fields)
        else:
            self.log.detail("skip", result.line())
        if result.partial and self.outcome.partial is None:
            self.outcome.partial = result.partial  # exit 4: the endpoint kept failing; the next run tries again


__all__ = [
    "NullLog",
    "SyncOutcome",
    "WindowResult",
    "load_config",
    "load_connector",
    "render_name",
    "retry_message",
    "run_sync",
]
