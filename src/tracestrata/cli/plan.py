"""`tracestrata plan`: per-stratum targets, parsed into one `PlanRequest` for `tracestrata.plan.run.plan`."""

from __future__ import annotations

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
from tracestrata.plan.allocation import AllocationMethod
from tracestrata.plan.budget import DEFAULT_FLOOR
from tracestrata.plan.render import render_result
from tracestrata.plan.request import PlanHooks, PlanMode, PlanRequest, PlanResult, infer_mode
from tracestrata.plan.run import plan
from tracestrata.policy.strata import check_path


@click.command("plan")
@click.option(
    "--mode",
    type=click.Choice([m.value for m in PlanMode]),
    help="source: count --source under --policy; config: count a sync job's backend and window (--config); "
    "ledger: size strata from the spreads of a sync ledger's judged windows (--ledger, or --config with --metric). "
    "[default: inferred from those options]",
)
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
    "its last closed window. Counts come from the backend's counters when it can (needs --rate). "
    "With --metric: a ledger plan from the job's state file.",
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
    help="Wanted half-width of each stratum's Wilson interval (wilson) or of the global rate (neyman); "
    "ledger plans: of the global estimate, or with --proxy score:NAME of each stratum's two-phase estimate.",
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
    help=f"Lowest target a trimmed stratum gets [default: policy targets.floor, else {DEFAULT_FLOOR}; "
    f"ledger plans: {DEFAULT_FLOOR}, with --proxy score:NAME the fewest reviews per stratum].",
)
@choice_option(
    "--method",
    AllocationMethod,
    AllocationMethod.WILSON,
    "wilson: every stratum's own interval; neyman: the global estimate's precision "
    "(ledger plans are always Neyman on the measured spread).",
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
@jobs_option("Any number gives the same counts (--mode source only).")
@export_options
def command(
    mode: str | None,
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

    Three modes (`--mode`, inferred from the options when not given): `source`
    counts `--source` under `--policy`, `config` a sync job's backend and window,
    and `ledger` sizes strata from the spreads measured in a sync ledger.

    The expected rate per stratum is, by default, the observed failure-signal
    rate of the window (0 or all failures count as the end of their Wilson
    interval nearest 0.5); `--rate` sets one rate for every stratum and
    `--rate-field` uses the observed mean of a boolean or 0..1 field. Under
    `--budget`, the strata with the smallest population are trimmed first, down
    to `--floor`. `--format toml` prints a `[targets]` block to paste into the policy
    (with `--proxy score:NAME`, a `[review]` block).

    Targets account for the policy's failure oversampling (the `deff` column);
    `--no-design-effect` sizes for a simple random sample.

    With `--config sync.toml` the plan reads the sync job's backend (Phoenix,
    Langfuse, …). Given `--rate`, it counts strata with the backend's own counters
    (no traces pulled) when every dimension allows it (a `values` list, or a field
    the backend groups by); otherwise it pulls the window's metadata, and says why.
    Options that contradict the mode (say `--rate` with `--ledger`) are a usage error.

    \b
    Examples:
      tracestrata plan --source jsonl:traces.jsonl --policy policy.toml --budget 2000
      tracestrata plan --config sync.toml --rate 0.05 --format toml
      tracestrata plan --ledger state.sqlite --metric correct --proxy scores.heuristic --half-width 0.02
      tracestrata plan --ledger state.sqlite --metric human_correct --proxy score:correct --half-width 0.1
      tracestrata plan --mode ledger --config sync.toml --metric correct --format toml
    """
    chosen = PlanMode(mode) if mode else infer_mode(ledger=ledger_path, config=config_path, metric=metric)
    ledger = chosen is PlanMode.LEDGER
    request = PlanRequest(
        chosen, source=source, policy=policy_path, config=config_path, ledger=ledger_path, metric=metric, proxy=proxy,
        window=None if ledger else parse_window(since, until),
        period=parse_period(since or None, "--since") if ledger else None, until_given=until is not None,
        rate=rate, rate_field=rate_field, method=AllocationMethod(method), half_width=half_width,
        confidence=confidence, budget=budget, floor=floor, fpc=fpc, design_effect=design_effect, skip_bad=skip_bad,
        jobs=None if ledger else parse_jobs(jobs), source_options=source_options(schema, columns) or None,
    )
    if (problem := request.problem()) is None and chosen is not PlanMode.SOURCE and _given("jobs"):
        problem = f"--jobs splits reading a --source: not in a {chosen.value} plan"
    if problem is not None:
        raise click.UsageError(problem)
    if rate_field is not None and (problem := check_path(rate_field)):
        raise click.BadParameter(problem, param_hint="--rate-field")
    _echo(plan(request, PlanHooks(say=_say, warn=_warn, progress=lambda read: progress_bar(read, "counting"))), fmt)


def _given(name: str) -> bool:
    """The option was on the command line (not its default)."""
    source = click.get_current_context().get_parameter_source(name)
    return source is not None and source is not click.core.ParameterSource.DEFAULT


def _echo(result: PlanResult, fmt: str) -> None:
    """What the user hears, in order: warnings and notes (stderr), the plan (stdout), the judge's calls (stderr)."""
    for line in result.warnings:
        _warn(line)
    for line in result.notes:
        _say(line)
    click.echo(render_result(result, fmt), nl=False)
    if result.judge_calls:
        _say(result.judge_calls)


def _say(text: str) -> None:
    click.echo(f"tracestrata: {text}", err=True)


def _warn(text: str) -> None:
    click.echo(f"tracestrata: warning: {text}", err=True)
