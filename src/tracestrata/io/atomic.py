"""Crash-safe writes that go where the path points.

A regular file or a new path is written to a temp file beside it, fsynced, then
`os.replace`d in one step; through a symlink, that happens next to the file it points
at, so the link stays a link. `-` is standard output; a device, a FIFO or a socket is
written as a stream (a `/dev/null`, `/proc/self/fd/1` or a named pipe stays what it is);
a folder is refused. A full disk or a read-only folder is one `WriteError` line naming
the path, and the file that was there is unchanged.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from tracestrata.errors import WriteError

WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})
"""Errors only a write raises: converted even when they surface inside the caller's block."""


def write_error(exc: OSError, path: Path | str) -> WriteError:
    """One line naming the path: what failed and what to do."""
    why = exc.strerror or type(exc).__name__
    hint = {
        errno.ENOSPC: "free some space and rerun (nothing was replaced)",
        errno.EDQUOT: "free some space and rerun (nothing was replaced)",
        errno.EROFS: "the folder is read-only: name a writable one",
        errno.EACCES: "no permission: name a folder you can write",
        errno.ENAMETOOLONG: "the name is too long for the file system",
    }.get(exc.errno or 0, "")
    return WriteError(f"cannot write: {why}" + (f"; {hint}" if hint else ""), path=str(path))


@contextlib.contextmanager
def atomic_writer(path: str | Path, mode: str = "wb", *, private: bool = False) -> Iterator[IO]:  # type: ignore[type-arg]
    """Yield a file handle; on a clean exit the output is complete at `path`, else nothing changed.

    `private` files are readable by their owner only (0600); others keep an existing file's
    mode, or get what `open()` would give."""
    if str(path) == "-":
        stream = sys.stdout if "b" not in mode else getattr(sys.stdout, "buffer", sys.stdout)
        yield stream
        stream.flush()
        return
    target = Path(path)
    try:
        info = os.stat(target)  # follows symlinks: what is at the end of the path
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise write_error(exc, target) from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise WriteError("is a folder: name a file", path=str(target))
    if info is not None and not stat.S_ISREG(info.st_mode):
        with _converted(target):
            stream = open(target, mode)  # a device, FIFO or socket: written as a stream
        with _converted(target, WRITE_ERRNOS), stream:
            yield stream
        return
    real = Path(os.path.realpath(target)) if target.is_symlink() else target
    with _converted(target):
        real.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{real.name[:200]}.", suffix=".tmp", dir=real.parent)
    try:
        with _converted(target):
            os.chmod(tmp, 0o600 if private else _default_mode(real))
        with _converted(target, WRITE_ERRNOS), os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        with _converted(target):
            os.replace(tmp, real)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _converted(target: Path, only: frozenset[int] | None = None) -> Iterator[None]:
    """A write's OSError (of the `only` kinds, if given) as one `WriteError` line naming `target`."""
    try:
        yield
    except OSError as exc:
        if only is not None and exc.errno not in only:
            raise
        raise write_error(exc, target) from None


def _default_mode(target: Path) -> int:
    """Keep an existing file's mode; a new one gets 0o666 less the umask, like `open()`."""
    try:
        return target.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def atomic_write_bytes(path: str | Path, data: bytes, *, private: bool = False) -> None:
    with atomic_writer(path, "wb", private=private) as handle:
        handle.write(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


__all__ = ["WRITE_ERRNOS", "atomic_write_bytes", "atomic_write_text", "atomic_writer", "write_error"]
