"""`tracestrata plan`: per-stratum targets from a window's population counts."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import click

from tracestrata.cli.options import (
    choice_option,
    export_options,
    jobs_option,
    parse_jobs,
    parse_period,
    parse_window,
    progress_bar,
    skip_bad_option,
    source_options,
)
from tracestrata.connectors import open_trace_source
from tracestrata.job.config import load_config
from tracestrata.plan.config_counts import counts_from_config
from tracestrata.protocols import TraceSource, Window
from tracestrata.plan.allocation import AllocationMethod, plan_for_counts
from tracestrata.plan.budget import DEFAULT_FLOOR
from tracestrata.sampling.field_check import FieldGap, FieldWatch, count_gaps, gap_warnings, seen_paths
from tracestrata.plan.render import plan_json, render_table, targets_toml
from tracestrata.sampling.policy import load_policy
from tracestrata.sampling.sources import ALL_TIME, bad_input, count_source
from tracestrata.sampling.strata import check_path


@click.command("plan")
@click.option(
    "--source",
    metavar="jsonl:PATH",
    help="Trace JSONL (a file or a folder), or export files through DuckDB: parquet:PATH_OR_GLOB, duckdb:PATH_OR_GLOB.",
)
@click.option("--policy", "policy_path", type=click.Path(dir_okay=False), help="Policy TOML file.")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="A sync config instead of --source/--policy: its backend, its policy and, without --since/--until, "
    "its last closed window. Counts come from the backend's counters when it can (needs --rate).",
)
@click.option(
    "--ledger",
    "ledger_path",
    type=click.Path(dir_okay=False),
    help="A sync state file: size strata from the spreads measured in its judged windows (needs --metric).",
)
@click.option("--metric", help="With --ledger (or --config: its state file): the score the plan is for, e.g. correct.")
@click.option(
    "--proxy",
    help="With --ledger: a [[proxy]] field (Neyman on the residual SD) or score:NAME (human reviews per "
    "stratum for the two-phase estimate of --metric).",
)
@click.option("--since", help="Only traces at or after this time (ISO 8601; naive means UTC); with --ledger: "
              "windows ending in the last DURATION (e.g. 7d).")
@click.option("--until", help="Only traces before this time (ISO 8601; naive means UTC).")
@skip_bad_option()
@click.option(
    "--half-width",
    type=click.FloatRange(0, 0.5, min_open=True),
    default=0.05,
    show_default=True,
    help="Wanted half-width of each stratum's Wilson interval (wilson) or of the global rate (neyman).",
)
@click.option(
    "--confidence", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.95, show_default=True
)
@click.option(
    "--rate", type=click.FloatRange(0, 1), help="Expected rate in every stratum (default: observed failure rate)."
)
@click.option("--rate-field", help="Expected rate per stratum = observed mean of this 0/1 field, e.g. scores.correct.")
@click.option("--budget", type=click.IntRange(min=0), help="Total traces to judge per window.")
@click.option(
    "--floor",
    type=click.IntRange(min=0),
    help=f"Lowest target a trimmed stratum gets [default: policy targets.floor, else {DEFAULT_FLOOR}].",
)
@choice_option(
    "--method",
    AllocationMethod,
    AllocationMethod.WILSON,
    "wilson: every stratum's own interval; neyman: the global estimate's precision.",
)
@click.option("--fpc/--no-fpc", default=True, show_default=True, help="Finite-population correction.")
@click.option(
    "--design-effect/--no-design-effect",
    default=True,
    show_default=True,
    help="Size each stratum for the reweighted estimate of its failure-oversampled sample "
    "(the policy's failure.multiplier), not for a simple random sample.",
)
@click.option("--format", "fmt", type=click.Choice(["table", "toml", "json"]), default="table", show_default=True)
@jobs_option("Any number gives the same counts.")
@export_options
def command(
    source: str | None,
    policy_path: str | None,
    config_path: str | None,
    ledger_path: str | None,
    metric: str | None,
    proxy: str | None,
    since: str | None,
    until: str | None,
    skip_bad: bool,
    half_width: float,
    confidence: float,
    rate: float | None,
    rate_field: str | None,
    budget: int | None,
    floor: int | None,
    method: str,
    fpc: bool,
    design_effect: bool,
    fmt: str,
    jobs: str,
    schema: str | None,
    columns: tuple[str, ...],
) -> None:
    """Compute how many traces to judge per stratum, from the population counts of a window.

    The expected rate per stratum is, by default, the observed failure-signal
    rate of the window (0 or all failures count as the end of their Wilson
    interval nearest 0.5); `--rate` sets one rate for every stratum and
    `--rate-field` uses the observed mean of a boolean or 0..1 field. Under
    `--budget`, the strata with the smallest population are trimmed first, down
    to `--floor`. `--format toml` prints a `[targets]` block to paste into the policy.

    Targets account for the policy's failure oversampling: the sampler spends a
    stratum's draws more on its failures, and the reweighted estimate is less
    precise than a simple random sample of the same size when failures and
    non-failures are judged alike (the `deff` column). `--no-design-effect` sizes
    for a simple random sample.

    With `--config sync.toml` the plan reads the sync job's backend (Phoenix,
    Langfuse, …). Given `--rate`, it counts strata with the backend's own counters
    (no traces pulled) when every dimension allows it (a `values` list, or a field
    the backend groups by); otherwise it pulls the window's metadata, and says why.

    \b
    Examples:
      tracestrata plan --source jsonl:traces.jsonl --policy policy.toml --budget 2000
      tracestrata plan --config sync.toml --rate 0.05 --format toml
      tracestrata plan --ledger state.sqlite --metric correct --proxy scores.heuristic --half-width 0.02
      tracestrata plan --ledger state.sqlite --metric human_correct --proxy score:correct --half-width 0.1
    """
    if ledger_path is None and config_path is not None and metric:
        ledger_path = str(load_config(config_path).state)  # the sync job's own ledger
        config_path = None
    if ledger_path is not None:
        if source or policy_path or config_path:
            raise click.UsageError("use either --ledger or --source/--policy/--config, not both")
        if not metric:
            raise click.UsageError("--ledger needs --metric")
        _ledger_plan(ledger_path, metric, proxy, since, half_width, confidence, budget, floor, fpc, fmt)
        return
    if metric or proxy:
        raise click.UsageError("--metric and --proxy go with --ledger")
    workers = parse_jobs(jobs)
    if rate is not None and rate_field is not None:
        raise click.UsageError("use either --rate or --rate-field, not both")
    if rate_field is not None and (problem := check_path(rate_field)):
        raise click.BadParameter(problem, param_hint="--rate-field")
    if config_path is not None and (source or policy_path):
        raise click.UsageError("use either --config or --source/--policy, not both")
    if config_path is None and not (source and policy_path):
        raise click.UsageError("give --source and --policy, or --config")
    window = parse_window(since, until)
    trace_source: object = None
    watch = FieldWatch()
    if config_path is not None:
        policy, counts, source_name = counts_from_config(
            config_path,
            window,
            rate,
            rate_field,
            say=lambda text: click.echo(f"tracestrata: {text}", err=True),
            on_repeats=_warn_repeats,
            watch=watch,
        )
    else:
        assert source is not None and policy_path is not None
        policy = load_policy(policy_path)
        trace_source, source_name = open_trace_source(source, skip_bad=skip_bad, options=source_options(schema, columns))
        with progress_bar(trace_source, "counting") as progress:
            counts = count_source(
                trace_source,
                policy,
                window,
                rate_field=rate_field,
                jobs=workers,
                progress=progress,
                on_repeats=_warn_repeats,
                watch=watch,
            )
    if not counts:  # an empty window is not an error (README: exit 0), just nothing to plan
        click.echo(f"tracestrata: {source_name}: no traces in the window: nothing to plan", err=True)
        return
    _warn_gaps(count_gaps(counts, policy, watch.presence.absent), watch, trace_source, window)
    plan, notes = plan_for_counts(
        counts, policy, rate=rate, rate_field=rate_field, method=AllocationMethod(method), half_width=half_width,
        confidence=confidence, budget=budget, floor=floor, fpc=fpc, design_effect=design_effect,
    )
    for note in notes:
        click.echo(f"tracestrata: warning: {note}", err=True)
    bad, _ = bad_input(trace_source)
    if bad:
        click.echo(f"tracestrata: skipped {bad:,} bad lines", err=True)
    _echo_plan(fmt, lambda: targets_toml(plan, policy), lambda: plan_json(plan, counts), lambda: render_table(plan))
    if config_path is not None:
        line = judge_calls_line(load_config(config_path), plan.total)
        if line:
            click.echo(f"tracestrata: {line}", err=True)


def judge_calls_line(config: Any, per_window: int) -> str | None:
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


def _ledger_plan(
    path: str,
    metric: str,
    proxy: str | None,
    since: str | None,
    half_width: float,
    confidence: float,
    budget: int | None,
    floor: int | None,
    fpc: bool,
    fmt: str,
) -> None:
    from tracestrata.plan.ledger import DAY, daily_targets, finished_windows, plan_from_design, weighting_forecast
    from tracestrata.plan.render import (
        render_review_table,
        render_spread_table,
        review_json,
        review_toml,
        spread_json,
    )
    from tracestrata.plan.residual import ReviewPlan

    period = parse_period(since or None, "--since")
    design, scores = finished_windows(path, period)
    result = plan_from_design(design, scores, metric, proxy, half_width=half_width, confidence=confidence,
                              budget=budget, floor=floor if floor is not None else DEFAULT_FLOOR, fpc=fpc,
                              period=DAY if daily_targets(path) else None)
    plan = result.plan
    click.echo(f"tracestrata: spreads from {result.windows} windows of {path}; populations of {result.latest}",
               err=True)
    forecast = weighting_forecast(path, design, scores, metric, proxy)
    if forecast is not None:
        click.echo(f"tracestrata: {forecast}", err=True)
    if isinstance(plan, ReviewPlan):
        review = plan
        _echo_plan(
            fmt,
            lambda: review_toml(review),
            lambda: review_json(review, result.pooled),
            lambda: render_review_table(review, result.pooled),
        )
    else:
        spread = plan
        _echo_plan(
            fmt,
            lambda: targets_toml(spread),
            lambda: spread_json(spread, result.pooled),
            lambda: render_spread_table(spread, result.pooled),
        )


def _echo_plan(fmt: str, toml: Callable[[], str], data: Callable[[], object], table: Callable[[], str]) -> None:
    """Print a plan as `--format` asks: a TOML block to paste, JSON, or a table."""
    if fmt == "toml":
        click.echo(toml(), nl=False)
    elif fmt == "json":
        click.echo(json.dumps(data(), indent=2, ensure_ascii=False))
    else:
        click.echo(table())


def _warn_gaps(gaps: list[FieldGap], watch: FieldWatch, source: object, window: Window | None) -> None:
    """Warn about policy fields the window lacks, suggesting paths its first traces have."""
    if not gaps:
        return
    seen = watch.seen
    if not seen and isinstance(source, TraceSource):
        seen = seen_paths(source.iter_traces(window or ALL_TIME))
    for line in gap_warnings(gaps, seen).values():
        click.echo(f"tracestrata: warning: {line}", err=True)


def _warn_repeats(count: int) -> None:
    click.echo(f"tracestrata: warning: dropped {count:,} repeated trace ids (each trace counted once)", err=True)
