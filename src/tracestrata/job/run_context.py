"""What every step of a scheduled run shares: the config, the open state, the connector, the
clock, the log, what the run has done so far (`SyncOutcome`), and the retry under `[retry]`.

`job/sync.py` drives the steps in order; each step (window_step, late_step, scores_step,
report_step, judge_step) is a function of this context.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from tracestrata.errors import ExitCode, RetriableSourceError, TracestrataError
from tracestrata.io.retry import retrying
from tracestrata.job.config import SyncConfig
from tracestrata.job.logs import SyncLog
from tracestrata.job.state import State
from tracestrata.protocols import Connector, Window
from tracestrata.record import JSONValue
from tracestrata.policy.model import Policy

T = TypeVar("T")


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
    alarms: list[dict[str, JSONValue]] = field(default_factory=list)  # [alert] watch: the standing alarms
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


def retry_message(exc: RetriableSourceError, attempt: int, wait: float, attempts: int, what: str = "") -> str:
    """The `-v` line for one retry: what failed, why, which attempt, and the wait."""
    prefix = f"{what}: " if what else ""
    return f"retry: {prefix}{exc} (attempt {attempt} of {attempts}, retrying in {wait:.1f}s)"


class RunContext:
    """One scheduled run in progress: what its steps read and what they add to `outcome`."""

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
        self.policy: Policy = config.policy
        self.outcome = SyncOutcome(dry_run=dry_run)
        self.writes = 0
        self.stopped_by: RetriableSourceError | None = None
        self.warned_fields: set[str] = set()  # policy fields already warned about in this run

    def retry(self, what: str, fn: Callable[[], T]) -> T:
        def on_retry(exc: RetriableSourceError, attempt: int, wait: float) -> None:
            message = retry_message(exc, attempt, wait, self.config.retry.attempts, what)
            self.log.detail("retry", message, attempt=attempt, wait=round(wait, 3))

        return retrying(fn, policy=self.config.retry, sleep=self.sleep, on_retry=on_retry)

    def stop(self, exc: RetriableSourceError, line: str, **fields: JSONValue) -> None:
        """The run stops here, partial (exit 4): what was done is recorded, the next run continues."""
        self.stopped_by = exc
        self.outcome.partial = line
        self.log.detail("partial", line, **fields)


__all__ = ["RunContext", "SyncOutcome", "WindowResult", "retry_message"]
