"""`tracestrata status`: the scheduled job's health, for a person or a monitor."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import click

from tracestrata.cli.options import config_option, now_option, parse_period
from tracestrata.errors import FailingError
from tracestrata.job.config import load_config
from tracestrata.job.status import job_status, render_status


@click.command(
    "status",
    epilog="\b\nExit codes:\n  0  healthy\n  2  bad config\n  6  stale or failing (the reason is the first line), or an [alert] watch alarm stands",
)
@config_option("The sync config (TOML) of the job to check.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--max-age", help="Stale when the last success is older than this (e.g. 3h). Default: [alert] stale_after.")
@now_option("Pretend it is this time (UTC), for tests.")
def command(config_path: Path, fmt: str, max_age: str | None, now: datetime | None) -> None:
    """Last success, pending windows, failures in a row and boost progress, from the state alone.

    Exits 6 when the job is stale (no run finished everything due within
    [alert] stale_after, default two windows plus settle, or a window that closed
    longer ago than that is still pending: the job is behind), has never run, or is
    failing ([alert] failing_after stopped runs in a row). It never contacts the
    backend, so it answers when the backend is what is down.

    \b
    Example (a monitor's health check):
      tracestrata status --config sync.toml --max-age 3h || page-someone
    """
    config = load_config(config_path)
    limit = parse_period(max_age, "--max-age")
    if limit is not None:
        config = replace(config, stale_after=limit)
    status = job_status(config, now=now)
    click.echo(json.dumps(status.to_json(), indent=2) if fmt == "json" else render_status(status))
    if status.stale:
        raise FailingError(status.reason)
    if status.alarm_lines:
        raise FailingError(status.alarm_lines[0] + (f" (and {len(status.alarm_lines) - 1} more)" if len(status.alarm_lines) > 1 else ""))
