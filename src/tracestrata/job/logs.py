"""What a scheduled run says: nothing when nothing changed, one line per change.

Three levels: `change` (a window done, scores read, a report refreshed: always
shown, stdout), `detail` (what was skipped and why: only with `-v`, stderr) and
`warn` (a stop or a problem: always, stderr). `--log-format json` prints one JSON
object per line instead (`time`, `level`, `event`, `message` and the fields), for
schedulers that collect logs.

Every line passes through `tracestrata.redaction.redact`, which hides every credential
the process holds (the variables the config names, the default ones, URL logins, in any
encoding): a secret cannot reach a log even if a backend echoes it back in an error.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal, TextIO

from tracestrata.redaction import redact, register_env
from tracestrata.record import JSONValue, format_timestamp

LogFormat = Literal["text", "json"]


class SyncLog:
    def __init__(
        self,
        *,
        verbose: bool = False,
        fmt: LogFormat = "text",
        out: TextIO | None = None,
        err: TextIO | None = None,
        secret_env: Iterable[str] = (),
    ) -> None:
        self.verbose = verbose
        self.fmt = fmt
        self.out = out
        self.err = err
        self.secrets: list[str] = []
        self.add_secret_env(secret_env)
        self.lines: list[dict[str, JSONValue]] = []  # every line, as `--log-format json` prints it

    def add_secret_env(self, names: Iterable[str]) -> None:
        names = list(names)
        register_env(names)
        self.secrets.extend(v for v in (os.environ.get(n) for n in names) if v and len(v) >= 4)

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

    def change(self, event: str, message: str, **fields: JSONValue) -> None:
        self._emit("info", event, message, fields, self.out or sys.stdout)

    def detail(self, event: str, message: str, **fields: JSONValue) -> None:
        if self.verbose:
            self._emit("debug", event, message, fields, self.err or sys.stderr)

    def warn(self, event: str, message: str, **fields: JSONValue) -> None:
        self._emit("warning", event, message, fields, self.err or sys.stderr)

    def _emit(self, level: str, event: str, message: str, fields: dict[str, JSONValue], stream: TextIO) -> None:
        record = {"level": level, "event": event, "message": self.redact(message), **fields}
        self.lines.append(record)
        if self.fmt == "json":
            payload = {"time": format_timestamp(datetime.now(UTC)), **record}
            line = self.redact(json.dumps(payload, default=str, sort_keys=False))
        else:
            line = self.redact(message if level != "warning" else f"warning: {message}")
        print(line, file=stream, flush=True)


class NullLog(SyncLog):
    """Records every line, details included, without printing (library use and tests)."""

    def detail(self, event: str, message: str, **fields: JSONValue) -> None:
        self._emit("debug", event, message, fields, sys.stderr)

    def _emit(self, level: str, event: str, message: str, fields: dict[str, JSONValue], stream: TextIO) -> None:
        self.lines.append({"level": level, "event": event, "message": self.redact(message), **fields})


__all__ = ["LogFormat", "NullLog", "SyncLog"]
