"""The window step of a scheduled run: draw a closed window's sample, plan its run
(`window_plan.plan_window`, pure), record the plan in the state, then write its items to the
sinks in batches, marking each batch once the sink confirmed it."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime

from tracestrata.errors import RetriableSourceError
from tracestrata.job.proxy_fill import ProxyFilledSource
from tracestrata.job.run_context import RunContext, WindowResult
from tracestrata.job.state_rows import PlannedItem, RunRow, RunStatus
from tracestrata.job.window_plan import WindowPlan, auto_floor, plan_window
from tracestrata.job.windows import day_share
from tracestrata.protocols import SampleItem, SinkKind, Window, iter_chunks
from tracestrata.sampling.field_check import sample_warnings
from tracestrata.policy.model import DAY, Period, Policy
from tracestrata.sampling.sample_result import SampleResult
from tracestrata.sampling.sources import sample_source

DEBUG_HOOK_ENV = "TRACESTRATA_DEBUG_WRITE_HOOK"  # test-only, see _debug_hook


def sample_window(ctx: RunContext, window: Window) -> WindowResult:
    run = ctx.state.open_run(ctx.source, window.start)
    resumed = run is not None
    if run is None:
        run, traces, selected = _plan(ctx, window)
    else:
        traces = int(run.counts.get("traces", 0))
        selected = int(run.counts.get("selected", 0))
        ctx.log.detail("resume", f"{window.key}: resuming an unfinished run ({run.run_id})")
    if ctx.dry_run:
        ctx.log.change("dry-run", f"{window.key}: {traces} traces, {selected} would be sampled (dry run: nothing written)")
        return WindowResult(window, traces, selected, 0, resumed, run.series)
    written = _write(ctx, run)
    ctx.state.finish_run(run)
    sinks = sink_names(ctx, window)
    where = " and ".join(f"{kind.value} {name}" for kind, name in sinks)
    extra = f" (resumed, {written} remaining written)" if resumed else ""
    series = f", new series {run.series} (policy changed)" if run.counts.get("new_series") and not resumed else ""
    say = ctx.log.change if traces or resumed else ctx.log.detail  # an empty window changes nothing to look at
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


def sink_names(ctx: RunContext, window: Window) -> list[tuple[SinkKind, str]]:
    out = [(SinkKind.DATASET, render_name(ctx.config.dataset, window, ctx.source, ctx.policy.digest))]
    if ctx.config.queue:
        out.append((SinkKind.QUEUE, render_name(ctx.config.queue, window, ctx.source, ctx.policy.digest)))
    return out


def window_policy(ctx: RunContext, window: Window) -> Policy:
    """The policy with daily targets (`per = "day"`) split for `window` by the traffic before it."""
    if ctx.policy.targets.per is not Period.DAY:
        return ctx.policy
    return ctx.policy.for_window(day_share(window, ctx.state.traffic(ctx.source, window.start - DAY, window.start)))


def _plan(ctx: RunContext, window: Window) -> tuple[RunRow, int, int]:
    """Draw `window`'s sample, plan its run (`plan_window`, pure) and record the plan in the state."""
    boost_before = ctx.state.boost_collected(ctx.source)
    policy = auto_floor(window_policy(ctx, window), ctx.state, ctx.source, window, ctx.config.metric)
    result = _draw(ctx, window, policy, boost_before)
    series = ctx.state.next_series(ctx.source, ctx.policy.digest, ctx.policy.to_json())
    last = ctx.state.last_run(ctx.source)
    share = policy.targets.window
    plan = plan_window(
        result, window, replace(ctx.policy, weight=policy.weight), source=ctx.source, series=series,
        new_series=last is not None and last.series != series, sinks=sink_names(ctx, window), share=share,
    )
    if policy.weight is not None and policy.weight.auto:
        ctx.log.detail(
            "floor", f"{window.key}: [sampling] floor auto -> {policy.weight.floor:g}", window=window.key
        )
    if share is not None:
        population = plan.population
        basis = "no traffic before it: its duration" if share.expected is None else f"~{share.expected:,.0f} a day"
        ctx.log.detail(
            "targets",
            f"{window.key}: daily targets x {share.of(population):.4f} ({population} traces; {basis})",
            window=window.key,
        )
    if not ctx.dry_run:
        _save_plan(ctx, plan, boost_before)
    return plan.row, plan.population, len(result.selected)


def _draw(ctx: RunContext, window: Window, policy: Policy, boost_before: Mapping[str, int]) -> SampleResult:
    """The window's sample, streamed straight into the sketch (memory bounded by the targets,
    not the window's volume; a pull that fails mid-way is retried from the start), with its
    warnings logged: repeated ids, and each policy field the window lacks (once per run)."""
    source = ctx.connector.trace_source()
    if ctx.config.proxy_score:
        source = ProxyFilledSource(
            source, ctx.connector.score_source(), ctx.config.proxy_score, settle=ctx.config.settle
        )
    result = ctx.retry(
        f"pulling {window.key}",
        lambda: sample_source(source, policy, window, boost_collected=boost_before),
    )
    if result.duplicates:
        ctx.log.warn(
            "duplicates",
            f"{window.key}: {result.duplicates} repeated trace ids dropped (each trace is one unit: its first "
            "occurrence kept)",
            window=window.key,
            duplicates=result.duplicates,
        )
    warnings = sample_warnings(result, policy, skip=ctx.warned_fields)
    for path, line in warnings.items():
        ctx.log.warn("field", f"{window.key}: {line}", window=window.key, field=path)
    ctx.warned_fields.update(warnings)
    return result


def _save_plan(ctx: RunContext, plan: WindowPlan, boost_before: Mapping[str, int]) -> None:
    """The state write of a window's plan: its run, sampled traces, items and boost counts, at once."""
    row = plan.row
    ctx.state.plan_run(
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
        policy=ctx.policy.to_json(),
    )
    for name, collected in sorted(plan.boost_collected.items()):
        if collected != boost_before.get(name, 0):
            ctx.log.detail("boost", f"boost {name}: {collected} collected")


def _write(ctx: RunContext, run: RunRow) -> int:
    pending = ctx.state.pending_items(run.run_id)
    by_sink: dict[tuple[str, str], list[PlannedItem]] = {}
    for item in pending:
        by_sink.setdefault((item.sink_kind, item.sink_name), []).append(item)
    written = 0
    for (kind, name), planned in by_sink.items():
        sink = ctx.connector.sample_sink(SinkKind(kind), name)
        for batch in iter_chunks(planned, ctx.config.batch_size):
            items = [SampleItem.from_json(p.payload) for p in batch]
            _debug_hook("before-write", ctx.writes)
            try:
                ctx.retry(f"writing {kind} {name}", lambda items=items: sink.write(items))
            except RetriableSourceError:
                ctx.state.set_run_status(run.run_id, RunStatus.PARTIAL)
                raise
            _debug_hook("after-write", ctx.writes)
            ctx.state.mark_written([p.item_id for p in batch])
            _debug_hook("after-mark", ctx.writes)
            ctx.writes += 1
            written += len(batch)
    return written


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


__all__ = ["DEBUG_HOOK_ENV", "render_name", "sample_window", "sink_names", "window_policy"]
