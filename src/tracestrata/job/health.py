"""How the scheduled job is doing across runs: consecutive failures, last success, oldest pending window.

A run that stops on retries exhausted is *partial* (exit 4): the next run continues,
and one such run needs no action. The same failure on run after run, or a backend
that cannot be reached at all, is a job that is *failing* (exit 6): it makes no
progress and a person must look. The state keeps the count, so the one line can
say how long it has been failing and how old the oldest window still to do is.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from tracestrata.errors import StateError
from tracestrata.record import format_timestamp, parse_timestamp
from tracestrata.redaction import redact

HEALTH_CURSOR = "health"


@dataclass(frozen=True)
class Health:
    failures: int = 0  # consecutive runs that stopped early
    failing_since: str | None = None  # when the first of them ran
    last_success: str | None = None  # the last run that finished everything due
    last_error: str | None = None

    def after(self, *, now: datetime, error: str | None) -> Health:
        """The health once a run at `now` ended with `error` (None: it finished)."""
        stamp = format_timestamp(now)
        if error is None:
            return Health(last_success=stamp)
        return Health(
            failures=self.failures + 1,
            failing_since=self.failing_since or stamp,
            last_success=self.last_success,
            last_error=redact(error),  # stored: no credential a backend echoed may land in the state
        )

    def to_text(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_text(cls, text: str | None) -> Health:
        """The health stored in the `cursors` table; a value edited into nonsense is one `StateError`."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
            health = cls(**{k: data.get(k) for k in ("failures", "failing_since", "last_success", "last_error")})
            if isinstance(health.failures, bool) or not isinstance(health.failures, int) or health.failures < 0:
                raise TypeError("failures")
            for stamp in (health.failing_since, health.last_success):
                if stamp is not None:
                    parse_timestamp(stamp)
            if health.last_error is not None and not isinstance(health.last_error, str):
                raise TypeError("last_error")
        except (ValueError, TypeError, AttributeError, RecursionError):
            raise StateError(
                f"damaged row in table 'cursors' (name {HEALTH_CURSOR!r}): value is not the job's health "
                f"(got {text[:40]!r}); delete that row (the next run writes it again)"
            ) from None
        return health

    def since_success(self, now: datetime) -> timedelta | None:
        return None if self.last_success is None else now - parse_timestamp(self.last_success)


def human_age(age: timedelta) -> str:
    """`3d 4h`, `2h 5m`, `40s`: an age a person reads at a glance."""
    seconds = max(0, int(age.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m"
    return f"{seconds}s"


__all__ = ["HEALTH_CURSOR", "Health", "human_age"]
