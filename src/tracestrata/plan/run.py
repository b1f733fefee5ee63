"""`plan(request) -> PlanResult`: the one library call behind `tracestrata plan`.

The CLI parses a command line into a `PlanRequest`; this counts (or reads the ledger),
builds the plan, and gathers what the user should hear, in the order they should hear it.
"""

from __future__ import annotations

from contextlib import nullcontext
from datetime import timedelta

from tracestrata.connectors import open_trace_source
from tracestrata.errors import ConfigError
from tracestrata.job.config import SyncConfig, load_config
from tracestrata.plan.allocation import plan_for_counts
from tracestrata.plan.budget import DEFAULT_FLOOR
from tracestrata.plan.config_counts import counts_from_config
from tracestrata.plan.ledger import DAY, daily_targets, finished_windows, plan_from_design, weighting_forecast
from tracestrata.plan.request import PlanHooks, PlanMode, PlanRequest, PlanResult
from tracestrata.protocols import TraceSource, Window
from tracestrata.sampling.counts import StratumCounts
from tracestrata.sampling.field_check import FieldWatch, count_gaps, gap_warnings, seen_paths
from tracestrata.policy.model import Policy
from tracestrata.policy.parse import load_policy
from tracestrata.sampling.sources import ALL_TIME, bad_input, count_source

_HOOKS = PlanHooks()


def plan(request: PlanRequest, hooks: PlanHooks = _HOOKS) -> PlanResult:
    """The plan `request` asks for. A request whose options contradict its mode is a `ConfigError`."""
    problem = request.problem()
    if problem is not None:
        raise ConfigError(problem, field=f"plan --mode {request.mode.value}")
    if request.mode is PlanMode.LEDGER:
        return _ledger_plan(request)
    return _counted_plan(request, hooks)


def _counted_plan(request: PlanRequest, hooks: PlanHooks) -> PlanResult:
    """Source and config modes: count the window, then size its strata."""
    watch = FieldWatch()
    policy, counts, name, source = _count(request, hooks, watch)
    if not counts:  # an empty window is not an error (README: exit 0), just nothing to plan
        return PlanResult(request.mode, None, name, policy, notes=(f"{name}: no traces in the window: nothing to plan",))
    gaps = _gap_warnings(policy, counts, watch, source, request.window)
    built, notes = plan_for_counts(
        counts, policy, rate=request.rate, rate_field=request.rate_field, method=request.method,
        half_width=request.half_width, confidence=request.confidence, budget=request.budget, floor=request.floor,
        fpc=request.fpc, design_effect=request.design_effect,
    )
    bad, _ = bad_input(source)
    judge = judge_calls_line(load_config(request.config), built.total) if request.config is not None else None
    said = [f"skipped {bad:,} bad lines"] if bad else []
    if policy.weight is not None:
        said.append(WEIGHTED_NOTE.format(weight=policy.weight.text))
    return PlanResult(
        request.mode, built, name, policy, tuple(counts), warnings=(*gaps, *notes), notes=tuple(said),
        judge_calls=judge,
    )


WEIGHTED_NOTE = (
    '[sampling] weight = "{weight}" draws unequal probabilities inside cells; these targets are sized for '
    "equal ones (the proxy-assisted estimate usually gains from the weighting, the plain one loses): "
    "`plan --ledger STATE --metric M --proxy FIELD` forecasts the width with the weighting from judged windows"
)


def _count(
    request: PlanRequest, hooks: PlanHooks, watch: FieldWatch
) -> tuple[Policy, list[StratumCounts], str, TraceSource | None]:
    """(policy, counts per stratum, the input's name, the trace source read when it was one)."""

    def on_repeats(count: int) -> None:
        hooks.warn(f"dropped {count:,} repeated trace ids (each trace counted once)")

    if request.mode is PlanMode.CONFIG:
        assert request.config is not None  # checked by `PlanRequest.problem`
        policy, counts, name = counts_from_config(
            request.config, request.window, request.rate, request.rate_field,
            say=hooks.say, on_repeats=on_repeats, watch=watch,
        )
        return policy, counts, name, None
    assert request.source is not None and request.policy is not None  # checked by `PlanRequest.problem`
    policy = load_policy(request.policy)
    source, name = open_trace_source(request.source, skip_bad=request.skip_bad, options=request.source_options)
    with hooks.progress(source) if hooks.progress is not None else nullcontext() as progress:
        counts = count_source(
            source, policy, request.window, rate_field=request.rate_field, jobs=request.jobs,
            progress=progress, on_repeats=on_repeats, watch=watch,
        )
    return policy, counts, name, source


def _gap_warnings(
    policy: Policy, counts: list[StratumCounts], watch: FieldWatch, source: TraceSource | None, window: Window | None
) -> list[str]:
    """Policy fields the window lacks, suggesting paths its first traces have."""
    gaps = count_gaps(counts, policy, watch.presence.absent)
    if not gaps:
        return []
    seen = watch.seen
    if not seen and source is not None:
        seen = seen_paths(source.iter_traces(window or ALL_TIME))
    return list(gap_warnings(gaps, seen).values())


def _ledger_plan(request: PlanRequest) -> PlanResult:
    """Ledger mode: populations of the latest window, spreads from the judged ones."""
    assert request.metric is not None  # checked by `PlanRequest.problem`
    path = request.ledger if request.ledger is not None else str(load_config(str(request.config)).state)
    design, scores = finished_windows(path, request.period)
    result = plan_from_design(
        design, scores, request.metric, request.proxy, half_width=request.half_width,
        confidence=request.confidence, budget=request.budget,
        floor=request.floor if request.floor is not None else DEFAULT_FLOOR, fpc=request.fpc,
        period=DAY if daily_targets(path) else None,
    )
    notes = [f"spreads from {result.windows} windows of {path}; populations of {result.latest}"]
    forecast = weighting_forecast(path, design, scores, request.metric, request.proxy)
    if forecast is not None:
        notes.append(forecast)
    return PlanResult(PlanMode.LEDGER, result.plan, path, pooled=result.pooled, notes=tuple(notes))


def judge_calls_line(config: SyncConfig, per_window: int) -> str | None:
    """With a `[judge]` table: judge calls per window and per day, and their cost when `cost_per_call` is set."""
    judge = config.judge
    if judge is None:
        return None
    windows_per_day = timedelta(days=1) / config.every
    per_day = per_window * windows_per_day
    line = f"judge {judge.name}: ~{per_window:,} calls per window, ~{per_day:,.0f} per day"
    if judge.cost_per_call is not None:
        line += f"; cost ~{per_window * judge.cost_per_call:,.2f} per window, ~{per_day * judge.cost_per_call:,.2f} per day"
    if judge.max_calls_per_day is not None and per_day > judge.max_calls_per_day:
        line += f" (over max_calls_per_day = {judge.max_calls_per_day:,}: the rest waits for later runs)"
    return line


__all__ = ["judge_calls_line", "plan"]
