"""`tracestrata sample`: pick the traces to judge from a trace source and write a sample dir."""

from __future__ import annotations

from pathlib import Path

import click

from tracestrata.cli.options import (
    export_options,
    jobs_option,
    out_option,
    parse_jobs,
    policy_option,
    progress_bar,
    skip_bad_option,
    source_option,
    source_options,
    state_option,
    window_options,
)
from tracestrata.connectors import open_trace_source
from tracestrata.job.sample_boosts import boost_store, old_boost_file
from tracestrata.sampling.field_check import sample_warnings
from tracestrata.protocols import Window
from tracestrata.policy.model import Policy
from tracestrata.policy.parse import load_policy
from tracestrata.sampling.sample_dir import sample_to_dir, standalone_policy
from tracestrata.sampling.sample_result import SampleResult


@click.command("sample")
@source_option(
    "jsonl:PATH",
    "Trace JSONL (a file, or a folder of *.jsonl files), or export files read through DuckDB: "
    "parquet:PATH_OR_GLOB, duckdb:PATH_OR_GLOB (Parquet, JSONL, CSV; local or s3://, gs://, az://).",
)
@policy_option
@out_option("Sample directory to write (sample.jsonl + manifest.json).")
@window_options
@skip_bad_option()
@state_option
@jobs_option("Every number of processes gives the same sample.")
@export_options
def command(
    source_spec: str,
    policy_path: Path,
    out: Path,
    window: Window | None,
    skip_bad: bool,
    state_path: Path | None,
    jobs: str,
    schema: str | None,
    columns: tuple[str, ...],
) -> None:
    """Pick the traces to judge: stratified, failures oversampled, boosts at 100%.

    Writes OUT/sample.jsonl (each selected trace with its stratum, cell, failure
    signals, inclusion probability and weight) and OUT/manifest.json (the design:
    every cell's population and sample size). The same input and policy seed
    always give the same sample, however often it runs. To carry boost progress
    across runs, name a state store with --state (SQLite, as `sync` keeps): boost
    counts persist there, keyed by source and window, so re-running a window does
    not count it twice.

    An empty window is not an error: it writes an empty sample (no cells) and
    exits 0. Malformed lines stop the run with file:line (exit 2) unless
    --skip-bad is given.

    \b
    Example:
      tracestrata generate --traces 100000 --out traces.jsonl
      tracestrata sample --source jsonl:traces.jsonl \\
          --policy examples/policies/basic.toml --out run/
      tracestrata sample --source jsonl:logs/ --policy policy.toml --out run-0601/ \\
          --since 2026-06-01 --until 2026-06-02 --skip-bad
      tracestrata sample --source 'parquet:exports/traces/*.parquet' --schema langfuse \\
          --policy policy.toml --out run/
    """
    policy = standalone_policy(load_policy(policy_path), window)
    source, source_name = open_trace_source(source_spec, skip_bad=skip_bad, options=source_options(schema, columns))
    note_old_boost_file(out, state_path)
    with boost_store(state_path) as boosts, progress_bar(source, "sampling") as progress:
        run = sample_to_dir(
            source, source_name, policy, window, out, boosts=boosts, jobs=parse_jobs(jobs), progress=progress
        )
    echo_run(run.result, out, policy, run.bad_lines, run.first_bad)


def note_old_boost_file(out: Path, state_path: Path | None) -> None:
    """One line when the JSON boost file older versions kept beside `--out` is there: it is not read."""
    old = old_boost_file(out)
    if old is not None and old != state_path:
        click.echo(
            f"tracestrata: note: {old} is no longer read: boost counts carry across runs only in a state store "
            "named with --state FILE",
            err=True,
        )


def echo_run(result: SampleResult, out: Path, policy: Policy, bad: int = 0, first_bad: object = None) -> None:
    """What `sample` and `spark-sample` say: a warning per policy field the window lacks, then the summary."""
    for line in sample_warnings(result, policy).values():
        click.echo(f"tracestrata: warning: {line}", err=True)
    click.echo(summary_line(result, out, bad, policy, first_bad))


def summary_line(result: SampleResult, out: Path, bad: int, policy: Policy, first_bad: object = None) -> str:
    """The one line `sample` and `spark-sample` print: what was sampled, boosts, repeats, bad lines."""
    if not result.cells:
        text = f"no traces in the window: wrote an empty sample to {out}"
    else:
        strata = len({c.stratum for c in result.cells})
        text = (
            f"sampled {len(result.selected):,} of {result.population:,} traces "
            f"({strata} strata, {len(result.cells)} cells) -> {out}"
        )
    boosts = [f"{b.name} {result.boost_collected.get(b.name, 0)}/{b.collect}" for b in policy.boosts]
    if boosts:
        text += f"; boost {', '.join(boosts)}"
    if result.duplicates:
        text += f"; dropped {result.duplicates:,} repeated trace ids (first occurrence kept)"
    if bad:
        text += f"; skipped {bad:,} bad lines"
        if first_bad is not None:
            text += f" (first: {first_bad})"
    return text
