"""`tracestrata plan`: per-stratum targets from a window's population counts."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from typing import Any

import click

from tracestrata.cli.options import export_options, jobs_option, parse_jobs, parse_window, source_parts
from tracestrata.cli.sample import (
    open_source,  # the same source as `tracestrata sample`, same checks
)
from tracestrata.errors import InputError
from tracestrata.protocols import Window
from tracestrata.sampling.allocation import (
    DEFAULT_FLOOR,
    AllocationMethod,
    Plan,
    StratumCounts,
    StratumInput,
    count_fields,
    count_strata,
    count_strata_columns,
    plan_allocation,
)
from tracestrata.sampling.policy import Policy, load_policy
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
@click.option("--since", help="Only traces at or after this time (ISO 8601; naive means UTC).")
@click.option("--until", help="Only traces before this time (ISO 8601; naive means UTC).")
@click.option("--skip-bad", is_flag=True, help="Skip and count malformed lines instead of stopping at the first.")
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
@click.option(
    "--method",
    type=click.Choice([m.value for m in AllocationMethod]),
    default=AllocationMethod.WILSON.value,
    show_default=True,
    help="wilson: every stratum's own interval; neyman: the global estimate's precision.",
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
    """
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
    if config_path is not None:
        policy, counts, source_name = counts_from_config(config_path, window, rate, rate_field)
    else:
        assert source is not None and policy_path is not None
        policy = load_policy(policy_path)
        trace_source, source_name = open_source(source, skip_bad, schema=schema, columns=columns)
        parts, processes = source_parts(trace_source, workers)
        if hasattr(trace_source, "count_strata"):  # an engine source counts with a GROUP BY of its own
            counts = trace_source.count_strata(window, policy, rate_field=rate_field)
        elif processes > 1:
            from tracestrata.sampling.parallel import count_parts

            counts = count_parts(trace_source, policy, window, parts, jobs=processes, rate_field=rate_field)
        elif hasattr(trace_source, "iter_column_batches"):  # decodes only the fields the plan reads
            batches = trace_source.iter_column_batches(window, count_fields(policy, rate_field))
            counts = count_strata_columns(((len(b.ids), b.columns) for b in batches), policy, rate_field=rate_field)
        else:
            rows = (row for batch in trace_source.iter_json_batches(window) for row in batch.rows)
            counts = count_strata(rows, policy, rate_field=rate_field)
    if not counts:
        raise InputError("no traces in the window: nothing to plan", path=source_name)
    multiplier = policy.multiplier if design_effect else 1.0
    if multiplier != 1.0 and counts and not any(c.failures for c in counts):
        click.echo(
            "tracestrata: no failures counted in the window (or the backend's counters cannot count them): "
            "targets are those of simple random samples",
            err=True,
        )
    plan = plan_allocation(
        [
            StratumInput(c.stratum, c.population, expected_rate(c, rate, rate_field, confidence), c.failures)
            for c in counts
        ],
        method=AllocationMethod(method),
        half_width=half_width,
        confidence=confidence,
        budget=budget,
        floor=floor
        if floor is not None
        else (policy.targets.floor if policy.targets.floor is not None else DEFAULT_FLOOR),
        fpc=fpc,
        multiplier=multiplier,
    )
    bad = int(getattr(trace_source, "bad_lines", 0))
    if bad:
        click.echo(f"tracestrata: skipped {bad:,} bad lines", err=True)
    if fmt == "toml":
        click.echo(targets_toml(plan, policy), nl=False)
    elif fmt == "json":
        click.echo(json.dumps(plan_json(plan, counts), indent=2, ensure_ascii=False))
    else:
        click.echo(render_table(plan))


def counts_from_config(
    config_path: str, window: Window | None, rate: float | None, rate_field: str | None
) -> tuple[Policy, list[StratumCounts], str]:
    """Population counts from a sync config's backend: pushed down when possible, else pulled."""
    from tracestrata.job.config import load_config, now_utc
    from tracestrata.job.sync import load_connector
    from tracestrata.job.windows import last_closed_window
    from tracestrata.protocols import StratumCounter
    from tracestrata.sampling.population import CountUnavailable, count_strata_pushdown

    config = load_config(config_path)
    config.check_credentials()
    policy: Policy = config.policy
    if window is None:
        window = last_closed_window(start=config.start, every=config.every, settle=config.settle, now=now_utc())
    connector = load_connector(config)
    try:
        source = connector.trace_source()
        if rate is not None and isinstance(source, StratumCounter):
            try:
                counts = count_strata_pushdown(source, window, policy)
            except CountUnavailable as exc:
                click.echo(f"tracestrata: counting by pulling the window's metadata: {exc}", err=True)
            else:
                click.echo(
                    f"tracestrata: counted {len(counts)} strata with the backend's counters (no traces pulled)",
                    err=True,
                )
                return policy, counts, config_path
        elif isinstance(source, StratumCounter):
            click.echo("tracestrata: pulling the window's metadata (give --rate to count without pulling)", err=True)
        records = source.iter_traces(window, metadata_keys=policy.metadata_keys())
        return policy, count_strata(records, policy, rate_field=rate_field, raw=False), config_path
    finally:
        connector.close()


def expected_rate(counts: StratumCounts, rate: float | None, rate_field: str | None, confidence: float) -> float:
    if rate is not None:
        return rate
    if rate_field is not None:
        return counts.field_rate(confidence)
    return counts.failure_rate(confidence)


def render_table(plan: Plan) -> str:
    header = ("stratum", "population", "rate", "target", "deff", "half-width", "share")
    rows = [
        (
            s.stratum + (" *" if s.trimmed else ""),
            f"{s.population:,}",
            f"{s.rate:.4f}",
            f"{s.target:,}",
            f"{s.design_effect:.2f}",
            "-" if s.half_width is None else f"{s.half_width:.4f}",
            f"{100 * s.share:.1f}%",
        )
        for s in plan.strata
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = [
        "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths, strict=True)))
    ]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append(
            "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        )
    goal = "each stratum" if plan.method is AllocationMethod.WILSON else "the global rate"
    lines.append("")
    lines.append(
        f"method {plan.method.value}: half-width <= {plan.half_width_goal:g} for {goal} at {100 * plan.confidence:g}% "
        f"confidence{'' if plan.fpc else ', no finite-population correction'}"
    )
    budget = "" if plan.budget is None else f" (budget {plan.budget:,}, floor {plan.floor})"
    lines.append(f"total: {plan.total:,} of {plan.population:,} traces{budget}")
    if plan.global_half_width is not None:
        lines.append(f"expected global half-width: {plan.global_half_width:.4f}")
    if any(s.design_effect != 1.0 for s in plan.strata):
        lines.append(
            "deff: design effect of the failure oversampling, if failures and non-failures are judged alike "
            "(--no-design-effect: size for simple random samples)"
        )
    if any(s.trimmed for s in plan.strata):
        lines.append("* trimmed below its Wilson target to fit the budget (smallest populations first)")
    return "\n".join(lines)


def targets_toml(plan: Plan, policy: Policy) -> str:
    """A `[targets]` block: the most common target as `default`, the rest as overrides."""
    common = Counter(s.target for s in plan.strata if s.population)
    default = max(common.items(), key=lambda item: (item[1], item[0]))[0] if common else policy.targets.default
    lines = [
        f"# tracestrata plan: {plan.method.value}, half-width {plan.half_width_goal:g} at {100 * plan.confidence:g}%"
        + (f", budget {plan.budget}" if plan.budget is not None else "")
        + f"; total {plan.total} of {plan.population} traces",
        "[targets]",
        f"default = {default}",
    ]
    overrides = [(s.stratum, s.target) for s in plan.strata if s.population and s.target != default]
    if any("*" in key for key, _ in overrides):
        # the policy reads `*` in an override key as a wildcard; exact keys win over patterns,
        # so list every stratum to keep a literal `*` from reaching strata at the default
        overrides = [(s.stratum, s.target) for s in plan.strata if s.population]
    if overrides:
        lines += ["", "[targets.overrides]"]
        lines += [f"{toml_string(key)} = {target}" for key, target in overrides]
    return "\n".join(lines) + "\n"


def toml_string(text: str) -> str:
    """A TOML basic string (JSON's escapes are all valid TOML escapes)."""
    return json.dumps(text, ensure_ascii=False)


def plan_json(plan: Plan, counts: list[StratumCounts]) -> dict[str, Any]:
    values: Mapping[str, Mapping[str, str]] = {c.stratum: c.values for c in counts}
    failures = {c.stratum: c.failures for c in counts}
    return {
        "method": plan.method.value,
        "confidence": plan.confidence,
        "half_width": plan.half_width_goal,
        "budget": plan.budget,
        "floor": plan.floor,
        "fpc": plan.fpc,
        "total": plan.total,
        "population": plan.population,
        "global_half_width": plan.global_half_width,
        "strata": [
            {
                "stratum": s.stratum,
                "values": dict(values.get(s.stratum, {})),
                "population": s.population,
                "failures": failures.get(s.stratum, 0),
                "rate": s.rate,
                "target": s.target,
                "half_width": s.half_width,
                "design_effect": s.design_effect,
                "share": s.share,
                "trimmed": s.trimmed,
            }
            for s in plan.strata
        ],
    }
