"""The live harness itself, pointed at the fake: its OTLP/JSON traces and score writes must be
contract-valid and round-trip, so that the live suite fails only for real reasons.

What cannot be checked here is how a real server maps the OpenTelemetry attributes
(`langfuse.trace.name`, `langfuse.trace.metadata.*`, ...) to observations: the fake
implements the mapping as documented by Langfuse, which is an assumption.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CONTRACT = str(Path(__file__).resolve().parents[2] / "contract")
if CONTRACT not in sys.path:
    sys.path.insert(0, CONTRACT)

from harness_langfuse import LangfuseLiveHarness  # noqa: E402
from test_contract import (  # noqa: E402,F401
    test_every_trace_in_window_exactly_once_half_open,
    test_scores_round_trip_with_their_types,
    test_sink_resumes_after_a_crash,
)


@pytest.fixture
def harness(fake, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)
    made = LangfuseLiveHarness()
    made.settle_seconds = made.poll_seconds = 0.0
    try:
        yield made
    finally:
        made.close()
