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
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from operator import attrgetter
from pathlib import Path
from typing import Annotated, Any, BinaryIO, Literal, overload

import msgspec
import numpy as np
import orjson

from tracestrata.errors import InputError
from tracestrata.protocols import Window
from tracestrata.record import TraceRecord, parse_timestamp
from tracestrata.policy.strata import dig, normalize_top, source_value

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
        """Every trace with `window.start <= timestamp < window.end`, in file order, schema-checked."""
        return self._records(window)

    def iter_all(self) -> Iterator[TraceRecord]:
        """Every trace, no window."""
        return self._records(None)

    def _records(self, window: Window | None) -> Iterator[TraceRecord]:
        for batch in self.iter_column_batches(window, ()):
            for ref in batch.refs:
                try:
                    yield line_record(ref)
                except InputError as error:
                    self._bad(error.path or ref[0], error.line or ref[1], error.message, error.field)

    def _bad(self, path: str, line: int, message: str, field: str | None = None) -> None:
        error = InputError(message, path=path, line=line, field=field)
        if not self.skip_bad:
            raise error
        self.bad_lines += 1
        if self.first_bad is None:
            self.first_bad = error

    # -- column batches (msgspec: decodes only the fields asked for)

    def iter_column_batches(
        self, window: Window | None, fields: Sequence[str], *, part: Part | None = None
    ) -> Iterator[ColumnBatch]:
        """Per chunk of the file: ids, the columns `fields` (normalized like `TraceRecord.from_json`)
        and lazy per-row payloads. Only `id`, `timestamp` and `fields` are decoded. With `part`,
        only that part's lines (line numbers stay those of the whole file)."""
        decoder = ColumnDecoder(fields)
        if part is not None:
            yield from self._read_columns(part.path, window, decoder, part.start, part.stop)
            return
        for path in self.files():
            yield from self._read_columns(path, window, decoder)

    def _read_columns(
        self, path: Path, window: Window | None, decoder: ColumnDecoder, start: int = 0, stop: int | None = None
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
        self, name: str, before: int, piece: bytes, window: Window | None, decoder: ColumnDecoder, nbytes: int
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
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            rows, kept = self._decode_lines(name, piece, starts, ends, numbers, decoder)
            starts, ends, numbers = starts[kept], ends[kept], numbers[kept]
        ids = list(map(_ID, rows))
        stamps = list(map(_STAMP, rows))
        keep_rows: list[int] | None = None
        wrong = _unparsable(stamps)
        kinds = decoder.raw_kind_errors(rows)
        if "" in ids or None in stamps or wrong or kinds:
            keep_rows = []
            for i, (trace_id, stamp) in enumerate(zip(ids, stamps, strict=True)):
                if not trace_id:
                    self._bad(name, int(numbers[i]), "expected a non-empty string", "id")
                elif stamp is None:
                    self._bad(name, int(numbers[i]), "expected an ISO 8601 timestamp (missing)", "timestamp")
                elif i in wrong:
                    self._bad(name, int(numbers[i]), f"expected an ISO 8601 timestamp, got {stamp!r}", "timestamp")
                elif i in kinds:
                    self._bad(name, int(numbers[i]), f"expected {_RAW_KINDS[kinds[i]][1]}", kinds[i])
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
        self, name: str, buf: bytes, starts: np.ndarray, ends: np.ndarray, numbers: np.ndarray, decoder: ColumnDecoder
    ) -> tuple[list[msgspec.Struct], list[int]]:
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
            except RecursionError:
                self._bad(name, int(numbers[i]), "nested too deep to read")
                continue
            kept.append(i)
        return rows, kept


@dataclass(slots=True)
class ColumnBatch:
    """One chunk: ids, columns by field path, and lazy payloads `(file, line, raw line)`."""

    ids: list[str]
    columns: dict[str, list[object]]
    refs: Sequence[tuple[str, int, bytes]]
    bytes_read: int

    @staticmethod
    def record(ref: tuple[str, int, bytes]) -> TraceRecord:
        return line_record(ref)


_ID = attrgetter("id")
_STAMP = attrgetter("timestamp")
_FINITE = Annotated[float, msgspec.Meta(ge=-sys.float_info.max, le=sys.float_info.max)]
_INT = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]  # a 400-digit integer is refused, not a crash
_TOP_TYPES: dict[str, object] = {  # field -> the type msgspec checks it against
    "status": Literal["ok", "error", ""] | None,
    "latency_ms": _INT | _FINITE | None,
    "cost": _INT | _FINITE | None,
    "tags": list[str] | None,
    # text: a number is kept as its text; an object or a list is refused (never stored as Python's repr)
    **{name: str | int | float | bool | None for name in ("name", "user_id", "session_id", "release", "version", "span_id")},
}
# What the record schema says of the fields a policy does not read, checked while the line is
# scanned (msgspec) without building their values (`Raw`): a list of strings costs as much to
# build as the rest of the line, so `tags` and `source` are checked by their JSON kind here
# (`_RAW_KINDS`) and in full when the trace is selected (`TraceRecord.from_json`).
_UNREAD_TYPES: dict[str, object] = {
    **_TOP_TYPES,
    "tags": msgspec.Raw,
    "metadata": dict[str, msgspec.Raw] | None,
    "scores": dict[str, _INT | _FINITE | bool | str] | None,
    "source": msgspec.Raw,
}
_UNRENAMABLE = re.compile(r'["\\\x00-\x1f]')
_RAW_KINDS = {"tags": (b"[n", "a list of strings"), "source": (b'{"n', "an object with 'backend' and 'project'")}


class ColumnDecoder:
    """A msgspec decoder for exactly the fields a policy reads; everything else is skipped unparsed."""

    def __init__(self, fields: Sequence[str]) -> None:
        self.fields = tuple(fields)
        # field -> (the msgspec type, the default)
        spec: dict[str, tuple[object, object]] = {"id": (str, ""), "timestamp": (str | int | float | None, None)}
        self.nested: dict[str, dict[str, str]] = {}
        for path in self.fields:
            head, _, rest = path.partition(".")
            if head in ("metadata", "scores"):
                self.nested.setdefault(head, {}).setdefault(rest.split(".")[0], f"f{len(self.nested.get(head, {}))}")
            else:
                spec.setdefault(head, (_TOP_TYPES.get(head, Any), None))
        self.raw_heads = [h for h in _RAW_KINDS if h not in spec]
        for head, kind in _UNREAD_TYPES.items():
            if head not in spec and head not in self.nested:
                spec[head] = (kind, None)
        self.whole: set[str] = set()  # heads decoded as a dict: a key msgspec cannot rename to (a quote, `\`)
        for head, keys in self.nested.items():
            if any(_UNRENAMABLE.search(key) for key in keys):
                spec[head] = (dict[str, Any] | None, None)
                self.whole.add(head)
                continue
            inner = msgspec.defstruct(
                f"{head.title()}Fields",
                [(attr, Any, None) for attr in keys.values()],
                rename={attr: key for key, attr in keys.items()},
            )
            spec[head] = (inner | None, msgspec.field(default_factory=inner))
        row = msgspec.defstruct("TraceRow", [(k, t, d) for k, (t, d) in spec.items()])
        self.many = msgspec.json.Decoder(list[row])
        self.one = msgspec.json.Decoder(row)

    def raw_kind_errors(self, rows: Sequence[msgspec.Struct]) -> dict[int, str]:
        """Row -> field, for rows whose unread `tags`/`source` are not of their JSON kind."""
        errors: dict[int, str] = {}
        for head in self.raw_heads:
            allowed = {bytes([c]) for c in _RAW_KINDS[head][0]} | {b""}
            firsts = [bytes(raw)[:1] if raw is not None else b"" for raw in map(attrgetter(head), rows)]
            if not allowed.issuperset(firsts):
                errors.update((i, head) for i, first in enumerate(firsts) if first not in allowed and i not in errors)
        return errors

    def columns(self, rows: Sequence[msgspec.Struct]) -> dict[str, list[object]]:
        tops: dict[str, list[object]] = {}

        def top(head: str) -> list[object]:
            if head not in tops:
                tops[head] = list(map(attrgetter(head), rows))
            return tops[head]

        out: dict[str, list[object]] = {}
        for path in self.fields:
            head, _, rest = path.partition(".")
            if head in self.whole:
                first, *deeper = rest.split(".")
                values = [v.get(first) if isinstance(v, dict) else None for v in top(head)]
                out[path] = [dig(v, deeper) for v in values] if deeper else values
            elif head in self.nested:
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


def _open(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=str(path)) from None


def _seek_part(handle: BinaryIO, start: int) -> int:
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


def _part_chunks(handle: BinaryIO, size: int, stop: int | None) -> Iterator[bytes]:
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


def _unparsable(stamps: Sequence[str | int | float | None]) -> set[int]:
    """Rows whose timestamp is present but not one (checked on every line, window or not)."""
    try:
        list(map(datetime.fromisoformat, stamps))  # the common case, in C
        return set()
    except (TypeError, ValueError):
        pass
    wrong = set()
    for i, stamp in enumerate(stamps):
        if stamp is not None:
            try:
                parse_timestamp(stamp)
            except (TypeError, ValueError, OverflowError, OSError):
                wrong.add(i)
    return wrong


def _second(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


class _SliceRefs(Sequence[tuple[str, int, bytes]]):
    """Payloads cut from the chunk on demand (the sampler keeps a few candidates per cell)."""

    __slots__ = ("buf", "ends", "name", "numbers", "starts")

    def __init__(self, name: str, buf: bytes, starts: np.ndarray, ends: np.ndarray, numbers: np.ndarray) -> None:
        self.name, self.buf, self.starts, self.ends, self.numbers = name, buf, starts, ends, numbers

    def __len__(self) -> int:
        return len(self.starts)

    @overload
    def __getitem__(self, i: int) -> tuple[str, int, bytes]: ...

    @overload
    def __getitem__(self, i: slice) -> list[tuple[str, int, bytes]]: ...

    def __getitem__(self, i: int | slice) -> tuple[str, int, bytes] | list[tuple[str, int, bytes]]:
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
    if field is None and message.startswith("expected object,"):
        message = "expected a JSON object" + message[len("expected object") :]  # a line that is not an object
    return message, field


def line_record(ref: tuple[str, int, bytes]) -> TraceRecord:
    """The `TraceRecord` of a payload `(file, line number, raw line)` handed out with each row."""
    path, line, raw = ref
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:  # e.g. nested deeper than orjson reads (1024 levels)
        raise InputError(f"not valid JSON: {_lower(str(exc))}", path=path, line=line) from None
    return TraceRecord.from_json(data, path=path, line=line)


__all__ = ["ColumnBatch", "ColumnDecoder", "FilesTraceSource", "line_record"]
