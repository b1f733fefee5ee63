"""Property: for any traces, page size and window, the pull returns exactly the traces whose
start is in [start, end), each once (hypothesis against the fake, one server for all examples)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fixtures.langfuse_fake import LangfuseFake  # tests/ is on sys.path (conftest)
from hypothesis import given, settings
from hypothesis import strategies as st

from tracestrata.connectors.langfuse import create
from tracestrata.connectors.langfuse.ratelimit import DEFAULT_LIMITS
from tracestrata.protocols import Window
from tracestrata.record import TraceRecord

UNLIMITED = {family: 0 for family in DEFAULT_LIMITS}

T0 = datetime(2026, 5, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def server() -> Iterator[LangfuseFake]:
    fake = LangfuseFake().start()
    yield fake
    fake.stop()
    assert not fake.violations, "\n".join(fake.violations[:20])


@settings(max_examples=30, deadline=None)
@given(
    offsets=st.lists(st.integers(0, 600), max_size=60),  # seconds after T0; duplicates = same start time
    page_size=st.integers(1, 25),
    bounds=st.tuples(st.integers(0, 600), st.integers(1, 600)),
)
def test_pull_is_exactly_the_half_open_window(server: LangfuseFake, offsets, page_size, bounds) -> None:
    start = T0 + timedelta(seconds=bounds[0])
    window = Window(start, start + timedelta(seconds=bounds[1]))
    records = [TraceRecord(id=f"{i:032x}", timestamp=T0 + timedelta(seconds=s)) for i, s in enumerate(offsets)]
    server.clear_traces()
    server.add_traces(records, children=1)
    conn = create({"page_size": page_size, "rate_limits": UNLIMITED}, env=server.env())
    try:
        got = [r.id for r in conn.trace_source().iter_traces(window)]
    finally:
        conn.close()
    assert len(got) == len(set(got))
    assert set(got) == {r.id for r in records if window.contains(r.timestamp)}
