"""A client-side limiter: at most N requests per endpoint family in any 60-second window.

Langfuse Cloud limits requests per minute per resource group (Hobby: 30 for the
general API, 100 for datasets and annotation queues) and answers 429 beyond that.
The families here are those groups: `general` (observations, scores, score configs),
`metrics`, `datasets`, `annotation_queues`.
A sliding-window log, not a token bucket, because it matches how the server
counts: a small job may burst up to the limit, a long pull settles at the limit
and never trips a 429. The clock and sleep are injected so tests never wait.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

# Endpoint families and their defaults (requests per minute), safe for the Hobby plan.
DEFAULT_LIMITS: dict[str, float] = {
    "general": 30.0,  # observations, scores, score configs share the server's general bucket
    "metrics": 30.0,  # Cloud Hobby also caps metrics at 100 per day; the server's 429 covers that
    "datasets": 100.0,
    "annotation_queues": 100.0,
}
WINDOW_SECONDS = 60.0


@dataclass
class RateLimiter:
    """`acquire(family)` blocks until one more request fits in that family's window.

    A limit of 0 (or a family absent from `limits` when `default` is 0) means unlimited
    (self-hosted Langfuse has no limits).
    """

    limits: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    default: float = 30.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _sent: dict[str, deque[float]] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    waited: float = field(default=0.0, init=False)

    def limit(self, family: str) -> int:
        value = self.limits.get(family, self.default)
        return int(value) if value and value > 0 else 0

    def acquire(self, family: str) -> None:
        limit = self.limit(family)
        if limit <= 0:
            return
        with self._lock:
            sent = self._sent.setdefault(family, deque())
            while True:
                now = self.clock()
                while sent and now - sent[0] >= WINDOW_SECONDS:
                    sent.popleft()
                if len(sent) < limit:
                    sent.append(now)
                    return
                pause = WINDOW_SECONDS - (now - sent[0])
                self.waited += pause
                self.sleep(pause)


def parse_limits(raw: object) -> dict[str, float]:
    """`rate_limits = { general = 30, datasets = 100 }` merged over the defaults."""
    limits = dict(DEFAULT_LIMITS)
    if raw is None:
        return limits
    if not isinstance(raw, Mapping):
        raise TypeError("expected a table of endpoint family = requests per minute")
    for key, value in raw.items():
        if key not in DEFAULT_LIMITS:
            raise KeyError(f"unknown endpoint family {key!r}; known: {', '.join(sorted(DEFAULT_LIMITS))}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"{key}: expected requests per minute >= 0 (0 = unlimited)")
        limits[key] = float(value)
    return limits


__all__ = ["DEFAULT_LIMITS", "RateLimiter", "WINDOW_SECONDS", "parse_limits"]
