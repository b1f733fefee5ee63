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

import hashlib
import json
import os
import signal
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from tracestrata.job.proxy_fill import ProxyFilledSource
from tracestrata.connectors import connector_factory
from tracestrata.errors import (
    ConfigError,
    EstimationError,
    ExitCode,
    FatalSourceError,
    RetriableSourceError,
    TracestrataError,
)
from tracestrata.io.atomic import atomic_write_text
from tracestrata.io.retry import governing, retrying
from tracestrata.job.config import SyncConfig, load_config, source_identity
from tracestrata.job.evaluator_reports import refresh_evaluator_report
from tracestrata.job.health import HEALTH_CURSOR, Health, human_age
from tracestrata.job.logs import NullLog, SyncLog
from tracestrata.job.state import PlannedItem, RunRow, RunStatus, State, lock_state
from tracestrata.job.window_plan import WindowPlan, auto_floor, plan_window
from tracestrata.job.windows import day_share, due_windows, format_duration, pending_count
from tracestrata.protocols import (
    Connector,
    LinksReview,
    SampleItem,
    SetsUpReview,
    SinkKind,
    TraceSource,
    Window,
    iter_chunks,
)
from tracestrata.record import format_timestamp, parse_timestamp
from tracestrata.sampling.dedupe import unique_records
from tracestrata.sampling.field_check import sample_warnings
from tracestrata.sampling.policy import DAY, Period, Policy
from tracestrata.sampling.hashing import hash_key
from tracestrata.sampling.samplers import SampleResult
from tracestrata.sampling.sources import sample_source

T = TypeVar("T")

SCORE_BATCH = 200
DEBUG_HOOK_ENV = "TRACESTRATA_DEBUG_WRITE_HOOK"  # test-only, see _debug_hook


@dataclass
class WindowResult:
    window: Window
    traces: int
    selected: int
    written: int
    resumed: bool = False
    series: int = 1


@dataclass
class SyncOutcome:
    windows: list[WindowResult] = field(default_factory=list)
    pending: int = 0  # closed windows still to do (over the cap, or after a stop)
    scores_changed: int = 0
    reports: list[Path] = field(default_factory=list)
    alarms: list[dict[str, Any]] = field(default_factory=list)  # [alert] watch: the standing alarms
    partial: str | None = None  # why the run stopped early
    judge_error: TracestrataError | None = None  # the judge step stopped (refused key, bad judge): its exit code
    failing: str | None = None  # set when stopping early has become a job that makes no progress
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.windows or self.scores_changed or self.reports)

    @property
    def exit_code(self) -> ExitCode:
        if self.failing:
            return ExitCode.FAILING
        if self.judge_error is not None:
            return self.judge_error.exit_code
        return ExitCode.PARTIAL if self.partial else ExitCode.OK


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


def retry_message(exc: RetriableSourceError, attempt: int, wait: float, attempts: int, what: str = "") -> str:
    """The `-v` line for one retry: what failed, why, which attempt, and the wait."""
    prefix = f"{what}: " if what else ""
    return f"retry: {prefix}{exc} (attempt {attempt} of {attempts}, retrying in {wait:.1f}s)"


class _Run:
    def __init__(
        self,
        config: SyncConfig,
        state: State,
        connector: Connector,
        now: datetime,
        log: SyncLog,
        dry_run: bool,
        sleep: Callable[[float], None] | None,
    ) -> None:
        self.config = config
        self.state = state
        self.connector = connector
        self.now = now
        self.log = log
        self.dry_run = dry_run
        self.sleep = sleep
        self.source = config.source_key()
        self.policy = config.policy
        self.outcome = SyncOutcome(dry_run=dry_run)
        self.writes = 0
        self.stopped_by: RetriableSourceError | None = None
        self.warned_fields: set[str] = set()  # policy fields already warned about in this run

    # -- helpers -----------------------------------------------------------------------------

    def retry(self, what: str, fn: Callable[[], T]) -> T:
        def on_retry(exc: RetriableSourceError, attempt: int, wait: float) -> None:
            message = retry_message(exc, attempt, wait, self.config.retry.attempts, what)
            self.log.detail("retry", message, attempt=attempt, wait=round(wait, 3))

        return retrying(fn, policy=self.config.retry, sleep=self.sleep, on_retry=on_retry)

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
                result = self.window(window)
            except RetriableSourceError as exc:
                self.stopped_by = exc
                self.outcome.partial = (
                    f"stopped at window {window.key}: {exc}; retries exhausted, "
                    "progress is recorded, the next run continues"
                )
                self.log.detail("partial", self.outcome.partial, window=window.key)
                return
            self.outcome.windows.append(result)
            self.outcome.pending -= 1
        if self.dry_run:
            return
        try:
            self.check_late()
            self.judge()
            self.read_scores()
            self.watch()
            self.refresh_reports()
            self.outcome.reports += refresh_evaluator_report(
                self.config, self.state.runs(self.source), self.connector, self.now,
                new_windows=bool(self.outcome.windows), retry=self.retry, log=self.log,
            )
        except RetriableSourceError as exc:
            self.stopped_by = exc
            self.outcome.partial = f"stopped reading scores: {exc}; retries exhausted, the next run continues"
            self.log.detail("partial", self.outcome.partial)

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
            self.stopped_by = exc
            self.outcome.partial = f"stopped setting up the review: {exc}; retries exhausted, the next run continues"
            self.log.detail("partial", self.outcome.partial)
            return False
        if created:
            self.log.change("labels", f"labels: created {', '.join(created)} for reviewers", created=created)
        return True

    def window(self, window: Window) -> WindowResult:
        run = self.state.open_run(self.source, window.start)
        resumed = run is not None
        if run is None:
            run, traces, selected = self.plan(window)
        else:
            traces = int(run.counts.get("traces", 0))
            selected = int(run.counts.get("selected", 0))
            self.log.detail("resume", f"{window.key}: resuming an unfinished run ({run.run_id})")
        if self.dry_run:
            self.log.change("dry-run", f"{window.key}: {traces} traces, {selected} would be sampled (dry run: nothing written)")
            return WindowResult(window, traces, selected, 0, resumed, run.series)
        written = self.write(run)
        self.state.finish_run(run)
        sinks = self.sink_names(window)
        where = " and ".join(f"{kind.value} {name}" for kind, name in sinks)
        extra = f" (resumed, {written} remaining written)" if resumed else ""
        series = f", new series {run.series} (policy changed)" if run.counts.get("new_series") and not resumed else ""
        say = self.log.change if traces or resumed else self.log.detail  # an empty window changes nothing to look at
        say(
            "window",
            f"{window.key}: {traces} traces, {selected} sampled "
            f"({run.counts.get('failures', 0)} failures, {run.counts.get('boosted', 0)} boosted), "
            f"written to {where}{extra}{series}",
            window=window.key,
            traces=traces,
            selected=selected,
            written=written,
        )
        return WindowResult(window, traces, selected, written, resumed, run.series)

    def sink_names(self, window: Window) -> list[tuple[SinkKind, str]]:
        out = [(SinkKind.DATASET, render_name(self.config.dataset, window, self.source, self.policy.digest))]
        if self.config.queue:
            out.append((SinkKind.QUEUE, render_name(self.config.queue, window, self.source, self.policy.digest)))
        return out

    def window_policy(self, window: Window) -> Policy:
        """The policy with daily targets (`per = "day"`) split for `window` by the traffic before it."""
        if self.policy.targets.per is not Period.DAY:
            return self.policy
        return self.policy.for_window(day_share(window, self.state.traffic(self.source, window.start - DAY, window.start)))

    def plan(self, window: Window) -> tuple[RunRow, int, int]:
        """Draw `window`'s sample, plan its run (`plan_window`, pure) and record the plan in the state."""
        boost_before = self.state.boost_collected(self.source)
        policy = auto_floor(self.window_policy(window), self.state, self.source, window, self.config.metric)
        result = self.draw(window, policy, boost_before)
        series = self.state.next_series(self.source, self.policy.digest, self.policy.to_json())
        last = self.state.last_run(self.source)
        share = policy.targets.window
        plan = plan_window(
            result, window, self.policy, source=self.source, series=series,
            new_series=last is not None and last.series != series, sinks=self.sink_names(window), share=share,
        )
        if share is not None:
            population = plan.population
            basis = "no traffic before it: its duration" if share.expected is None else f"~{share.expected:,.0f} a day"
            self.log.detail(
                "targets",
                f"{window.key}: daily targets x {share.of(population):.4f} ({population} traces; {basis})",
                window=window.key,
            )
        if not self.dry_run:
            self.save_plan(plan, boost_before)
        return plan.row, plan.population, len(result.selected)

    def draw(self, window: Window, policy: Policy, boost_before: Mapping[str, int]) -> SampleResult:
        """The window's sample, streamed straight into the sketch (memory bounded by the targets,
        not the window's volume; a pull that fails mid-way is retried from the start), with its
        warnings logged: repeated ids, and each policy field the window lacks (once per run)."""
        source = self.connector.trace_source()
        if self.config.proxy_score:
            source = ProxyFilledSource(
                source, self.connector.score_source(), self.config.proxy_score, settle=self.config.settle
            )
        result = self.retry(
            f"pulling {window.key}",
            lambda: sample_source(source, policy, window, boost_collected=boost_before),
        )
        if result.duplicates:
            self.log.warn(
                "duplicates",
                f"{window.key}: {result.duplicates} repeated trace ids dropped (each trace is one unit: its first "
                "occurrence kept)",
                window=window.key,
                duplicates=result.duplicates,
            )
        warnings = sample_warnings(result, self.policy, skip=self.warned_fields)
        for path, line in warnings.items():
            self.log.warn("field", f"{window.key}: {line}", window=window.key, field=path)
        self.warned_fields.update(warnings)
        return result

    def save_plan(self, plan: WindowPlan, boost_before: Mapping[str, int]) -> None:
        """The state write of a window's plan: its run, sampled traces, items and boost counts, at once."""
        row = plan.row
        self.state.plan_run(
            run_id=row.run_id,
            source=row.source,
            window_start=row.window_start,
            window_end=row.window_end,
            policy_digest=row.policy_digest,
            series=row.series,
            cells=row.cells,
            counts=row.counts,
            sampled=plan.sampled,
            items=plan.items,
            boost_collected=plan.boost_collected,
            policy=self.policy.to_json(),
        )
        for name, collected in sorted(plan.boost_collected.items()):
            if collected != boost_before.get(name, 0):
                self.log.detail("boost", f"boost {name}: {collected} collected")

    def write(self, run: RunRow) -> int:
        pending = self.state.pending_items(run.run_id)
        by_sink: dict[tuple[str, str], list[PlannedItem]] = {}
        for item in pending:
            by_sink.setdefault((item.sink_kind, item.sink_name), []).append(item)
        written = 0
        for (kind, name), planned in by_sink.items():
            sink = self.connector.sample_sink(SinkKind(kind), name)
            for batch in iter_chunks(planned, self.config.batch_size):
                items = [SampleItem.from_json(p.payload) for p in batch]
                _debug_hook("before-write", self.writes)
                try:
                    self.retry(f"writing {kind} {name}", lambda items=items: sink.write(items))
                except RetriableSourceError:
                    self.state.set_run_status(run.run_id, RunStatus.PARTIAL)
                    raise
                _debug_hook("after-write", self.writes)
                self.state.mark_written([p.item_id for p in batch])
                _debug_hook("after-mark", self.writes)
                self.writes += 1
                written += len(batch)
        return written

    def check_late(self) -> None:
        """Re-count a few recently sampled windows once: traces that arrived after a window
        was sampled are outside its design; say so (once) instead of losing them silently."""
        cfg = self.config
        if cfg.late_check <= 0:
            return
        this_run = {w.window.start for w in self.outcome.windows}
        eligible = [
            r
            for r in self.state.runs(self.source)
            if "late" not in r.counts
            and r.window_start not in this_run
            and r.window_end + cfg.settle + cfg.every <= self.now
        ]
        source = self.connector.trace_source()
        for run in sorted(eligible, key=lambda r: r.window_start, reverse=True)[: cfg.late_check]:
            window = Window(run.window_start, run.window_end)
            try:
                now_count = self.retry(f"re-counting {window.key}", lambda window=window: self.count_distinct(source, window))
            except RetriableSourceError as exc:
                self.log.detail("skip", f"{window.key}: late-trace check skipped ({exc})")
                continue
            late = max(0, now_count - int(run.counts.get("traces", 0)))
            self.state.update_counts(run.run_id, {**run.counts, "late": late})
            if late:
                self.log.warn(
                    "late",
                    f"{window.key}: {late} traces arrived after the window was sampled; they are not in its "
                    f"sample or the estimates (raise window.settle above the ingestion delay, now {format_duration(cfg.settle)})",
                    window=window.key,
                    late=late,
                )
            else:
                self.log.detail("skip", f"{window.key}: no late traces")

    def count_distinct(self, source: TraceSource, window: Window) -> int:
        """Traces in `window` now, a repeated id counted once (as sampling counts them)."""
        return sum(1 for _ in unique_records(source.iter_traces(window), hash_key(self.policy.seed)))

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

    def judge_failed_warnings(self, metric: str) -> tuple[Any, ...]:
        """The counts of sampled traces the judge failed on (or stopped before) and of those its budget
        deferred (not a failure), for the report of `metric` when it is the judge's score, or a label
        whose two-phase estimate the judge calibrates."""
        judge = self.config.judge
        if judge is None or judge.name not in (metric, self.config.label_judges.get(metric)):
            return ()
        from tracestrata.estimate.report import ReportWarning
        from tracestrata.job.judge_step import deferred_cursor, failed_cursor

        why = {
            "judge_failed": (failed_cursor, "sampled traces are unscored because the judge failed on them (429s, "
                             "timeouts or answers that did not parse, past the retries) or stopped before them; "
                             "the next run tries them again"),
            "judge_deferred": (deferred_cursor, "sampled traces are not judged yet: the judge's call budget "
                               "(max_calls_per_run, max_calls_per_day) left them for a later run"),
        }
        counts = {code: len(json.loads(self.state.get_cursor(self.source, cursor(judge.name)) or "[]"))
                  for code, (cursor, _) in why.items()}
        return tuple(ReportWarning(code, f"{n} {why[code][1]}", {"count": n}) for code, n in counts.items() if n)

    def read_scores(self) -> None:
        names = self.config.score_names
        if not names:
            return
        runs = self.state.sampled_runs(self.source, ending_after=self.now - self.config.report_period)
        trace_ids = list(dict.fromkeys(t for _, t, _, _ in self.state.sampled([r.run_id for r in runs])))
        if not trace_ids:
            return
        scores_source = self.connector.score_source()
        changed = 0
        for batch in iter_chunks(trace_ids, SCORE_BATCH):
            scores = self.retry(
                "reading scores", lambda batch=batch: list(scores_source.get_scores(batch, list(names)))
            )
            changed += self.state.store_scores(scores)
        self.state.set_cursor(self.source, "scores_read_at", format_timestamp(self.now))
        self.outcome.scores_changed = changed
        if changed:
            self.log.change("scores", f"scores: {changed} new or changed for {len(trace_ids)} sampled traces", changed=changed)
        else:
            self.log.detail("skip", f"scores: nothing new for {len(trace_ids)} sampled traces")

    def watch(self) -> None:
        """`[alert] watch`: one line per standing alarm whenever new windows or scores arrived."""
        settings = _watch_settings(self.config)
        if settings is None or not (self.outcome.windows or self.outcome.scores_changed
                                    or self.state.get_cursor(self.source, "alarms") is None):
            return
        from tracestrata.estimate.alarm import alarm_line
        from tracestrata.job.report_page import watch_ledger

        detections, _ = watch_ledger(self.config.state, settings, until=self.now, source=self.source)
        standing = [d for d in detections if d.alarm]
        for d in standing:
            self.log.warn("alarm", alarm_line(d), **d.to_json())
        self.outcome.alarms = [d.to_json() for d in standing]
        self.state.set_cursor(self.source, "alarms", json.dumps(self.outcome.alarms))
        if not standing:
            self.log.detail("skip", f"alarms: none ({len(detections)} series watched)")

    def page_for(self, design: Any, scores: Sequence[Any]) -> Callable[[Any], Any]:
        """The report page (context, trend, alarms, links) the job's reports carry."""
        cfg = self.config

        def build(report: Any) -> Any:
            from tracestrata.job.report_page import ledger_page

            return ledger_page(cfg.state, report, design, scores, since=cfg.report_period, until=self.now,
                               source=self.source, by=cfg.report_by, watch=_watch_settings(cfg),
                               ui_url=self.ui_url(), now=self.now)

        return build

    def ui_url(self) -> str | None:
        """`[report] ui_url`, else the Phoenix or Langfuse project's page (the job talks to it anyway):
        the report links each stratum to its filtered span (Phoenix) or trace (Langfuse) view."""
        if self.config.report_ui_url or self.config.source_type not in ("phoenix", "langfuse"):
            return self.config.report_ui_url
        if self.config.source_type == "langfuse":
            from tracestrata.connectors.langfuse import LangfuseConnector

            if not isinstance(self.connector, LangfuseConnector):
                return None
            try:  # the client retries under [retry]; a refusal costs the links, not the report
                return self.connector.project_url()
            except (FatalSourceError, RetriableSourceError) as exc:
                self.log.detail("skip", f"report links: no Langfuse project page ({exc})")
                return None
        from tracestrata.connectors.phoenix import PhoenixConnector

        connector = self.connector
        if not isinstance(connector, PhoenixConnector):
            return None
        return self.retry("finding the Phoenix project", connector.project_url)  # no login: it goes into reports

    def write_review_list(self, design: Any, scores: Sequence[Any]) -> Path | None:
        """`<report dir>/review.md`: the review subsample in review order (review_list.py)."""
        if self.policy.review is None:
            return None
        from tracestrata.job.review_list import render_review_list, review_rows

        rows = review_rows(design, self.policy)
        labels = [label.name for label in self.config.labels]
        labelled = {s.trace_id for s in scores if s.name in labels} if labels else set()
        links = self.connector if isinstance(self.connector, LinksReview) else None
        filtered = None
        if links is not None and rows:
            starts = sorted(c.window for c in design.cells if c.window)
            first, last = starts[0].split("/")[0], starts[-1].split("/")[1]
            filtered = links.review_url(Window(parse_timestamp(first), parse_timestamp(last)))
        text = render_review_list(
            rows, labelled, labels=labels, filtered_url=filtered,
            trace_url=links.trace_url if links is not None else (lambda _: None),
        )
        path = self.config.report_dir / "review.md"
        atomic_write_text(path, text)
        return path

    def refresh_reports(self) -> None:
        cfg = self.config
        if not (cfg.metric or cfg.report_metrics) or not cfg.report_formats:
            return
        last = self.state.get_cursor(self.source, "reports_written")
        settings = _report_settings_digest(cfg)
        if last is not None and not (self.outcome.windows or self.outcome.scores_changed):
            written = _written_reports(last, settings)
            if written is not None and all(Path(p).exists() for p in written):
                self.log.detail("skip", "reports: up to date")
                return
        from tracestrata.job.ledger import design_from_ledger

        design, scores = design_from_ledger(cfg.state, since=cfg.report_period, until=self.now, source=self.source)
        if not design.cells:
            self.log.detail("skip", "reports: no finished window in the period yet")
            return
        reported = []
        for n, metric in enumerate(cfg.report_metrics or (cfg.metric,)):
            # a human label calibrating a judge: the two-phase estimate; [report] proxy: the main metric's
            proxy = f"score:{cfg.label_judges[metric]}" if metric in cfg.label_judges else (
                cfg.report_proxy if metric == cfg.metric else None)
            try:
                texts = render_reports(design, scores, metric, cfg.report_formats, confidence=cfg.confidence,
                                       proxy=proxy, page_for=self.page_for(design, scores),
                                       warnings=self.judge_failed_warnings(metric))
            except EstimationError as exc:
                if any(s.name == metric for s in scores):  # the metric's own scores cannot be reported (mixed kinds)
                    self.log.warn("report", f"report {metric} not refreshed: {exc}")
                else:
                    self.log.detail("skip", f"report {metric}: not yet ({exc})")
                continue
            stem = "report" if n == 0 else f"report-{_file_part(metric)}"
            for fmt, text in texts.items():
                path = cfg.report_dir / f"{stem}.{fmt}"
                atomic_write_text(path, text)
                self.outcome.reports.append(path)
            reported.append(metric + (" (two-phase)" if proxy and proxy.startswith("score:") else ""))
        review = self.write_review_list(design, scores)
        if review is not None:
            self.outcome.reports.append(review)
        if not reported:
            return
        self.state.set_cursor(self.source, "reports_written", json.dumps(
            {"settings": settings, "paths": [str(p) for p in self.outcome.reports]}))
        windows = len({c.window for c in design.cells})
        self.log.change(
            "report",
            f"report: {', '.join(reported)} over {windows} windows -> {', '.join(str(p) for p in self.outcome.reports)}",
        )


def _watch_settings(cfg: SyncConfig) -> Any:
    from tracestrata.job.report_page import WatchSettings

    return WatchSettings(cfg.watch, alpha=cfg.alert_alpha, horizon=cfg.alert_horizon) if cfg.watch else None


def _report_settings_digest(cfg: SyncConfig) -> str:
    """A digest of everything in the config that changes what the reports say or where they go
    ([report] metrics, formats, proxy, confidence, by, ...): a change writes them again."""
    settings = {
        "metric": cfg.metric, "metrics": list(cfg.report_metrics), "formats": list(cfg.report_formats),
        "dir": str(cfg.report_dir), "period": cfg.report_period.total_seconds(), "confidence": cfg.confidence,
        "proxy": cfg.report_proxy, "evaluator": cfg.report_evaluator, "by": cfg.report_by,
        "ui_url": cfg.report_ui_url, "label_judges": dict(sorted(cfg.label_judges.items())),
        "watch": list(cfg.watch), "alpha": cfg.alert_alpha, "horizon": cfg.alert_horizon,
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def _written_reports(cursor: str, settings: str) -> list[str] | None:
    """The `reports_written` cursor's files; None when they were written under other report settings
    (or from an older cursor, or a value edited into nonsense): "write them again"."""
    try:
        value = json.loads(cursor)
    except ValueError:
        return None
    if not isinstance(value, dict) or value.get("settings") != settings:
        return None
    paths = value.get("paths")
    return [str(p) for p in paths] if isinstance(paths, list) and all(isinstance(p, str) and p for p in paths) else None


def render_reports(
    design: Any,
    scores: Iterable[Any],
    metric: str,
    formats: Sequence[str],
    *,
    confidence: float = 0.95,
    proxy: str | None = None,
    page_for: Callable[[Any], Any] | None = None,
    warnings: Sequence[Any] = (),
) -> dict[str, str]:
    """The report over `design` in each of `formats` (json, md, html), as text; `proxy` as `report --proxy`;
    `warnings` (`ReportWarning`s) added to the report's own."""
    import dataclasses

    from tracestrata.estimate.render import render_report
    from tracestrata.estimate.report import build_report

    report = build_report(design, list(scores), metric, confidence=confidence, proxy=proxy)
    page = page_for(report) if page_for is not None else None
    if warnings:
        report = dataclasses.replace(report, warnings=(*report.warnings, *warnings))
    out: dict[str, str] = {}
    for fmt in formats:
        out[fmt] = render_report(report, fmt, page)
    return out


def _file_part(name: str) -> str:
    """A metric name as part of a file name (letters, digits, `-`, `_`, `.` kept)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "metric"


def render_name(template: str, window: Window, source: str, digest: str) -> str:
    """Fill a sink name template: `{date}`, `{window_start}`, `{window_end}`, `{window}`, `{source}`, `{policy}`."""

    def compact(moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%Y%m%dT%H%MZ")

    return template.format(
        date=window.start.astimezone(UTC).strftime("%Y-%m-%d"),
        window_start=compact(window.start),
        window_end=compact(window.end),
        window=f"{compact(window.start)}-{compact(window.end)}",
        source=source.split("?", 1)[0],
        policy=digest[:12],
    )


def _debug_hook(phase: str, writes_done: int) -> None:
    """Test-only fault injection, off unless `TRACESTRATA_DEBUG_WRITE_HOOK` is set.

    `sleep:SECONDS` sleeps before every batch write (to kill the process from
    outside at a random moment); `kill:N:PHASE` SIGKILLs this process at the N-th
    batch (0-based) in PHASE (`before-write`, `after-write`, `after-mark`).
    """
    spec = os.environ.get(DEBUG_HOOK_ENV)
    if not spec:
        return
    kind, _, rest = spec.partition(":")
    if kind == "sleep" and phase == "before-write":
        time.sleep(float(rest))
    elif kind == "kill":
        number, _, when = rest.partition(":")
        if int(number) == writes_done and when == phase:
            os.kill(os.getpid(), signal.SIGKILL)


__all__ = ["SyncOutcome", "WindowResult", "load_config", "load_connector", "render_name", "run_sync"]
