"""Rate limiting, retries, error mapping, credentials: the client seam of the Langfuse connector."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tracestrata.connectors.langfuse import create
from tracestrata.connectors.langfuse.client import retry_after
from tracestrata.connectors.langfuse.ratelimit import RateLimiter, parse_limits
from tracestrata.errors import AuthError, ConfigError, RetriableSourceError
from tracestrata.io.retry import RetryPolicy
from tracestrata.protocols import Window
from tracestrata.record import TraceRecord

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WINDOW = Window(START, START + timedelta(hours=1))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def seed(fake, n: int = 5) -> None:
    fake.add_traces(TraceRecord(id=f"{i:032x}", timestamp=START + timedelta(minutes=i)) for i in range(n))


# -- rate limiter --------------------------------------------------------------------------------


def test_limiter_allows_a_burst_then_spaces_to_the_limit() -> None:
    clock = Clock()
    limiter = RateLimiter(limits={"general": 3}, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        limiter.acquire("general")
    assert clock.sleeps == []
    clock.now += 10
    limiter.acquire("general")  # 4th inside the minute: wait until the 1st leaves the window
    assert clock.sleeps == [pytest.approx(50.0)]
    sent = []
    for _ in range(6):
        limiter.acquire("general")
        sent.append(clock.now)
    # never more than 3 in any 60 s
    assert all(b - a >= 60 - 1e-9 for a, b in zip(sent, sent[3:]))


def test_limiter_families_are_independent_and_zero_is_unlimited() -> None:
    clock = Clock()
    limiter = RateLimiter(limits={"general": 1, "datasets": 0}, clock=clock, sleep=clock.sleep)
    limiter.acquire("general")
    for _ in range(100):
        limiter.acquire("datasets")
    assert clock.sleeps == []
    limiter.acquire("general")
    assert clock.sleeps == [pytest.approx(60.0)]


def test_connector_requests_go_through_the_limiter(fake) -> None:
    seed(fake, 12)
    clock = Clock()
    limiter = RateLimiter(limits=parse_limits({"general": 2}), clock=clock, sleep=clock.sleep)
    conn = create({"page_size": 3}, env=fake.env(), limiter=limiter)
    assert len(list(conn.trace_source().iter_traces(WINDOW))) == 12
    assert clock.sleeps == [pytest.approx(60.0)]  # 4 pages at 2 per minute: one wait
    conn.close()


def test_default_limits_are_safe_for_the_hobby_plan() -> None:
    limits = parse_limits(None)
    assert limits["general"] <= 30 and limits["metrics"] <= 30
    assert limits["datasets"] <= 100 and limits["annotation_queues"] <= 100
    with pytest.raises(KeyError):
        parse_limits({"traces": 5})
    with pytest.raises(ValueError):
        parse_limits({"datasets": -1})


# -- retries ---------------------------------------------------------------------------------------


def test_429_retry_after_is_honoured(fake, connect, sleeps) -> None:
    seed(fake)
    fake.inject("429", path="/api/public/v2/observations", retry_after=7)
    assert len(list(connect().trace_source().iter_traces(WINDOW))) == 5
    assert len(sleeps) == 1 and sleeps[0] >= 7


def test_5xx_and_dropped_connections_are_retried(fake, connect, sleeps) -> None:
    seed(fake)
    fake.inject("502", path="/api/public/v2/observations")
    fake.inject("drop", path="/api/public/v2/observations")
    assert len(list(connect().trace_source().iter_traces(WINDOW))) == 5
    assert len(sleeps) == 2


def test_a_fault_mid_pagination_neither_loses_nor_repeats_a_page(fake, connect, sleeps) -> None:
    seed(fake, 10)
    fake.inject("drop", path="/api/public/v2/observations", skip=1)  # the second page's first try
    fake.inject("503", path="/api/public/v2/observations", skip=2)  # and the third's
    ids = [r.id for r in connect(page_size=3).trace_source().iter_traces(WINDOW)]
    assert sorted(ids) == [f"{i:032x}" for i in range(10)]
    cursors = [q.get("cursor", [None])[0] for m, p, q in fake.requests if p == "/api/public/v2/observations"]
    assert len(cursors) == 4 + 2 and cursors[1] == cursors[2] and cursors[3] == cursors[4]
    assert len(sleeps) == 2


def test_retry_budget_spent_raises_retriable(fake, connect, sleeps) -> None:
    seed(fake)
    fake.inject("503", path="/api/public/v2/observations", count=10)
    with pytest.raises(RetriableSourceError, match="HTTP 503"):
        list(connect(retry_policy=RetryPolicy(attempts=3, total_seconds=600)).trace_source().iter_traces(WINDOW))
    assert len(sleeps) == 2
    assert fake.count_requests("/api/public/v2/observations") == 3


def test_unreachable_server_is_retriable_and_names_the_url_variable() -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"LANGFUSE_BASE_URL": f"http://127.0.0.1:{port}", "LANGFUSE_PUBLIC_KEY": "pk", "LANGFUSE_SECRET_KEY": "sk"}
    sleeps: list[float] = []
    conn = create({}, env=env, retry_policy=RetryPolicy(attempts=2), sleep=sleeps.append)
    with pytest.raises(RetriableSourceError) as caught:
        list(conn.trace_source().iter_traces(WINDOW))
    assert f"127.0.0.1:{port}" in str(caught.value) and "LANGFUSE_BASE_URL" in str(caught.value)
    assert caught.value.exit_code == 4 and len(sleeps) == 1
    conn.close()


def test_retry_after_parsing() -> None:
    assert retry_after({"Retry-After": "3"}) == 3.0
    assert retry_after({"retry-after-ms": "1500"}) == 1.5
    assert retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert retry_after({}) is None


# -- credentials and auth --------------------------------------------------------------------------


def test_wrong_keys_are_an_auth_error_naming_the_variables(fake) -> None:
    env = {**fake.env(), "LANGFUSE_SECRET_KEY": "-".join(("wrong", "value", "123"))}
    conn = create({}, env=env)
    with pytest.raises(AuthError) as caught:
        list(conn.trace_source().iter_traces(WINDOW))
    message = str(caught.value)
    assert "LANGFUSE_PUBLIC_KEY" in message and "LANGFUSE_SECRET_KEY" in message and "LANGFUSE_BASE_URL" in message
    assert "-".join(("wrong", "value", "123")) not in message and fake.public_key not in message
    assert caught.value.exit_code == 3
    conn.close()


def test_missing_keys_fail_before_any_request(fake) -> None:
    env = {"LANGFUSE_BASE_URL": fake.url, "LANGFUSE_PUBLIC_KEY": "pk"}
    with pytest.raises(ConfigError, match="LANGFUSE_SECRET_KEY"):
        create({}, env=env)
    with pytest.raises(ConfigError, match="MY_PK and MY_SK"):
        create({"public_key_env": "MY_PK", "secret_key_env": "MY_SK"}, env={})
    assert fake.requests == []


def test_custom_variable_names_are_read_and_named(fake) -> None:
    env = {"TEAM_LF_URL": fake.url, "TEAM_PK": fake.public_key, "TEAM_SK": "nope"}
    conn = create({"public_key_env": "TEAM_PK", "secret_key_env": "TEAM_SK", "base_url_env": "TEAM_LF_URL"}, env=env)
    with pytest.raises(AuthError, match="TEAM_PK, TEAM_SK and TEAM_LF_URL"):
        list(conn.trace_source().iter_traces(WINDOW))
    conn.close()


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"pagesize": 10}, "source.pagesize"),
        ({"page_size": 5000}, "source.page_size"),
        ({"fields": "basic,io"}, "source.fields"),
        ({"include_bodies": "yes"}, "source.include_bodies"),
        ({"rate_limits": {"traces": 1}}, "source.rate_limits"),
        ({"score_config_type": "TEXT"}, "source.score_config_type"),
        ({"score_config_type": "CATEGORICAL"}, "source.score_config_type"),
        ({"base_url": "ftp://x"}, "source.base_url"),
    ],
)
def test_bad_options_name_the_key(options, field) -> None:
    env = {"LANGFUSE_PUBLIC_KEY": "pk", "LANGFUSE_SECRET_KEY": "sk"}
    with pytest.raises(ConfigError) as caught:
        create(options, env=env)
    assert caught.value.field == field
    assert "\n" not in str(caught.value)


def test_credentials_never_in_repr(fake) -> None:
    conn = create({}, env=fake.env())
    assert fake.secret_key not in repr(conn.options)
    conn.close()


def test_every_option_and_rate_limit_family_is_documented() -> None:
    from pathlib import Path

    from tracestrata.connectors.langfuse.ratelimit import DEFAULT_LIMITS
    from tracestrata.connectors.langfuse.settings import KNOWN_KEYS

    text = (Path(__file__).resolve().parents[3] / "docs" / "langfuse.md").read_text()
    block = text.split("```toml", 1)[1].split("```", 1)[0]
    documented = set()
    for line in block.splitlines():
        line = line.strip().removeprefix("# ").split(" #", 1)[0].strip()
        if line.startswith("["):
            documented.add(line.strip("[]").rsplit(".", 1)[-1])
        elif "=" in line:
            documented.add(line.split("=", 1)[0].strip())
    assert KNOWN_KEYS - documented == set()
    assert set(DEFAULT_LIMITS) - documented == set()
