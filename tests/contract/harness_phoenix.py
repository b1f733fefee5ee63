"""Contract harness for the Phoenix connector: a real Phoenix on 127.0.0.1, one fresh project per harness."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

TESTS = str(Path(__file__).resolve().parents[1])
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from fixtures.phoenix_server import shared_server  # noqa: E402

from tracestrata.connectors.phoenix import create  # noqa: E402
from tracestrata.demo.phoenix_server import seed_records, seed_scores  # noqa: E402
from tracestrata.protocols import Connector  # noqa: E402
from tracestrata.record import Score, TraceRecord  # noqa: E402


class PhoenixHarness:
    name = "phoenix"

    def __init__(self) -> None:
        self.server = shared_server()
        self.project = f"contract-{uuid.uuid4().hex[:10]}"

    def connector(self) -> Connector:
        return create({"base_url": self.server.base_url, "project": self.project, "retry_initial": 0.05})

    def seed_traces(self, records: Sequence[TraceRecord]) -> None:
        seed_records(self.server.base_url, self.project, records, headers=self.server.headers())

    def seed_scores(self, scores: Sequence[Score]) -> None:
        seed_scores(self.server.base_url, scores, headers=self.server.headers())

    def window_options(self) -> Mapping[str, Any]:
        return {}

    def close(self) -> None:
        """Projects stay on the shared server (it is thrown away with the test process)."""


def make_harness() -> PhoenixHarness:
    return PhoenixHarness()
