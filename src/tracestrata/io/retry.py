"""Retrying transient backend failures: exponential backoff with jitter, under a budget.

Connectors classify every backend failure into `FatalSourceError`/`AuthError` (never
retried) or `RetriableSourceError` (429, 5xx, timeouts, dropped connections). This
module retries only the latter, and only within a budget of attempts *and* seconds,
so a scheduled run ends in bounded time. When the budget is spent the last
`RetriableSourceError` is re-raised unchanged; `tracestrata sync` turns it into a
clean stop with exit code 4 ("partial") and the next run continues.

Nested retrying does not multiply budgets: an error re-raised after a budget is
spent is marked `exhausted`, and an outer `retrying` passes it on at once.

A 429's `Retry-After` (carried as `RetriableSourceError.retry_after`) is honoured:
we wait at least that long. If the server asks for more than the budget has left we
give up at once rather than sleep into a retry we are not allowed to make.

    from tracestrata.io.retry import RetryPolicy, retrying, retry

    page = retrying(client.get_page, cursor, policy=RetryPolicy(attempts=4))

    @retry(RetryPolicy(attempts=4))
    def get_page(cursor): ...

One policy per run: inside `with governing(policy, on_retry=..., sleep=...)` every
`retrying` call, a connector's per-request retries included, uses that policy instead
of its own (and reports each retry to `on_retry` unless the caller passes its own).
`tracestrata sync` and `plan --config` run the connector inside their config's
`[retry]` this way, so a connector's own defaults apply only to library use.

Tests pass `sleep=` (a no-op or a recorder) so nothing waits for real.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import tenacity

from tracestrata.errors import RetriableSourceError

P = ParamSpec("P")
T = TypeVar("T")

SleepFn = Callable[[float], None]
OnRetry = Callable[[RetriableSourceError, int, float], None]
"""Called before each sleep with (the error, the attempt that failed (1-based), seconds to wait)."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try. `attempts` counts the first call; `total_seconds` bounds the waiting.

    The n-th wait (n = 1, 2, ...) is `min(max_wait, initial * multiplier ** (n - 1))`,
    scaled by a factor drawn uniformly from `[1 - jitter, 1]` so that many clients
    hitting the same 429 do not retry in lockstep. `jitter_seed` makes the jitter
    reproducible (it uses its own generator, never the global one).
    """

    attempts: int = 5
    total_seconds: float = 60.0
    initial: float = 0.5
    multiplier: float = 2.0
    max_wait: float = 20.0
    jitter: float = 0.5
    jitter_seed: int | None = None

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be >= 1")
        if self.total_seconds < 0 or self.initial < 0 or self.max_wait < 0:
            raise ValueError("total_seconds, initial and max_wait must be >= 0")
        if self.multiplier < 1:
            raise ValueError("multiplier must be >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be in [0, 1]")

    def backoff(self, failed_attempt: int, rng: random.Random) -> float:
        """Seconds to wait after attempt number `failed_attempt` failed (no Retry-After)."""
        base = min(self.max_wait, self.initial * self.multiplier ** (failed_attempt - 1))
        return base * (1.0 - self.jitter * rng.random())


DEFAULT_RETRY = RetryPolicy()
NO_RETRY = RetryPolicy(attempts=1, total_seconds=0.0)


@dataclass(frozen=True, slots=True)
class _Governing:
    policy: RetryPolicy
    on_retry: OnRetry | None
    sleep: SleepFn | None


_GOVERNING: ContextVar[_Governing | None] = ContextVar("tracestrata_retry_policy", default=None)


@contextmanager
def governing(policy: RetryPolicy, *, on_retry: OnRetry | None = None, sleep: SleepFn | None = None) -> Iterator[None]:
    """Within the block, every `retrying` call uses `policy` (see the module docstring)."""
    token = _GOVERNING.set(_Governing(policy, on_retry, sleep))
    try:
        yield
    finally:
        _GOVERNING.reset(token)


class _Budget:
    """Tenacity wait + stop strategies sharing one view of the budget.

    Elapsed time is the larger of the wall clock and the sum of the sleeps we asked
    for, so a test's fake `sleep` still spends the budget.
    """

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.rng = random.Random(policy.jitter_seed)

    def _elapsed(self, state: tenacity.RetryCallState) -> float:
        return max(state.seconds_since_start or 0.0, state.idle_for)

    def wait(self, state: tenacity.RetryCallState) -> float:
        exc = _exception(state)
        backoff = self.policy.backoff(state.attempt_number, self.rng)
        if exc is not None and exc.retry_after is not None and exc.retry_after >= 0:
            # At least what the server asked for, plus a little jitter against lockstep.
            return float(exc.retry_after) + 0.1 * backoff
        return backoff

    def stop(self, state: tenacity.RetryCallState) -> bool:
        if state.attempt_number >= self.policy.attempts:
            return True
        return self._elapsed(state) + state.upcoming_sleep > self.policy.total_seconds


def _exception(state: tenacity.RetryCallState) -> RetriableSourceError | None:
    if state.outcome is None or not state.outcome.failed:
        return None
    exc = state.outcome.exception()
    return exc if isinstance(exc, RetriableSourceError) else None


def _classify(fn: Callable[P, T]) -> Callable[P, T]:
    """Builtin timeouts and dropped connections become `RetriableSourceError`."""

    @functools.wraps(fn)
    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except RetriableSourceError:
            raise
        except TimeoutError as exc:
            raise RetriableSourceError(f"timed out: {exc}") from exc
        except ConnectionError as exc:
            raise RetriableSourceError(f"connection dropped: {type(exc).__name__}") from exc

    return call


def retrying(
    fn: Callable[..., T],
    /,
    *args: Any,
    policy: RetryPolicy = DEFAULT_RETRY,
    sleep: SleepFn | None = None,
    on_retry: OnRetry | None = None,
    **kwargs: Any,
) -> T:
    """Call `fn(*args, **kwargs)`, retrying `RetriableSourceError` within `policy`'s budget.

    Every other exception propagates at once. When the budget is spent the last
    `RetriableSourceError` is re-raised. Inside `governing(...)` its policy replaces
    `policy`, and its `on_retry` and `sleep` fill in those not given.
    """
    run = _GOVERNING.get()
    if run is not None:
        policy = run.policy
        on_retry = on_retry if on_retry is not None else run.on_retry
        sleep = sleep if sleep is not None else run.sleep
    budget = _Budget(policy)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = _exception(state)
        if on_retry is not None and exc is not None:
            on_retry(exc, state.attempt_number, state.upcoming_sleep)

    retryer = tenacity.Retrying(
        retry=tenacity.retry_if_exception(_retriable),
        wait=budget.wait,
        stop=budget.stop,
        sleep=sleep if sleep is not None else time.sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        return retryer(_classify(fn), *args, **kwargs)
    except RetriableSourceError as exc:
        exc.exhausted = True  # type: ignore[attr-defined]
        raise


def _retriable(exc: BaseException) -> bool:
    # An error that already spent an inner budget (a connector retrying each request)
    # is not retried again by an outer `retrying` (the sync job): budgets never multiply.
    return isinstance(exc, RetriableSourceError) and not getattr(exc, "exhausted", False)


def retry(
    policy: RetryPolicy = DEFAULT_RETRY,
    *,
    sleep: SleepFn | None = None,
    on_retry: OnRetry | None = None,
) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Decorator form of `retrying`."""

    def decorate(fn: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(fn)
        def call(*args: P.args, **kwargs: P.kwargs) -> T:
            return retrying(fn, *args, policy=policy, sleep=sleep, on_retry=on_retry, **kwargs)

        return call

    return decorate


__all__ = ["DEFAULT_RETRY", "NO_RETRY", "OnRetry", "RetryPolicy", "SleepFn", "governing", "retry", "retrying"]
