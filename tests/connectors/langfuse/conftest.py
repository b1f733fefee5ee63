import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

TESTS = str(Path(__file__).resolve().parents[2])
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from fixtures.langfuse_fake import LangfuseFake, langfuse_fake_server  # noqa: E402

from tracestrata.connectors.langfuse import LangfuseConnector, create  # noqa: E402
from tracestrata.connectors.langfuse.ratelimit import DEFAULT_LIMITS  # noqa: E402
from tracestrata.io.retry import RetryPolicy  # noqa: E402

UNLIMITED = {family: 0 for family in DEFAULT_LIMITS}


@pytest.fixture
def fake() -> Iterator[LangfuseFake]:
    """A fresh fake per test; any contract violation fails the test."""
    yield from langfuse_fake_server()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def connect(fake: LangfuseFake, sleeps: list[float]) -> Iterator[Callable[..., LangfuseConnector]]:
    """`connect(**options)`: a connector on the fake that records its sleeps instead of sleeping."""
    made: list[LangfuseConnector] = []

    def make(**options: Any) -> LangfuseConnector:
        policy = options.pop("retry_policy", RetryPolicy(attempts=4, total_seconds=600, jitter_seed=0))
        options.setdefault("rate_limits", UNLIMITED)
        conn = create(options, env=fake.env(), retry_policy=policy, sleep=sleeps.append)
        made.append(conn)
        return conn

    yield make
    for conn in made:
        conn.close()
