"""The error tree and the exit codes.

    TracestrataError                 every error we raise on purpose
    ├── ConfigError                  policy or sync config: unreadable, unknown key, wrong type   -> exit 2
    ├── InputError                   a trace/score file or record we cannot read                  -> exit 2
    ├── StateError                   the state store is unreadable or from an unknown version     -> exit 2
    ├── EstimationError              an estimate cannot be formed (e.g. a lonely cell under ERROR) -> exit 2
    ├── WriteError                   an output cannot be written: full disk, read-only, a folder   -> exit 2
    ├── LockedError                  another run holds the state store                            -> exit 5
    └── SourceError                  a backend refused or failed
        ├── FatalSourceError         do not retry: unknown project, bad request                   -> exit 3
        │   └── AuthError            401/403: names the environment variables to check            -> exit 3
        └── RetriableSourceError     429, 5xx, timeouts, dropped connections                      -> exit 4 once
                                     the retry budget is spent (the run stops "partial")

Every error renders as one line, ``path:line: field: message``, with the parts it
knows; the CLI prints that line and exits with ``exit_code``. Messages never carry
secrets: connectors name environment variables, never their values.
"""

from __future__ import annotations

from enum import IntEnum

from tracestrata.redaction import redact, redact_url_credentials


class ExitCode(IntEnum):
    """Exit codes of every `tracestrata` command (documented in the README and `--help`)."""

    OK = 0
    INTERNAL = 1  # a bug: rerun with --debug and report it
    USAGE = 2  # bad command line, config, policy, input file or state file
    SOURCE = 3  # the backend refused: auth, unknown project, bad request
    PARTIAL = 4  # retries exhausted mid-run; what was done is recorded, the next run continues
    LOCKED = 5  # another run holds the state store
    FAILING = 6  # the job is failing: nothing reachable, or the same window failed on consecutive runs; or stale


def redact_urls(text: str) -> str:
    """`text` with the credentials of every URL in it hidden: `http://admin:pw@host` -> `http://***@host`.

    Knows nothing about the process (stable text, e.g. a state key); `redact` also hides
    every credential the process holds, in any form, and is what error lines go through.
    """
    return redact_url_credentials(text)


class TracestrataError(Exception):
    """Root of every error tracestrata raises on purpose."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.field = field

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "
        elif self.line is not None:
            where = f"line {self.line}: "
        field = f"{self.field}: " if self.field else ""
        return redact(f"{where}{field}{self.message}")  # a backend may echo a credential back


class ConfigError(TracestrataError):
    """A policy or sync config is unreadable or invalid."""


class InputError(TracestrataError):
    """A trace or score file, or one of its records, cannot be read."""


class StateError(TracestrataError):
    """The state store is unreadable, corrupt or from a version we cannot upgrade."""


class EstimationError(TracestrataError):
    """An estimate cannot be formed under the chosen options."""


class WriteError(TracestrataError):
    """An output (file, sink, report, state folder) cannot be written: full disk, read-only, not a file.
    Nothing was replaced: free the space or fix the path and rerun."""


class LockedError(TracestrataError):
    """Another run holds the state store."""

    exit_code = ExitCode.LOCKED


class SourceError(TracestrataError):
    """A backend refused or failed."""

    exit_code = ExitCode.SOURCE


class FatalSourceError(SourceError):
    """Retrying will not help: unknown project, bad request, unsupported feature."""


class AuthError(FatalSourceError):
    """The backend rejected our credentials (401/403)."""


class RetriableSourceError(SourceError):
    """A transient failure: 429, 5xx, timeout, dropped connection."""

    exit_code = ExitCode.PARTIAL

    def __init__(
        self, message: str, *, retry_after: float | None = None, unreachable: bool = False, **kwargs: object
    ) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after
        self.unreachable = unreachable  # no connection at all (refused, unknown host): not a passing hiccup


class FailingError(TracestrataError):
    """The scheduled job is not making progress: a monitor should page someone."""

    exit_code = ExitCode.FAILING


def first_line(exc: BaseException) -> str:
    """An engine's exception (DuckDB, Spark) as one line: its first, or its type's name."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


__all__ = [
    "first_line",
    "redact",
    "redact_urls",
    "AuthError",
    "ConfigError",
    "EstimationError",
    "ExitCode",
    "FailingError",
    "FatalSourceError",
    "InputError",
    "LockedError",
    "RetriableSourceError",
    "SourceError",
    "StateError",
    "TracestrataError",
    "WriteError",
]


class JudgeCallError(RetriableSourceError):
    """One judge call failed in a way worth retrying: a 429, a timeout, an answer that does not parse.

    Past the retry budget the trace is counted as judge-failed (never a crash); the next run tries again."""
