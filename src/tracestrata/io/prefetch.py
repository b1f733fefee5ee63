"""Read an iterator one step ahead in a thread, so a scan and the work on its batches overlap.

DuckDB releases the GIL while it produces the next Arrow batch; reading it in a thread
lets the sketch work on the current batch meanwhile. The consumer sees the same items,
in the same order, and the producer's exception at the point it happened.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
_DONE = object()


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetched(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """`items`, produced by a daemon thread up to `depth` ahead.

    Closing the iterator early stops the producer after its current item and waits for
    it, so nothing else touches the producer's resources (a database cursor) afterwards.
    """
    out: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        out.put(item, timeout=0.05)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            out.put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            out.put(_Failed(exc))

    thread = threading.Thread(target=produce, name="prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = out.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                out.get(timeout=0.05)
            except queue.Empty:
                pass
        thread.join()


__all__ = ["prefetched"]
