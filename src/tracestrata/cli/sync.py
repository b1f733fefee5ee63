"""`tracestrata sync`: the scheduled job (cron, CI schedule, Airflow)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from tracestrata.cli.options import config_option, now_option
from tracestrata.errors import FailingError, RetriableSourceError, TracestrataError
from tracestrata.job.config import load_config
from tracestrata.job.logs import SyncLog
from tracestrata.job.sync import run_sync

EXIT_CODES = """\b
Exit codes:
  0  done, or nothing to do (then silent unless -v)
  2  bad config, policy or state file; unknown source; credential
     variable not set; first window in the future
  3  the backend refused: credentials, unknown project, bad request
  4  partial: retries exhausted mid-run (the backend, or the judge
     endpoint on some traces); progress is recorded, the next run
     continues where this one stopped
  5  another run holds the state store (this run did nothing)
  6  failing: the backend cannot be reached, or runs stopped early
     [alert] failing_after times in a row (default 3): look now"""


@click.command("sync", epilog=EXIT_CODES)
@config_option("The sync config (TOML); see docs/sync.md.")
@click.option("-v", "--verbose", is_flag=True, help="Also say what was skipped and why (on stderr).")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one JSON object per line, for schedulers that collect logs.",
)
@now_option("Pretend it is this time (UTC) — for backfills and tests.")
@click.option("--dry-run", is_flag=True, help="Pull and sample, but write nothing (no sink, no state, no report).")
def command(config_path: Path, verbose: bool, log_format: str, now: datetime | None, dry_run: bool) -> None:
    """Sample every closed window not yet done, write it, read scores back, refresh reports.

    Idempotent and resumable: run it as often as you like; a run that was
    stopped (even killed) is finished by the next one, and nothing is written
    twice. Silent when nothing changed; one line per window sampled otherwise.

    \b
    Example (crontab, every hour at :20):
      20 * * * *  tracestrata sync --config /etc/tracestrata/sync.toml
    """
    config = load_config(config_path)
    log = SyncLog(verbose=verbose, fmt=log_format, secret_env=config.secret_env_vars)  # type: ignore[arg-type]
    try:
        outcome = run_sync(config, now=now, dry_run=dry_run, log=log)
    except TracestrataError as exc:
        exc.message = log.redact(exc.message)  # a backend may echo a credential back
        exc.args = (exc.message,)
        raise
    if outcome.failing:
        raise FailingError(outcome.failing)
    if outcome.judge_error is not None:
        raise outcome.judge_error  # after reading scores back and refreshing the reports
    if outcome.partial:
        # one line on stderr and exit 4, through the CLI seam like every error
        raise RetriableSourceError(outcome.partial)
