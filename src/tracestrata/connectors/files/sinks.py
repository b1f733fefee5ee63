"""A sample sink writing a dataset (or a review queue) as one JSONL file.

One line per item, `{"item_id", "trace_id", "metadata", "record"}`, upserted by item id:
an item already present with the same content is not written again; with new content
a new line is appended and the last line of an id wins when reading
(`read_items`). Writes are appends of whole batches followed by `fsync`, so a
write costs the batch, not the file. Crash safety: a process killed mid-append can
leave a torn last line (no trailing newline); readers ignore it and the next write
cuts it off before appending. When superseded lines outnumber live items the file
is compacted by an atomic rewrite (temp file + rename).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path
import orjson

from tracestrata.errors import InputError
from tracestrata.io.atomic import atomic_writer, write_error
from tracestrata.protocols import JSONObject, SampleItem, SinkKind, WriteResult

_SAFE = re.compile(r"[^A-Za-z0-9._+=@-]+")
_PREFIX = b'{"item_id":"'


def sink_file(root: Path, kind: SinkKind, name: str) -> Path:
    """`<root>/datasets/<name>.jsonl` or `<root>/queues/<name>.jsonl`; the name made file-safe."""
    safe = _SAFE.sub("_", name).strip("._") or "unnamed"
    if len(safe.encode()) > 200:  # file systems stop at 255 bytes: keep a readable head and a digest
        safe = f"{safe[:160]}-{hashlib.sha256(name.encode()).hexdigest()[:16]}"
    return root / f"{kind.value}s" / f"{safe}.jsonl"


def item_line(item: SampleItem) -> JSONObject:
    return {
        "item_id": item.item_id,
        "trace_id": item.trace_id,
        "metadata": item.metadata(),
        "record": item.record.to_json(),
    }


def _scan(path: Path) -> tuple[dict[str, bytes], int, int]:
    """(raw line by item id, last wins; bytes up to the last complete line; number of lines)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}, 0, 0
    valid = data.rfind(b"\n") + 1  # a torn last line (killed mid-append) is not part of the file
    lines: dict[str, bytes] = {}
    count = 0
    for number, raw in enumerate(data[:valid].splitlines(), start=1):
        if not raw.strip():
            continue
        count += 1
        if raw.startswith(_PREFIX) and (end := raw.find(b'"', len(_PREFIX))) > 0:
            item_id = raw[len(_PREFIX) : end].decode()
        else:
            try:
                line = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise InputError("not valid JSON", path=str(path), line=number) from None
            if not isinstance(line, dict) or not isinstance(line.get("item_id"), str):
                raise InputError("expected an object with an item_id", path=str(path), line=number)
            item_id = line["item_id"]
        lines[item_id] = raw
    return lines, valid, count


def read_items(path: Path) -> dict[str, JSONObject]:
    """Items by id (the last line of an id wins; a torn last line is ignored)."""
    lines, _, _ = _scan(path)
    out: dict[str, JSONObject] = {}
    for item_id, raw in lines.items():
        try:
            out[item_id] = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise InputError(f"not valid JSON (item {item_id})", path=str(path)) from None
    return out


class FilesSampleSink:
    def __init__(self, root: str | Path, kind: SinkKind, name: str) -> None:
        self.kind = SinkKind(kind)
        self.name = name
        self.path = sink_file(Path(root), self.kind, name)
        self._lines: dict[str, bytes] | None = None
        self._valid = 0
        self._count = 0

    def _load(self) -> dict[str, bytes]:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            size = 0
        if self._lines is None or size != self._valid:  # first use, or the file changed under us
            self._lines, self._valid, self._count = _scan(self.path)
        return self._lines

    def write(self, items: Sequence[SampleItem]) -> WriteResult:
        lines = self._load()
        created = updated = unchanged = 0
        batch: dict[str, bytes] = {}
        for item in items:
            raw = orjson.dumps(item_line(item))
            old = batch.get(item.item_id, lines.get(item.item_id))
            if old is None:
                created += 1
            elif old == raw:
                unchanged += 1
                continue
            else:
                updated += 1
            batch[item.item_id] = raw
        if batch:
            payload = b"".join(raw + b"\n" for raw in batch.values())
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with open(self.path, "ab") as handle:
                    if handle.tell() > self._valid:
                        handle.truncate(self._valid)  # cut a torn last line left by a killed writer
                    try:
                        handle.write(payload)
                        handle.flush()
                        os.fsync(handle.fileno())
                    except OSError:
                        handle.truncate(self._valid)  # a full disk: no torn line left behind
                        raise
            except OSError as exc:
                self._lines = None  # read the file again next time
                raise write_error(exc, self.path) from None
            self._valid += len(payload)
            self._count += len(batch)
            lines.update(batch)
            if self._count > 2 * len(lines) + 100:
                self._compact()
        return WriteResult(created, updated, unchanged, tuple(item.item_id for item in items))

    def _compact(self) -> None:
        lines = self._load()
        with atomic_writer(self.path, "wb") as handle:
            for raw in lines.values():
                handle.write(raw + b"\n")
        self._lines = None
        self._load()

    def written_ids(self) -> set[str]:
        return set(_scan(self.path)[0])


__all__ = ["FilesSampleSink", "item_line", "read_items", "sink_file"]
