"""Option parsing shared by commands: timestamps, durations, `kind:path` sources."""

from __future__ import annotations

from datetime import datetime

import click

from tracestrata.record import parse_timestamp
from tracestrata.windows import parse_duration

__all__ = ["parse_duration", "parse_when", "split_source"]


def parse_when(value: str, option: str) -> datetime:
    """An ISO 8601 timestamp (naive means UTC) or raise a usage error naming the option."""
    try:
        return parse_timestamp(value)
    except (TypeError, ValueError):
        raise click.BadParameter(f"expected an ISO 8601 timestamp, got {value!r}", param_hint=option) from None


def split_source(value: str, option: str = "--source") -> tuple[str, str]:
    """`jsonl:PATH` -> ("jsonl", PATH); a bare path means jsonl."""
    kind, sep, rest = value.partition(":")
    if not sep or len(kind) == 1:  # no prefix, or a Windows drive letter
        return "jsonl", value
    if not rest:
        raise click.BadParameter(f"expected KIND:PATH, got {value!r}", param_hint=option)
    return kind, rest
