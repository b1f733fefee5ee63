"""Entry point: a lazily loaded click group and the one seam that turns errors into exit codes.

Each command lives in its own module (`tracestrata.cli.<name>`) exposing `command`,
parses its options, calls one library function and renders the result.
"""

from __future__ import annotations

import errno
import importlib
import importlib.util
import sys
import traceback

import click

from tracestrata.errors import ExitCode, TracestrataError
from tracestrata.redaction import RedactingStream, redact

COMMANDS: dict[str, str] = {
    "plan": "tracestrata.cli.plan",
    "sample": "tracestrata.cli.sample",
    "spark-sample": "tracestrata.cli.spark_sample",
    "report": "tracestrata.cli.report",
    "sync": "tracestrata.cli.sync",
    "status": "tracestrata.cli.status",
    "demo": "tracestrata.cli.demo",
    "generate": "tracestrata.cli.generate",
    "judge": "tracestrata.cli.judge",
}

#: Each command's first line of help, so `tracestrata --help` lists them without importing
#: every command's module (and numpy, pydantic, ... with them); tests check they match.
SUMMARIES: dict[str, str] = {
    "plan": "Compute how many traces to judge per stratum, from the population counts of a window.",
    "sample": "Pick the traces to judge: stratified, failures oversampled, boosts at 100%.",
    "spark-sample": "Draw `tracestrata sample`'s sample from a trace export, on Spark.",
    "report": "Estimate METRIC for the whole population from the judged sample.",
    "sync": "Sample every closed window not yet done, write it, read scores back, refresh reports.",
    "status": "Last success, pending windows, failures in a row and boost progress, from the state alone.",
    "demo": "Run the main job end to end on a local Phoenix and print the report.",
    "generate": "Write N synthetic traces (JSONL, one record per line) for trying tracestrata.",
    "judge": "Judge exactly the sampled traces that have no score of that name yet, and write the scores back.",
}

EXIT_CODES_HELP = """\b
Exit codes:
  0  success (also: nothing to do)
  1  internal error (a bug: rerun with --debug and report it)
  2  bad command line, config, policy, input file or state file
  3  the backend refused: credentials, unknown project, bad request
  4  partial: retries exhausted mid-run; progress is recorded, rerun to continue
  5  locked: another run holds the state store
  6  failing: sync cannot reach the backend or keeps stopping; status: stale"""


USER_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM,
                         errno.ENAMETOOLONG, errno.ENOTDIR, errno.EISDIR})
"""A machine's or a user's condition (full disk, read-only, permissions, a name too long), not a bug:
one line and exit 2 wherever it surfaces."""


class LazyGroup(click.Group):
    """Imports a command's module only when that command runs (keeps `--help` fast)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if _module_exists(COMMANDS[name])]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = COMMANDS.get(cmd_name)
        if module_name is None or not _module_exists(module_name):
            return None
        return importlib.import_module(module_name).command  # type: ignore[no-any-return]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The list of commands with their `SUMMARIES`, as click writes it, no command imported."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [(name, click.Command(name, help=SUMMARIES[name]).get_short_help_str(limit)) for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _module_exists(module_name: str) -> bool:
    return importlib.util.find_spec(module_name) is not None


@click.group(cls=LazyGroup, epilog=EXIT_CODES_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tracestrata")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Decide which LLM traces to judge, and what the judged sample says about all of them.

    \b
    Typical flow:
      tracestrata plan   --source jsonl:traces.jsonl --policy policy.toml
      tracestrata sample --source jsonl:traces.jsonl --policy policy.toml --out run/
      tracestrata report --sample run/ --scores jsonl:scores.jsonl --metric correct
      tracestrata sync   --config sync.toml          # the scheduled job
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def main(argv: list[str] | None = None) -> int:
    """Run one command; every line on stderr (errors, warnings, `-v`, `--debug` tracebacks) is redacted."""
    stderr = sys.stderr
    sys.stderr = RedactingStream(stderr)  # type: ignore[assignment]
    try:
        return _main(argv)
    finally:
        sys.stderr = stderr


def _main(argv: list[str] | None) -> int:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="tracestrata", standalone_mode=False)
    except TracestrataError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"tracestrata: error: {exc}", err=True)
        return int(exc.exit_code)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"tracestrata: error: {one_line(exc)}", err=True)
        return ExitCode.USAGE
    except click.exceptions.Abort:
        click.echo("tracestrata: aborted", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("tracestrata: interrupted", err=True)
        return 130
    except BrokenPipeError:
        return ExitCode.OK
    except MemoryError:  # not a bug: the work outgrew the memory this process may use
        if debug:
            traceback.print_exc()
        click.echo("tracestrata: error: out of memory: give the process more memory (ulimit -v, the container's "
                   "limit) or less work (a shorter window; for sampling, `top = N` on a wide [[strata]] table)", err=True)
        return ExitCode.USAGE
    except OSError as exc:
        if exc.errno not in USER_ERRNOS:
            return _internal(debug)
        if debug:
            traceback.print_exc()
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"tracestrata: error: {where}{exc.strerror or exc}", err=True)
        return ExitCode.USAGE
    except Exception:  # noqa: BLE001 - the one place a bug becomes exit 1
        return _internal(debug)
    return ExitCode.OK


def _internal(debug: bool) -> int:
    """A bug: exit 1, its traceback with --debug (redacted like every stderr line)."""
    if debug:
        traceback.print_exc()
    else:
        exc_type, exc_value = sys.exc_info()[:2]
        click.echo(
            f"tracestrata: internal error: {exc_type.__name__ if exc_type else 'Error'}: {redact(str(exc_value))} "
            "(rerun with --debug for the traceback)",
            err=True,
        )
    return ExitCode.INTERNAL


def one_line(exc: click.ClickException) -> str:
    """Click's message for a bad command line, on one line (not its usage block), with where to look."""
    message = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        message += f" (see '{ctx.command_path} --help')"
    return message


if __name__ == "__main__":
    sys.exit(main())
