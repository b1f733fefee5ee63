"""The late-trace step of a scheduled run: re-count a few recently sampled windows once, and
say (once) how many traces arrived after each was sampled (they are outside its design)."""

from __future__ import annotations

from tracestrata.errors import RetriableSourceError
from tracestrata.job.run_context import RunContext
from tracestrata.job.windows import format_duration
from tracestrata.protocols import TraceSource, Window
from tracestrata.sampling.dedupe import unique_records
from tracestrata.sampling.hashing import hash_key


def check_late(ctx: RunContext) -> None:
    """Re-count a few recently sampled windows once: traces that arrived after a window
    was sampled are outside its design; say so (once) instead of losing them silently."""
    cfg = ctx.config
    if cfg.late_check <= 0:
        return
    this_run = {w.window.start for w in ctx.outcome.windows}
    eligible = [
        r
        for r in ctx.state.runs(ctx.source)
        if "late" not in r.counts
        and r.window_start not in this_run
        and r.window_end + cfg.settle + cfg.every <= ctx.now
    ]
    source = ctx.connector.trace_source()
    for run in sorted(eligible, key=lambda r: r.window_start, reverse=True)[: cfg.late_check]:
        window = Window(run.window_start, run.window_end)
        try:
            now_count = ctx.retry(f"re-counting {window.key}", lambda window=window: count_distinct(ctx, source, window))
        except RetriableSourceError as exc:
            ctx.log.detail("skip", f"{window.key}: late-trace check skipped ({exc})")
            continue
        late = max(0, now_count - int(run.counts.get("traces", 0)))
        ctx.state.update_counts(run.run_id, {**run.counts, "late": late})
        if late:
            ctx.log.warn(
                "late",
                f"{window.key}: {late} traces arrived after the window was sampled; they are not in its "
                f"sample or the estimates (raise window.settle above the ingestion delay, now {format_duration(cfg.settle)})",
                window=window.key,
                late=late,
            )
        else:
            ctx.log.detail("skip", f"{window.key}: no late traces")


def count_distinct(ctx: RunContext, source: TraceSource, window: Window) -> int:
    """Traces in `window` now, a repeated id counted once (as sampling counts them)."""
    return sum(1 for _ in unique_records(source.iter_traces(window), hash_key(ctx.policy.seed)))


__all__ = ["check_late"]
