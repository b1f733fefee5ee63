"""A sample sink writing a dataset (or a review queue) as one JSONL file.

Upsert by item id: each line is one item, `{"item_id", "trace_id", "metadata", "record"}`;
writing an item already present with the same content changes nothing, with new
content replaces it. Every write rewrites the file atomically (temp file + rename),
so a run killed mid-write leaves either the old or the new file, never half a line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from tracestrata.atomic import atomic_writer
from tracestrata.errors import InputError
from tracestrata.protocols import SampleItem, SinkKind, WriteResult

_SAFE = re.compile(r"[^A-Za-z0-9._+=@-]+")


def sink_file(root: Path, kind: SinkKind, name: str) -> Path:
    """`<root>/datasets/<name>.jsonl` or `<root>/queues/<name>.jsonl`; the name made file-safe."""
    safe = _SAFE.sub("_", name).strip("._") or "unnamed"
    return root / f"{kind.value}s" / f"{safe}.jsonl"


def item_line(item: SampleItem) -> dict[str, Any]:
    return {
        "item_id": item.item_id,
        "trace_id": item.trace_id,
        "metadata": item.metadata(),
        "record": item.record.to_json(),
    }


def read_items(path: Path) -> dict[str, dict[str, Any]]:
    """Items by id (the last line of an id wins)."""
    items: dict[str, dict[str, Any]] = {}
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return items
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise InputError("not valid JSON", path=str(path), line=number) from None
        if not isinstance(line, dict) or not isinstance(line.get("item_id"), str):
            raise InputError("expected an object with an item_id", path=str(path), line=number)
        items[line["item_id"]] = line
    return items


class FilesSampleSink:
    def __init__(self, root: str | Path, kind: SinkKind, name: str) -> None:
        self.kind = SinkKind(kind)
        self.name = name
        self.path = sink_file(Path(root), self.kind, name)

    def write(self, items: Sequence[SampleItem]) -> WriteResult:
        existing = read_items(self.path)
        created = updated = unchanged = 0
        for item in items:
            line = item_line(item)
            old = existing.get(item.item_id)
            if old is None:
                created += 1
            elif old == line:
                unchanged += 1
                continue
            else:
                updated += 1
            existing[item.item_id] = line
        if created or updated:
            with atomic_writer(self.path, "wb") as handle:
                for line in existing.values():
                    handle.write(orjson.dumps(line) + b"\n")
        return WriteResult(created, updated, unchanged, tuple(item.item_id for item in items))

    def written_ids(self) -> set[str]:
        return set(read_items(self.path))


__all__ = ["FilesSampleSink", "item_line", "read_items", "sink_file"]
