"""JSON Lines: one reader for every JSONL file the project reads (samples, scores, judge input).

Blank lines are skipped; line numbers are those of the file, so an error names `file:line`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import orjson

from tracestrata.errors import InputError
from tracestrata.record import JSONValue, Score


def iter_jsonl(
    path: str | Path,
    *,
    on_bad: Callable[[InputError], None] | None = None,
    torn_tail_ok: bool = False,
) -> Iterator[tuple[int, JSONValue]]:
    """(line number, decoded JSON) for every non-blank line of `path`.

    A line that is not JSON raises `InputError` naming the file and line, or, with
    `on_bad`, is handed to it and skipped. With `torn_tail_ok`, a last line without its
    newline that is not JSON ends the file quietly: a writer is still appending it.
    """
    where = str(path)
    try:
        handle = Path(path).open("rb")
    except FileNotFoundError:
        raise InputError("no such file", path=where) from None
    except IsADirectoryError:
        raise InputError("expected a JSONL file, got a directory", path=where) from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                if torn_tail_ok and not line.endswith(b"\n"):
                    return
                error = InputError(f"not valid JSON: {exc}", path=where, line=number)
                if on_bad is None:
                    raise error from None
                on_bad(error)


def read_scores_jsonl(path: str | Path, *, skip_bad: bool = False) -> tuple[list[Score], int]:
    """Scores from a score JSONL file (`{trace_id, name, value}` per line) and the number of bad lines skipped.

    A malformed line raises `InputError` with file and line, unless `skip_bad`, which skips and counts it.
    """
    where = str(path)
    scores: list[Score] = []
    bad = 0

    def skip(_: InputError) -> None:
        nonlocal bad
        bad += 1

    for number, data in iter_jsonl(path, on_bad=skip if skip_bad else None):
        try:
            scores.append(Score.from_json(data, path=where, line=number))
        except InputError:
            if not skip_bad:
                raise
            bad += 1
    return scores, bad


__all__ = ["iter_jsonl", "read_scores_jsonl"]
