"""Read an iterator one step ahead in a thread, so a scan and the work on its batches overlap.

DuckDB releases the GIL while it produces the next Arrow batch; reading it in a thread
lets the sketch work on the current batch meanwhile. The consumer sees the same items,
in the same order, and the producer's exception at the point it happened.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetched(items: Iterable[T], depth: int = 2, *, interrupt: Callable[[], None] | None = None) -> Iterator[T]:
    """`items`, produced by a daemon thread up to `depth` ahead.

    Closing the iterator early (or Ctrl-C) stops the producer after its current item and
    waits for it, so nothing else touches the producer's resources (a database cursor)
    afterwards. `interrupt`, if given, is called when the producer is still busy then:
    a query reading a slow object store is cancelled rather than waited for.
    """
    out: queue.Queue[T | _Failed | object] = queue.Queue(maxsize=depth)  # an item, a failure, or _DONE
    stop = threading.Event()
    reading = threading.Event()  # set while the producer waits for its next item

    def produce() -> None:
        try:
            source = iter(items)
            while True:
                reading.set()
                if stop.is_set():  # the consumer sets `stop` before it looks at `reading`: one of them sees the other
                    reading.clear()
                    return
                try:
                    item = next(source)
                except StopIteration:
                    break
                finally:
                    reading.clear()
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
        if interrupt is not None and reading.is_set():  # stopped early, inside a read: cancel it
            interrupt()
        while thread.is_alive():
            try:
                out.get(timeout=0.05)
            except queue.Empty:
                pass
        thread.join()


__all__ = ["prefetched"]
