"""Option parsing shared by commands: timestamps, durations, `kind:path` sources."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click

from tracestrata.job.windows import parse_duration
from tracestrata.protocols import Window
from tracestrata.record import parse_timestamp

__all__ = ["ALL_TIME", "parse_duration", "parse_when", "parse_window", "split_source"]


def parse_when(value: str, option: str) -> datetime:
    """An ISO 8601 timestamp (naive means UTC) or raise a usage error naming the option."""
    try:
        return parse_timestamp(value)
    except (TypeError, ValueError):
        raise click.BadParameter(f"expected an ISO 8601 timestamp, got {value!r}", param_hint=option) from None


ALL_TIME = Window(datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC))


def parse_window(since: str | None, until: str | None) -> Window | None:
    """`--since`/`--until` as a half-open window (either end may be open); None when neither is given."""
    if not (since or until):
        return None
    start = parse_when(since, "--since") if since else ALL_TIME.start
    end = parse_when(until, "--until") if until else ALL_TIME.end
    if end <= start:
        raise click.BadParameter("must be after --since", param_hint="--until")
    return Window(start, end)


def split_source(value: str, option: str = "--source") -> tuple[str, str]:
    """`jsonl:PATH` -> ("jsonl", PATH); a bare path means jsonl."""
    kind, sep, rest = value.partition(":")
    if not sep or len(kind) == 1:  # no prefix, or a Windows drive letter
        return "jsonl", value
    if not rest:
        raise click.BadParameter(f"expected KIND:PATH, got {value!r}", param_hint=option)
    return kind, rest


AUTO_JOBS_MAX = 8  # `--jobs auto` on a big machine: ~75 MB per process, and the disk is shared


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


def source_parts(source: Any, jobs: int | None) -> tuple[list[Any], int]:
    """(parts, processes) for reading `source` with `jobs` processes (None: one per CPU).

    One process (and no parts) when the source cannot be split or is too small to gain.
    """
    if jobs == 1 or not hasattr(source, "partitions"):
        return [], 1
    from tracestrata.sampling.parallel import available_cpus

    jobs = jobs or min(available_cpus(), AUTO_JOBS_MAX)
    parts = list(source.partitions(jobs)) if jobs > 1 else []
    processes = min(jobs, len(parts))
    return (parts, processes) if processes > 1 else ([], 1)


def export_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--schema` and `--column PATH=EXPR`: how the columns of an export map onto trace record fields."""
    command = click.option(
        "--column",
        "columns",
        multiple=True,
        metavar="PATH=EXPR",
        help="Map a record field to a DuckDB SQL expression over the export's columns, "
        "e.g. id=trace_id or \"metadata.intent=metadata['intent']\" (repeatable).",
    )(command)
    return click.option(
        "--schema",
        type=click.Choice(["trace", "langfuse", "phoenix"]),
        help="The export's layout (parquet:/duckdb: sources): the trace record (default), "
        "Langfuse's blob-storage traces table, or Phoenix's spans (root spans).",
    )(command)

