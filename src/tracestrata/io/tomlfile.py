"""Reading TOML files for config and policy, and finding where a key is written.

`tomllib` keeps no positions, so `key_line` finds a key path such as
`failure.signals[1].equals` by searching the text: `[table]` and `[[array]]`
headers narrow the search, then `key =` inside that section. Best effort: a key
written inline (`{ a = 1 }`) reports the line of its table.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from datetime import date, datetime, time
from typing import TypeAlias

from tracestrata.errors import ConfigError

TOMLValue: TypeAlias = "str | int | float | bool | datetime | date | time | list[TOMLValue] | dict[str, TOMLValue]"
"""A value `tomllib` decodes: JSON's kinds (no null) plus dates and times."""
TOMLTable: TypeAlias = "dict[str, TOMLValue]"


def read_toml(path: str | Path, *, what: str = "file") -> tuple[TOMLTable, str]:
    """The decoded table and the text of a TOML file; `ConfigError` (with the line) otherwise."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("no such file", path=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {what}: {type(exc).__name__}: {exc}", path=str(path)) from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ConfigError(
            f"not valid TOML: {message}", path=str(path), line=int(match.group(1)) if match else None
        ) from None


def key_path(loc: Sequence[str | int]) -> str:
    """`("strata", 1, "edges")` -> `strata[1].edges` (pydantic error locations, for one)."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def key_line(lines: Sequence[str], key: str) -> int | None:
    """Best-effort 1-based line of a key path like `failure.signals[1].equals` in TOML text."""
    names: list[str] = []
    start, end = 0, len(lines)
    line: int | None = None
    for name, index in re.findall(r"([^.\[\]]+)(?:\[(\d+)\])?", key):
        names.append(name)
        dotted = re.escape(".".join(names))
        if index:
            header = re.compile(r"^\s*\[\[\s*" + dotted + r"\s*\]\]")
            hits = [i for i, text in enumerate(lines) if header.match(text)]
            if len(hits) <= int(index):
                return line
            line, start = hits[int(index)] + 1, hits[int(index)] + 1
            end = _section_end(lines, start)
            continue
        header = re.compile(r"^\s*\[\s*" + dotted + r"\s*\]\s*(#.*)?$")
        hit = next((i for i, text in enumerate(lines) if header.match(text)), None)
        if hit is not None:
            line, start = hit + 1, hit + 1
            end = _section_end(lines, start)
            continue
        assign = re.compile(r"^\s*[\"']?" + re.escape(name) + r"[\"']?\s*=")
        hit = next((i for i in range(start, end) if assign.match(lines[i])), None)
        if hit is not None:
            line, start = hit + 1, hit
    return line


def _section_end(lines: Sequence[str], start: int) -> int:
    return next((i for i in range(start, len(lines)) if re.match(r"^\s*\[", lines[i])), len(lines))


__all__ = ["TOMLTable", "TOMLValue", "key_line", "key_path", "read_toml"]
