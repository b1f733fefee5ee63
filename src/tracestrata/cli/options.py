"""Option parsing shared by commands: timestamps, durations, `kind:path` sources."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import click

from tracestrata.job.windows import parse_duration
from tracestrata.protocols import Window
from tracestrata.record import parse_timestamp
from tracestrata.sampling.sources import ALL_TIME, Progress, total_bytes

__all__ = ["ALL_TIME", "jobs_option", "parse_duration", "parse_jobs", "parse_when", "parse_window", "progress_bar"]


def parse_when(value: str, option: str) -> datetime:
    """An ISO 8601 timestamp (naive means UTC) or raise a usage error naming the option."""
    try:
        return parse_timestamp(value)
    except (TypeError, ValueError):
        raise click.BadParameter(f"expected an ISO 8601 timestamp, got {value!r}", param_hint=option) from None


def parse_window(since: str | None, until: str | None) -> Window | None:
    """`--since`/`--until` as a half-open window (either end may be open); None when neither is given."""
    if not (since or until):
        return None
    start = parse_when(since, "--since") if since else ALL_TIME.start
    end = parse_when(until, "--until") if until else ALL_TIME.end
    if end <= start:
        raise click.BadParameter("must be after --since", param_hint="--until")
    return Window(start, end)


def jobs_option(effect: str) -> Callable[[Any], Any]:
    """`--jobs N|auto`: processes reading a file source in byte-range parts (`tracestrata.sampling.parallel`)."""
    return click.option(
        "--jobs",
        default="auto",
        show_default=True,
        metavar="N|auto",
        help=f"Processes reading the source in parts (auto: one per CPU, at most 8; files under 128 MB use one). {effect}",
    )


def parse_jobs(value: str) -> int | None:
    """`auto` (None: one process per CPU, at most `AUTO_JOBS_MAX`) or a positive integer."""
    if value == "auto":
        return None
    try:
        jobs = int(value)
    except ValueError:
        jobs = 0
    if jobs < 1:
        raise click.BadParameter(f"expected a positive integer or 'auto', got {value!r}", param_hint="--jobs")
    return jobs


@contextlib.contextmanager
def progress_bar(source: object, desc: str) -> Iterator[Progress | None]:
    """A bytes progress bar on stderr while reading `source` (only on a terminal), cleared when done."""
    if not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    tqdm.monitor_interval = 0  # no monitor thread: worker processes may be forked from this one
    bar = tqdm(total=total_bytes(source), unit="B", unit_scale=True, desc=desc, file=sys.stderr, leave=False)
    try:
        yield bar.update
    finally:
        bar.close()


def export_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--schema` and `--column PATH=EXPR`: how the columns of an export map onto trace record fields."""
    command = click.option(
        "--column",
        "columns",
        multiple=True,
        metavar="PATH=EXPR",
        help="Map a record field to a DuckDB SQL expression over the export's columns, "
        "e.g. id=trace_id or \"metadata.intent=metadata['intent']\" (repeatable; parquet:/duckdb: sources).",
    )(command)
    return click.option(
        "--schema",
        type=click.Choice(["trace", "langfuse", "phoenix"]),
        help="The export's layout (parquet:/duckdb: sources): the trace record (default), "
        "Langfuse's blob-storage traces table, or Phoenix's spans (root spans).",
    )(command)


def source_options(schema: str | None, columns: tuple[str, ...]) -> dict[str, Any]:
    """The connector options `--schema` and `--column` give (none when neither is used)."""
    options: dict[str, Any] = {}
    if schema:
        options["schema"] = schema
    if columns:
        mapping = {}
        for item in columns:
            path, sep, expression = item.partition("=")
            if not sep or not path.strip() or not expression.strip():
                raise click.BadParameter(f"expected PATH=EXPR, got {item!r}", param_hint="--column")
            mapping[path.strip()] = expression.strip()
        options["columns"] = mapping
    return options

