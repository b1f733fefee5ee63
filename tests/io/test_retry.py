from __future__ import annotations

import pytest

from tracestrata.errors import AuthError, FatalSourceError, RetriableSourceError
from tracestrata.io.retry import NO_RETRY, RetryPolicy, retry, retrying


class Flaky:
    def __init__(self, failures: list[BaseException], result: str = "ok") -> None:
        self.failures = list(failures)
        self.calls = 0
        self.result = result

    def __call__(self, *args: object, **kwargs: object) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return self.result


def test_retries_then_succeeds_with_growing_backoff() -> None:
    sleeps: list[float] = []
    fn = Flaky([RetriableSourceError("503"), RetriableSourceError("503"), RetriableSourceError("503")])
    policy = RetryPolicy(attempts=5, initial=1.0, multiplier=2.0, jitter=0.0)
    assert retrying(fn, policy=policy, sleep=sleeps.append) == "ok"
    assert fn.calls == 4
    assert sleeps == [1.0, 2.0, 4.0]


def test_jitter_stays_in_range_and_is_reproducible_with_seed() -> None:
    def run() -> list[float]:
        sleeps: list[float] = []
        fn = Flaky([RetriableSourceError("x")] * 4)
        retrying(fn, policy=RetryPolicy(attempts=5, initial=1.0, jitter=0.5, jitter_seed=7), sleep=sleeps.append)
        return sleeps

    first = run()
    assert first == run()
    for n, wait in enumerate(first):
        base = 2.0**n
        assert base * 0.5 <= wait <= base


def test_max_wait_caps_backoff() -> None:
    sleeps: list[float] = []
    fn = Flaky([RetriableSourceError("x")] * 5)
    retrying(fn, policy=RetryPolicy(attempts=6, initial=1, max_wait=3, jitter=0, total_seconds=100), sleep=sleeps.append)
    assert sleeps == [1, 2, 3, 3, 3]


def test_retry_after_is_honoured() -> None:
    sleeps: list[float] = []
    fn = Flaky([RetriableSourceError("429", retry_after=7.0)])
    retrying(fn, policy=RetryPolicy(initial=0.1, jitter=0, total_seconds=30), sleep=sleeps.append)
    assert len(sleeps) == 1 and sleeps[0] >= 7.0


def test_retry_after_beyond_budget_gives_up_at_once() -> None:
    sleeps: list[float] = []
    err = RetriableSourceError("429", retry_after=120.0)
    fn = Flaky([err, RetriableSourceError("never")])
    with pytest.raises(RetriableSourceError) as info:
        retrying(fn, policy=RetryPolicy(total_seconds=10), sleep=sleeps.append)
    assert info.value is err
    assert sleeps == [] and fn.calls == 1


def test_attempt_budget_reraises_last_error() -> None:
    errors = [RetriableSourceError(f"fail {i}") for i in range(5)]
    fn = Flaky(errors)
    with pytest.raises(RetriableSourceError) as info:
        retrying(fn, policy=RetryPolicy(attempts=3, jitter=0), sleep=lambda s: None)
    assert info.value is errors[2]
    assert fn.calls == 3


def test_seconds_budget_counts_fake_sleeps() -> None:
    fn = Flaky([RetriableSourceError("x")] * 50)
    sleeps: list[float] = []
    with pytest.raises(RetriableSourceError):
        retrying(fn, policy=RetryPolicy(attempts=50, initial=1, multiplier=1, jitter=0, total_seconds=5), sleep=sleeps.append)
    assert sum(sleeps) <= 5
    assert fn.calls == 6


@pytest.mark.parametrize("exc", [FatalSourceError("404 unknown project"), AuthError("401"), ValueError("bug")])
def test_non_retriable_errors_propagate_immediately(exc: Exception) -> None:
    fn = Flaky([exc])
    with pytest.raises(type(exc)):
        retrying(fn, sleep=lambda s: None)
    assert fn.calls == 1


def test_builtin_timeouts_and_dropped_connections_are_retriable() -> None:
    fn = Flaky([TimeoutError("read"), ConnectionResetError("reset")])
    assert retrying(fn, sleep=lambda s: None) == "ok"
    fn = Flaky([ConnectionResetError("reset")] * 3)
    with pytest.raises(RetriableSourceError, match="connection dropped"):
        retrying(fn, policy=RetryPolicy(attempts=2), sleep=lambda s: None)


def test_no_retry_policy_and_on_retry_hook() -> None:
    fn = Flaky([RetriableSourceError("x")])
    with pytest.raises(RetriableSourceError):
        retrying(fn, policy=NO_RETRY, sleep=lambda s: None)
    seen: list[tuple[str, int, float]] = []
    fn = Flaky([RetriableSourceError("a"), RetriableSourceError("b")])
    retrying(fn, policy=RetryPolicy(jitter=0, initial=1), sleep=lambda s: None, on_retry=lambda e, n, s: seen.append((e.message, n, s)))
    assert seen == [("a", 1, 1.0), ("b", 2, 2.0)]


def test_decorator_passes_arguments() -> None:
    calls: list[tuple[int, int]] = []

    @retry(RetryPolicy(jitter=0), sleep=lambda s: None)
    def add(a: int, *, b: int) -> int:
        calls.append((a, b))
        if len(calls) < 2:
            raise RetriableSourceError("502")
        return a + b

    assert add(2, b=3) == 5
    assert calls == [(2, 3), (2, 3)]


def test_policy_validation() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(jitter=2)


def test_nested_retrying_does_not_multiply_budgets() -> None:
    fn = Flaky([RetriableSourceError("503")] * 100)
    inner = RetryPolicy(attempts=3, jitter=0)

    def connector_call() -> str:
        return retrying(fn, policy=inner, sleep=lambda s: None)

    with pytest.raises(RetriableSourceError) as info:
        retrying(connector_call, policy=RetryPolicy(attempts=5), sleep=lambda s: None)
    assert fn.calls == 3
    assert getattr(info.value, "exhausted", False)


def test_governing_policy_replaces_a_callers_own_and_reports_each_retry() -> None:
    from tracestrata.io.retry import governing

    seen: list[tuple[str, int, float]] = []
    sleeps: list[float] = []
    fn = Flaky([RetriableSourceError("502")] * 10)
    run_policy = RetryPolicy(attempts=4, initial=0.5, jitter=0, total_seconds=100)
    with governing(run_policy, on_retry=lambda e, n, w: seen.append((str(e), n, w)), sleep=sleeps.append):
        with pytest.raises(RetriableSourceError):
            retrying(fn, policy=RetryPolicy(attempts=2))  # a connector's own default
    assert fn.calls == 4 and sleeps == [0.5, 1.0, 2.0]
    assert seen == [("502", 1, 0.5), ("502", 2, 1.0), ("502", 3, 2.0)]
    fn = Flaky([RetriableSourceError("502")] * 10)
    with pytest.raises(RetriableSourceError):
        retrying(fn, policy=RetryPolicy(attempts=2), sleep=sleeps.append)  # outside: the caller's own again
    assert fn.calls == 2
