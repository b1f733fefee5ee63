"""The read-back step of a scheduled run: read the scores of the traces sampled in the
reporting period, store what is new, and (`[alert] watch`) say which alarms stand."""

from __future__ import annotations

import json

from tracestrata.job.report_step import watch_settings
from tracestrata.job.run_context import RunContext
from tracestrata.protocols import iter_chunks
from tracestrata.record import format_timestamp

SCORE_BATCH = 200


def read_scores(ctx: RunContext) -> None:
    names = ctx.config.score_names
    if not names:
        return
    runs = ctx.state.sampled_runs(ctx.source, ending_after=ctx.now - ctx.config.report_period)
    trace_ids = list(dict.fromkeys(t for _, t, _, _ in ctx.state.sampled([r.run_id for r in runs])))
    if not trace_ids:
        return
    scores_source = ctx.connector.score_source()
    changed = 0
    for batch in iter_chunks(trace_ids, SCORE_BATCH):
        scores = ctx.retry(
            "reading scores", lambda batch=batch: list(scores_source.get_scores(batch, list(names)))
        )
        changed += ctx.state.store_scores(scores)
    ctx.state.set_cursor(ctx.source, "scores_read_at", format_timestamp(ctx.now))
    ctx.outcome.scores_changed = changed
    if changed:
        ctx.log.change("scores", f"scores: {changed} new or changed for {len(trace_ids)} sampled traces", changed=changed)
    else:
        ctx.log.detail("skip", f"scores: nothing new for {len(trace_ids)} sampled traces")


def watch(ctx: RunContext) -> None:
    """`[alert] watch`: one line per standing alarm whenever new windows or scores arrived."""
    settings = watch_settings(ctx.config)
    if settings is None or not (ctx.outcome.windows or ctx.outcome.scores_changed
                                or ctx.state.get_cursor(ctx.source, "alarms") is None):
        return
    from tracestrata.estimate.alarm import alarm_line
    from tracestrata.job.report_page import watch_ledger

    detections, _ = watch_ledger(ctx.config.state, settings, until=ctx.now, source=ctx.source)
    standing = [d for d in detections if d.alarm]
    for d in standing:
        ctx.log.warn("alarm", alarm_line(d), **d.to_json())
    ctx.outcome.alarms = [d.to_json() for d in standing]
    ctx.state.set_cursor(ctx.source, "alarms", json.dumps(ctx.outcome.alarms))
    if not standing:
        ctx.log.detail("skip", f"alarms: none ({len(detections)} series watched)")


__all__ = ["SCORE_BATCH", "read_scores", "watch"]
