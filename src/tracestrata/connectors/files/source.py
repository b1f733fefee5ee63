"""Trace JSONL files as a `TraceSource`, with a fast batch reader for `tracestrata sample`.

`path` is one `.jsonl` file or a folder whose `*.jsonl` files are read in name
order. Each line is one `TraceRecord.to_json()`; blank lines are ignored.

The fast reader (`iter_json_batches`) decodes lines with orjson in large chunks
and checks every line cheaply: valid JSON, an object, a non-empty string `id`, a
`timestamp` (parsed when a window filters on it). It hands back the decoded
objects plus a payload per line (file, line number, raw bytes), built on demand,
so that only the selected traces are ever turned into `TraceRecord`s; those get
the full schema check, and a failure there names the file and line too.
A bad line raises `InputError` naming the file and line, or with `skip_bad=True`
is counted in `bad_lines` and skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise, repeat
from operator import attrgetter
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import orjson

from tracestrata.errors import InputError
from tracestrata.protocols import Window
from tracestrata.record import TraceRecord, parse_timestamp
from tracestrata.sampling.strata import dig, normalize_top, source_value

CHUNK_BYTES = 4 << 20  # ~11k lines of a typical trace record per batch
PART_BYTES = 64 << 20  # smallest byte range worth a process of its own


@dataclass(frozen=True, slots=True)
class Part:
    """The lines of `path` that start at a byte offset in `[start, stop)`: one process's share.

    A line that crosses `stop` belongs to this part, so consecutive parts of a file
    hold every line exactly once, wherever the offsets fall.
    """

    path: Path
    start: int
    stop: int


@dataclass(slots=True)
class RawBatch:
    """Decoded rows, and per row its payload `(file, line number, raw line)` (see `line_record`)."""

    rows: list[dict[str, Any]]
    refs: Sequence[tuple[str, int, bytes]]
    bytes_read: int
    ids: list[str]

    @staticmethod
    def record(ref: tuple[str, int, bytes]) -> TraceRecord:
        return line_record(ref)


class FilesTraceSource:
    def __init__(self, path: str | Path, *, skip_bad: bool = False, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.path = Path(path)
        self.skip_bad = skip_bad
        self.chunk_bytes = chunk_bytes
        self.bad_lines = 0
        self.first_bad: InputError | None = None

    def files(self) -> list[Path]:
        if self.path.is_dir():
            return sorted(p for p in self.path.glob("*.jsonl") if p.is_file())
        if not self.path.exists():
            raise InputError("no such file or folder", path=str(self.path))
        return [self.path]

    def total_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.files())

    def partitions(self, count: int) -> list[Part]:
        """About `count` parts of similar size (none under `PART_BYTES` unless a file is), in file order."""
        files = [(path, path.stat().st_size) for path in self.files()]
        total = sum(size for _, size in files)
        target = max(PART_BYTES, -(-total // max(count, 1)))
        parts = []
        for path, size in files:
            pieces = max(1, round(size / target))
            edges = [size * i // pieces for i in range(pieces + 1)]
            parts += [Part(path, a, b) for a, b in pairwise(edges)]
        return parts

    def iter_traces(self, window: Window, *, metadata_keys: Sequence[str] = ()) -> Iterator[TraceRecord]:
        """Every trace with `window.start <= timestamp < window.end`, in file order."""
        for batch in self.iter_json_batches(window):
            for row, ref in zip(batch.rows, batch.refs, strict=True):
                yield TraceRecord.from_json(row, path=ref[0], line=ref[1])

    def iter_all(self) -> Iterator[TraceRecord]:
        """Every trace, no window."""
        for batch in self.iter_json_batches(None):
            for row, ref in zip(batch.rows, batch.refs, strict=True):
                yield TraceRecord.from_json(row, path=ref[0], line=ref[1])

    def iter_json_batches(self, window: Window | None) -> Iterator[RawBatch]:
        """Decoded, checked trace objects, one batch per chunk of the file read."""
        for path in self.files():
            yield from self._read_file(path, window)

    def _bad(self, path: str, line: int, message: str, field: str | None = None) -> None:
        error = InputError(message, path=path, line=line, field=field)
        if not self.skip_bad:
            raise error
        self.bad_lines += 1
        if self.first_bad is None:
            self.first_bad = error

    def _read_file(self, path: Path, window: Window | None) -> Iterator[RawBatch]:
        name = str(path)
        with _open(path) as handle:
            tail = b""
            before = 0  # lines read before this chunk
            while True:
                chunk = handle.read(self.chunk_bytes)
                if chunk:
                    lines = (tail + chunk).split(b"\n")
                    tail = lines.pop()
                else:
                    lines, tail = ([tail] if tail else []), b""
                if lines or chunk:
                    yield self._batch(name, before, lines, window, len(chunk))
                before += len(lines)
                if not chunk:
                    break

    def _batch(self, name: str, before: int, lines: list[bytes], window: Window | None, nbytes: int) -> RawBatch:
        """Decode one chunk's lines in a single orjson call; per line only when something is off."""
        numbers: Sequence[int] = range(before + 1, before + 1 + len(lines))
        if not all(lines):
            kept = [(n, line) for n, line in zip(numbers, lines, strict=True) if line]
            numbers, lines = [n for n, _ in kept], [line for _, line in kept]
        try:
            rows = orjson.loads(b"[" + b",".join(lines) + b"]") if lines else []
        except orjson.JSONDecodeError:
            rows, numbers, lines = self._decode_each(name, numbers, lines)
        problems, ids = _problems(rows)
        if problems:
            for i in problems:
                self._bad(name, numbers[i], *_check(rows[i]))  # type: ignore[misc]
            bad = set(problems)
            keep = [i for i in range(len(rows)) if i not in bad]
            rows, numbers, lines = [rows[i] for i in keep], [numbers[i] for i in keep], [lines[i] for i in keep]
        if window is not None:
            keep = []
            for i, row in enumerate(rows):
                try:
                    moment = parse_timestamp(row["timestamp"])
                except (TypeError, ValueError, OverflowError, OSError):
                    self._bad(
                        name, numbers[i], f"expected an ISO 8601 timestamp, got {row['timestamp']!r}", "timestamp"
                    )
                    continue
                if window.start <= moment < window.end:
                    keep.append(i)
            if len(keep) < len(rows):
                rows, numbers, lines = [rows[i] for i in keep], [numbers[i] for i in keep], [lines[i] for i in keep]
        if ids is None or len(ids) != len(rows):
            ids = [row["id"] for row in rows]
        return RawBatch(rows, _Refs(name, numbers, lines), nbytes, ids)

    def _decode_each(
        self, name: str, numbers: Sequence[int], lines: list[bytes]
    ) -> tuple[list[Any], list[int], list[bytes]]:
        rows, kept_numbers, kept_lines = [], [], []
        for number, line in zip(numbers, lines, strict=True):
            try:
                rows.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                if line.strip():
                    self._bad(name, number, f"not valid JSON: {exc}")
                continue
            kept_numbers.append(number)
            kept_lines.append(line)
        return rows, kept_numbers, kept_lines

    # -- the columnar fast path (msgspec: decodes only the fields the policy reads)

    def iter_column_batches(
        self, window: Window | None, fields: Sequence[str], *, part: Part | None = None
    ) -> Iterator[ColumnBatch]:
        """Per chunk of the file: ids, the columns `fields` (normalized like `TraceRecord.from_json`)
        and lazy per-row payloads. Only `id`, `timestamp` and `fields` are decoded. With `part`,
        only that part's lines (line numbers stay those of the whole file)."""
        decoder = _ColumnDecoder(fields)
        if part is not None:
            yield from self._read_columns(part.path, window, decoder, part.start, part.stop)
            return
        for path in self.files():
            yield from self._read_columns(path, window, decoder)

    def _read_columns(
        self, path: Path, window: Window | None, decoder: _ColumnDecoder, start: int = 0, stop: int | None = None
    ) -> Iterator[ColumnBatch]:
        name = str(path)
        with _open(path) as handle:
            tail = b""
            before = _seek_part(handle, start)
            chunks = _part_chunks(handle, self.chunk_bytes, stop)
            while True:
                chunk = next(chunks, b"")
                if chunk:
                    cut = chunk.rfind(b"\n")
                    if cut < 0:  # no line ends in this chunk: keep reading
                        tail += chunk
                        continue
                    # "[" + whole lines + "]" in one copy; the last newline becomes the "]"
                    piece = b"".join((b"[", tail, memoryview(chunk)[:cut], b"]"))
                    tail = chunk[cut + 1 :]
                elif tail.strip():
                    piece, tail = b"".join((b"[", tail, b"]")), b""
                else:
                    piece = b""
                if piece:
                    batch, lines = self._column_batch(name, before, piece, window, decoder, len(chunk))
                    before += lines
                    yield batch
                if not chunk:
                    break

    def _column_batch(
        self, name: str, before: int, piece: bytes, window: Window | None, decoder: _ColumnDecoder, nbytes: int
    ) -> tuple[ColumnBatch, int]:
        """`piece` is "[" + lines separated by newlines + "]"."""
        ends = np.flatnonzero(np.frombuffer(piece, dtype=np.uint8) == 10)
        ends = np.append(ends, len(piece) - 1)
        starts = np.concatenate(([1], ends[:-1] + 1))
        numbers = np.arange(before + 1, before + 1 + len(ends))
        lines_in_chunk = len(ends)
        blank = ends == starts
        if blank.any():
            keep = ~blank
            starts, ends, numbers = starts[keep], ends[keep], numbers[keep]
            parts = (piece[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True))
            body = b"[" + b",".join(parts) + b"]"
        else:
            body = piece.replace(b"\n", b",")
        try:
            rows = decoder.many.decode(body) if len(starts) else []
        except (msgspec.DecodeError, msgspec.ValidationError):
            rows, kept = self._decode_lines(name, piece, starts, ends, numbers, decoder)
            starts, ends, numbers = starts[kept], ends[kept], numbers[kept]
        ids = list(map(_ID, rows))
        stamps = list(map(_STAMP, rows))
        keep_rows: list[int] | None = None
        if "" in ids or None in stamps:
            keep_rows = []
            for i, (trace_id, stamp) in enumerate(zip(ids, stamps, strict=True)):
                if not trace_id:
                    self._bad(name, int(numbers[i]), "expected a non-empty string", "id")
                elif stamp is None:
                    self._bad(name, int(numbers[i]), "expected an ISO 8601 timestamp (missing)", "timestamp")
                else:
                    keep_rows.append(i)
        if window is not None:
            candidates = keep_rows if keep_rows is not None else range(len(rows))
            keep_rows = []
            low, high = _second(window.start), _second(window.end)
            for i in candidates:
                stamp = stamps[i]
                # Canonical UTC text ("2026-01-01T00:00:00[.ffffff]Z") orders like time: decide by the
                # whole second and parse only on the window's boundary seconds.
                if type(stamp) is str and len(stamp) >= 20 and stamp[-1] == "Z" and stamp[10] == "T":
                    second = stamp[:19]
                    if low < second < high:
                        keep_rows.append(i)
                        continue
                    if second < low or second > high:
                        continue
                try:
                    moment = parse_timestamp(stamps[i])
                except (TypeError, ValueError, OverflowError, OSError):
                    self._bad(name, int(numbers[i]), f"expected an ISO 8601 timestamp, got {stamps[i]!r}", "timestamp")
                    continue
                if window.start <= moment < window.end:
                    keep_rows.append(i)
        if keep_rows is not None and len(keep_rows) < len(rows):
            rows = [rows[i] for i in keep_rows]
            ids = [ids[i] for i in keep_rows]
            starts, ends, numbers = starts[keep_rows], ends[keep_rows], numbers[keep_rows]
        refs = _SliceRefs(name, piece, starts, ends, numbers)
        return ColumnBatch(ids, decoder.columns(rows), refs, nbytes), lines_in_chunk

    def _decode_lines(
        self, name: str, buf: bytes, starts: np.ndarray, ends: np.ndarray, numbers: np.ndarray, decoder: _ColumnDecoder
    ) -> tuple[list[Any], list[int]]:
        """Line by line, to name the bad ones (or skip and count them)."""
        rows, kept = [], []
        for i, (a, b) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
            line = buf[a:b]
            try:
                rows.append(decoder.one.decode(line))
            except msgspec.ValidationError as exc:  # a subclass of DecodeError: first
                message, field = _validation(str(exc))
                self._bad(name, int(numbers[i]), message, field)
                continue
            except msgspec.DecodeError as exc:
                if line.strip():
                    self._bad(name, int(numbers[i]), f"not valid JSON: {_lower(str(exc))}")
                continue
            kept.append(i)
        return rows, kept


@dataclass(slots=True)
class ColumnBatch:
    """One chunk: ids, columns by field path, and lazy payloads `(file, line, raw line)`."""

    ids: list[str]
    columns: dict[str, list[Any]]
    refs: Sequence[tuple[str, int, bytes]]
    bytes_read: int

    @staticmethod
    def record(ref: tuple[str, int, bytes]) -> TraceRecord:
        return line_record(ref)


_ID = attrgetter("id")
_STAMP = attrgetter("timestamp")
_TOP_TYPES: dict[str, Any] = {
    "status": str | None,
    "latency_ms": int | float | None,
    "cost": int | float | None,
    "tags": list[str] | None,
}


class _ColumnDecoder:
    """A msgspec decoder for exactly the fields a policy reads; everything else is skipped unparsed."""

    def __init__(self, fields: Sequence[str]) -> None:
        self.fields = tuple(fields)
        spec: dict[str, tuple[Any, Any]] = {"id": (str, ""), "timestamp": (str | int | float | None, None)}
        self.nested: dict[str, dict[str, str]] = {}
        for path in self.fields:
            head, _, rest = path.partition(".")
            if head in ("metadata", "scores"):
                self.nested.setdefault(head, {}).setdefault(rest.split(".")[0], f"f{len(self.nested.get(head, {}))}")
            else:
                spec.setdefault(head, (_TOP_TYPES.get(head, Any), None))
        for head, keys in self.nested.items():
            inner = msgspec.defstruct(
                f"{head.title()}Fields",
                [(attr, Any, None) for attr in keys.values()],
                rename={attr: key for key, attr in keys.items()},
            )
            spec[head] = (inner | None, msgspec.field(default_factory=inner))
        row = msgspec.defstruct("TraceRow", [(k, t, d) for k, (t, d) in spec.items()])
        self.many = msgspec.json.Decoder(list[row])
        self.one = msgspec.json.Decoder(row)

    def columns(self, rows: list[Any]) -> dict[str, list[Any]]:
        tops: dict[str, list[Any]] = {}

        def top(head: str) -> list[Any]:
            if head not in tops:
                tops[head] = list(map(attrgetter(head), rows))
            return tops[head]

        out: dict[str, list[Any]] = {}
        for path in self.fields:
            head, _, rest = path.partition(".")
            if head in self.nested:
                first, *deeper = rest.split(".")
                attr = self.nested[head][first]
                outer = top(head)
                try:
                    values = list(map(attrgetter(attr), outer))
                except AttributeError:  # some rows have no (or a null) `head`
                    values = [getattr(v, attr) if v is not None else None for v in outer]
                out[path] = [dig(v, deeper) for v in values] if deeper else values
            elif head == "source":
                out[path] = [source_value(v, rest) for v in top(head)]
            else:
                out[path] = normalize_top(head, top(head))
        return out


def _open(path: Path) -> Any:
    try:
        return path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=str(path)) from None


def _seek_part(handle: Any, start: int) -> int:
    """Move to the first line starting at or after `start`; return the number of lines before it."""
    if start <= 0:
        return 0
    handle.seek(start - 1)
    if handle.read(1) != b"\n":
        handle.readline()  # the rest of a line that started in the previous part
    first = handle.tell()
    handle.seek(0)
    lines = 0
    while (remaining := first - handle.tell()) > 0:
        lines += handle.read(min(remaining, 16 << 20)).count(b"\n")
    handle.seek(first)
    return lines


def _part_chunks(handle: Any, size: int, stop: int | None) -> Iterator[bytes]:
    """Chunks up to the end of the line that crosses `stop` (or to the end of the file)."""
    if stop is not None and handle.tell() >= stop:  # a line from an earlier part covers this one
        return
    while chunk := handle.read(size):
        if stop is not None:
            end = handle.tell()
            if end >= stop:  # the line holding byte stop - 1 is the last one of this part
                cut = chunk.find(b"\n", max(0, stop - 1 - (end - len(chunk))))
                if cut >= 0:
                    yield chunk[: cut + 1]
                    return
                while (more := handle.read(size)) and (cut := more.find(b"\n")) < 0:
                    chunk += more
                yield chunk + (more[: cut + 1] if more else b"")
                return
        yield chunk


def _second(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


class _SliceRefs(Sequence[tuple[str, int, bytes]]):
    """Payloads cut from the chunk on demand (the sampler keeps a few candidates per cell)."""

    __slots__ = ("buf", "ends", "name", "numbers", "starts")

    def __init__(self, name: str, buf: bytes, starts: np.ndarray, ends: np.ndarray, numbers: np.ndarray) -> None:
        self.name, self.buf, self.starts, self.ends, self.numbers = name, buf, starts, ends, numbers

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return (self.name, int(self.numbers[i]), self.buf[int(self.starts[i]) : int(self.ends[i])])


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:]


def _validation(text: str) -> tuple[str, str | None]:
    """msgspec's "Expected `str`, got `int` - at `$.id`" -> ("expected str, got int", "id")."""
    match = re.match(r"^(.*?)(?: - at `\$\.?([^`]*)`)?$", text, re.DOTALL)
    message = _lower(match.group(1) if match else text).replace("`", "")
    field = match.group(2) if match and match.group(2) else None
    return message, field


def line_record(ref: tuple[str, int, bytes]) -> TraceRecord:
    """The `TraceRecord` of a payload `(file, line number, raw line)` handed out with each row."""
    path, line, raw = ref
    return TraceRecord.from_json(orjson.loads(raw), path=path, line=line)


class _Refs(Sequence[tuple[str, int, bytes]]):
    """Per-row payloads built on demand: the sampler keeps only a few candidates per cell."""

    __slots__ = ("lines", "name", "numbers")

    def __init__(self, name: str, numbers: Sequence[int], lines: Sequence[bytes]) -> None:
        self.name, self.numbers, self.lines = name, numbers, lines

    def __len__(self) -> int:
        return len(self.lines)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return (self.name, self.numbers[i], self.lines[i])


_STAMP_TYPES = {str, int, float}


def _problems(rows: list[Any]) -> tuple[list[int], list[Any] | None]:
    """(indices of rows failing `_check`, the ids column when every row is fine)."""
    try:
        ids = list(map(dict.get, rows, repeat("id")))  # TypeError if a row is not an object
        if set(map(type, ids)) <= {str} and "" not in ids:
            stamps = set(map(type, map(dict.get, rows, repeat("timestamp"))))
            if stamps <= _STAMP_TYPES:
                return [], ids
    except TypeError:
        pass
    return [i for i, row in enumerate(rows) if _check(row) is not None], None


def _check(obj: Any) -> tuple[str, str | None] | tuple[str] | None:
    """What the sampler needs of every line: None if fine, else (message, field).

    The full record schema is checked (`TraceRecord.from_json`) on the selected
    records, the only ones that become `TraceRecord`s.
    """
    if type(obj) is not dict:
        return ("expected a JSON object",)
    trace_id = obj.get("id")
    if type(trace_id) is not str or not trace_id:
        return ("expected a non-empty string", "id")
    stamp = obj.get("timestamp")
    if type(stamp) not in _STAMP_TYPES:
        return ("expected an ISO 8601 timestamp" + (" (missing)" if stamp is None else ""), "timestamp")
    return None


__all__ = ["ColumnBatch", "FilesTraceSource", "RawBatch", "line_record"]
