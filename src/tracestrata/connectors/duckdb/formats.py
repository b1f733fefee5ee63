"""Which files an export location means, and their format (from the file extension)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tracestrata.errors import InputError

FORMATS = ("parquet", "json", "csv")
_EXTENSIONS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "json",
    ".ndjson": "json",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "csv",
}


def format_of(location: str) -> str:
    """The export format from the file extension (`.gz` ignored); a folder: the files it holds."""
    name = location.rstrip("/")
    if name.endswith(".gz"):
        name = name[:-3]
    suffix = os.path.splitext(name)[1].lower()
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    if "://" not in location and Path(location).is_dir():
        for extension, kind in _EXTENSIONS.items():
            if any(Path(location).rglob(f"*{extension}")):
                return kind
    raise InputError(
        "cannot tell the export format from the name: use a .parquet, .jsonl or .csv path or glob", path=location
    )


RACY_NS = 2_000_000_000  # stamps younger than this are not trusted (`file_stamps`)


def file_stamps(paths: list[str]) -> tuple[tuple[int, ...], ...] | None:
    """Each local file's (inode, size, change time in ns): the same stamps later mean the same
    bytes (a write or a replacement changes the change time or the inode, and no program can set
    the change time back); None for an object-store URL, a file that cannot be read, or one
    changed in the last `RACY_NS` (where change times are coarse, 1-2 s on FAT or SMB, a
    rewrite of the same size in the same tick would keep them: as git treats a "racily clean"
    file, such stamps are not trusted and the ids are read back and checked)."""
    if any("://" in path for path in paths):
        return None
    try:
        stats = [os.stat(path) for path in paths]
    except OSError:
        return None
    racy = time.time_ns() - RACY_NS
    if any(s.st_ctime_ns >= racy or s.st_mtime_ns >= racy for s in stats):
        return None  # changed moments ago: a same-size rewrite within one coarse clock tick keeps the stamps
    return tuple((s.st_ino, s.st_size, s.st_ctime_ns, s.st_mtime_ns) for s in stats)


def glob_of(location: str, fmt: str) -> str:
    """The glob a location stands for: a folder means every file of its format under it."""
    if "://" not in location and Path(location).is_dir():
        extensions = [e for e, kind in _EXTENSIONS.items() if kind == fmt]
        found = next((e for e in extensions if any(Path(location).rglob(f"*{e}"))), extensions[0])
        return str(Path(location) / "**" / f"*{found}")
    return location


__all__ = ["FORMATS", "file_stamps", "format_of", "glob_of"]
