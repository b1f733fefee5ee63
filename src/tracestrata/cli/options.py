"""Option parsing shared by commands: timestamps, durations, `kind:path` sources."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import click

from tracestrata.record import parse_timestamp

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_when(value: str, option: str) -> datetime:
    """An ISO 8601 timestamp (naive means UTC) or raise a usage error naming the option."""
    try:
        return parse_timestamp(value)
    except (TypeError, ValueError):
        raise click.BadParameter(f"expected an ISO 8601 timestamp, got {value!r}", param_hint=option) from None


def parse_duration(value: str) -> timedelta:
    """`90s`, `15m`, `1h`, `7d`, `2w` -> timedelta; ValueError otherwise."""
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"expected a duration like 15m, 1h or 7d, got {value!r}")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def split_source(value: str, option: str = "--source") -> tuple[str, str]:
    """`jsonl:PATH` -> ("jsonl", PATH); a bare path means jsonl."""
    kind, sep, rest = value.partition(":")
    if not sep or len(kind) == 1:  # no prefix, or a Windows drive letter
        return "jsonl", value
    if not rest:
        raise click.BadParameter(f"expected KIND:PATH, got {value!r}", param_hint=option)
    return kind, rest
