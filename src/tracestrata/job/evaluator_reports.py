"""The job's evaluator report: `[report] evaluator = "NAME"` in sync.toml.

The policy declares the evaluator (`[[evaluator]]`: rate, what it hashes, its filter);
after the usual report, the job reports the evaluator's own scores over the same
period, as `report report` does with `--evaluator` (`tracestrata.estimate.evaluator`):
one pull of the period's finished windows counts the strata inside and outside the
filter and finds the traces the evaluator picked, then their scores are read by id
from the backend's score source. Written as `evaluator-NAME.<fmt>` beside the report,
refreshed when new windows were finished (or a file is missing), quiet otherwise:
scores the evaluator writes later are picked up with the next window.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol, TypeVar

from tracestrata.errors import EstimationError
from tracestrata.estimate.evaluator import evaluator_report
from tracestrata.estimate.render import render_report
from tracestrata.io.atomic import atomic_write_text
from tracestrata.job.config import SyncConfig
from tracestrata.job.logs import SyncLog
from tracestrata.job.state_rows import RunRow
from tracestrata.protocols import Connector, Window, iter_chunks
from tracestrata.record import Score
from tracestrata.evaluators.design import source_evaluator_design

T = TypeVar("T")


class Retry(Protocol):
    """Calls `fn` under the job's `[retry]` budget; `what` names it in the retry lines."""

    def __call__(self, what: str, fn: Callable[[], T]) -> T: ...


SCORE_BATCH = 200


def report_window(runs: Sequence[RunRow], now: datetime, period: timedelta) -> Window | None:
    """From the first to the last finished window ending inside the report period (None: none yet)."""
    inside = [r for r in runs if r.window_end > now - period]
    if not inside:
        return None
    return Window(min(r.window_start for r in inside), max(r.window_end for r in inside))


def refresh_evaluator_report(
    config: SyncConfig,
    runs: Sequence[RunRow],
    connector: Connector,
    now: datetime,
    *,
    new_windows: bool,
    retry: Retry,
    log: SyncLog,
) -> list[Path]:
    """Write the evaluator report when it is due; the paths written (none when skipped)."""
    name = config.report_evaluator
    if name is None or not config.report_formats:
        return []
    paths = [config.report_dir / f"evaluator-{name}.{fmt}" for fmt in config.report_formats]
    if not new_windows and all(p.exists() for p in paths):
        log.detail("skip", f"evaluator report {name}: up to date")
        return []
    window = report_window(runs, now, config.report_period)
    if window is None:
        log.detail("skip", f"evaluator report {name}: no finished window in the period yet")
        return []
    policy = config.policy
    built = retry(
        "pulling traces for the evaluator report",
        lambda: source_evaluator_design(connector.trace_source(), policy, policy.evaluator(name), window),
    )
    scores_source = connector.score_source()
    scores: list[Score] = []
    for batch in iter_chunks([u.trace_id for u in built.design.units], SCORE_BATCH):
        scores += retry("reading evaluator scores", lambda batch=batch: list(scores_source.get_scores(batch, [name])))
    try:
        report = evaluator_report(built.design, built.scope, scores, confidence=config.confidence)
    except EstimationError as exc:
        log.warn("report", f"evaluator report {name} not refreshed: {exc}")
        return []
    for fmt, path in zip(config.report_formats, paths, strict=True):
        atomic_write_text(path, render_report(report, fmt))
    log.change(
        "report",
        f"evaluator report: {name} over {window.key}, {report.estimate.n_scored} of "
        f"{built.scope.in_filter} filtered traces scored -> {', '.join(str(p) for p in paths)}",
    )
    return paths


__all__ = ["refresh_evaluator_report", "report_window"]
