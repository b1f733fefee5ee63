"""Option parsing shared by commands: timestamps, durations, `kind:path` sources."""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import click

if TYPE_CHECKING:
    from click.decorators import FC  # a command callback, or a command click already built

from tracestrata.job.windows import parse_duration
from tracestrata.protocols import Window
from tracestrata.record import parse_timestamp
from tracestrata.sampling.sources import ALL_TIME, Progress, total_bytes

__all__ = [
    "ALL_TIME",
    "choice_option",
    "config_option",
    "export_options",
    "jobs_option",
    "now_option",
    "out_option",
    "parse_columns",
    "parse_duration",
    "parse_jobs",
    "parse_period",
    "parse_when",
    "parse_window",
    "policy_option",
    "progress_bar",
    "skip_bad_option",
    "source_option",
    "source_options",
    "state_option",
    "window_options",
]

Decorator: TypeAlias = "Callable[[FC], FC]"
"""What `click.option` returns: adds an option to a command and gives the command back."""
CommandFn: TypeAlias = "Callable[..., None]"
"""A command's callback, called by click with one keyword argument per option."""
SKIP_BAD_HELP = "Skip and count malformed lines instead of stopping at the first."


def parse_when(value: str, option: str) -> datetime:
    """An ISO 8601 timestamp (naive means UTC) or raise a usage error naming the option."""
    try:
        return parse_timestamp(value)
    except (TypeError, ValueError):
        raise click.BadParameter(f"expected an ISO 8601 timestamp, got {value!r}", param_hint=option) from None


def parse_period(value: str | None, option: str) -> timedelta | None:
    """A duration such as `7d` or `3h` (None when not given), or raise a usage error naming the option."""
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


def parse_window(since: str | None, until: str | None) -> Window | None:
    """`--since`/`--until` as a half-open window (either end may be open); None when neither is given."""
    if not (since or until):
        return None
    start = parse_when(since, "--since") if since else ALL_TIME.start
    end = parse_when(until, "--until") if until else ALL_TIME.end
    if end <= start:
        raise click.BadParameter("must be after --since", param_hint="--until")
    return Window(start, end)


def source_option(metavar: str, help: str) -> Decorator:
    """A required `--source KIND:PATH` (the `source_spec` argument)."""
    return click.option("--source", "source_spec", required=True, metavar=metavar, help=help)


def file_option(name: str, dest: str, help: str) -> Decorator:
    """A required path of a file (`--policy`, `--config`)."""
    return click.option(name, dest, required=True, type=click.Path(dir_okay=False, path_type=Path), help=help)


policy_option = file_option("--policy", "policy_path", "The sampling policy (TOML; see docs/policy.md).")


def config_option(help: str) -> Decorator:
    """`--config`: the sync config (TOML) a command reads."""
    return file_option("--config", "config_path", help)


def out_option(help: str) -> Decorator:
    """`--out`: the sample directory a command writes."""
    return click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help=help)


def state_option(command: FC) -> FC:
    """`--state`: the state store a one-shot sample keeps boost counts in across runs (none unless given)."""
    return click.option(
        "--state",
        "state_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help=(
            "State store (SQLite, as sync keeps; e.g. boosts.sqlite) where boost counts carry across runs, "
            "keyed by source and window. Default: none; every run starts each boost from zero."
        ),
    )(command)


def window_options(command: CommandFn) -> CommandFn:
    """`--since` and `--until`, given to the command as one `window` argument (`parse_window`)."""

    @functools.wraps(command)
    def with_window(*args: object, since: str | None, until: str | None, **kwargs: object) -> None:
        return command(*args, window=parse_window(since, until), **kwargs)

    with_window = click.option("--until", help="Only traces before this time (ISO 8601; naive means UTC).")(with_window)
    return click.option("--since", help="Only traces at or after this time (ISO 8601; naive means UTC).")(with_window)


def skip_bad_option(help: str = SKIP_BAD_HELP) -> Decorator:
    return click.option("--skip-bad", is_flag=True, help=help)


def now_option(help: str) -> Decorator:
    """`--now ISO` as a datetime (None when not given)."""

    def parse(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
        return parse_when(value, "--now") if value else None

    return click.option("--now", metavar="ISO", callback=parse, help=help)


def choice_option(name: str, choices: type[Enum], default: Enum, help: str) -> Decorator:
    """An option taking one of an Enum's values."""
    return click.option(
        name, type=click.Choice([c.value for c in choices]), default=default.value, show_default=True, help=help
    )


def jobs_option(effect: str) -> Decorator:
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


def export_options(command: FC) -> FC:
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


def source_options(schema: str | None, columns: tuple[str, ...]) -> dict[str, str | dict[str, str]]:
    """The connector options `--schema` and `--column` give (none when neither is used)."""
    options: dict[str, str | dict[str, str]] = {}
    if schema:
        options["schema"] = schema
    if columns:
        options["columns"] = parse_columns(columns)
    return options


def parse_columns(pairs: tuple[str, ...]) -> dict[str, str]:
    """`--column PATH=EXPR` pairs as a mapping."""
    mapping = {}
    for item in pairs:
        path, sep, expression = item.partition("=")
        if not sep or not path.strip() or not expression.strip():
            raise click.BadParameter(f"expected PATH=EXPR, got {item!r}", param_hint="--column")
        mapping[path.strip()] = expression.strip()
    return mapping

