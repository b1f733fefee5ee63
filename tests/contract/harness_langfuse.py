"""Contract harness for the Langfuse connector.

`make_harness()` runs the shared suite against the contract-validated fake server on
127.0.0.1 (always). `make_live_harness()` runs it against a real Langfuse project when
`LANGFUSE_BASE_URL` (or `LANGFUSE_HOST`), `LANGFUSE_PUBLIC_KEY` and
`LANGFUSE_SECRET_KEY` are set; `tests/connectors/langfuse/test_langfuse_live.py` uses
it and skips with the reason otherwise. The live harness seeds traces through the
OpenTelemetry endpoint (the legacy ingestion API is gone on Cloud) and scores through
`POST /api/public/scores`, then waits until the observations API returns them.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

TESTS = str(Path(__file__).resolve().parents[1])
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from fixtures.langfuse_fake import LangfuseFake  # noqa: E402

from tracestrata.connectors.langfuse import LangfuseConnector, create  # noqa: E402
from tracestrata.connectors.langfuse.ratelimit import DEFAULT_LIMITS  # noqa: E402
from tracestrata.protocols import Window  # noqa: E402
from tracestrata.record import Score, TraceRecord  # noqa: E402

UNLIMITED = {family: 0 for family in DEFAULT_LIMITS}
_SECOND = timedelta(seconds=1)


class LangfuseFakeHarness:
    name = "langfuse"

    def __init__(self) -> None:
        self.fake = LangfuseFake().start()
        self.root = Path(tempfile.mkdtemp(prefix="tracestrata-contract-langfuse-"))

    def connector(self) -> LangfuseConnector:
        options = {"rate_limits": UNLIMITED, "queue_journal_path": str(self.root / "queue-journal.jsonl"), **self.window_options()}
        return create(options, env=self.fake.env())

    def seed_traces(self, records: Sequence[TraceRecord]) -> None:
        self.fake.add_traces(records, children=1)  # a child span per trace: only roots may come back

    def seed_scores(self, scores: Sequence[Score]) -> None:
        self.fake.add_scores(scores)

    def window_options(self) -> Mapping[str, Any]:
        return {}

    def close(self) -> None:
        self.fake.stop()
        shutil.rmtree(self.root, ignore_errors=True)
        if self.fake.violations:
            raise AssertionError("Langfuse contract violations:\n" + "\n".join(self.fake.violations[:20]))


def make_harness() -> LangfuseFakeHarness:
    return LangfuseFakeHarness()


LIVE_ENV = ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY")


def live_missing() -> list[str]:
    missing = [name for name in LIVE_ENV if not os.environ.get(name)]
    if not (os.environ.get("LANGFUSE_BASE_URL") or os.environ.get("LANGFUSE_HOST")):
        missing.insert(0, "LANGFUSE_BASE_URL")
    return missing


class LangfuseLiveHarness:
    """A real Langfuse project; every run uses fresh ids, dataset names and a tag."""

    name = "langfuse-live"
    settle_seconds = 10.0  # scores reach ClickHouse asynchronously
    poll_seconds = 3.0

    def __init__(self) -> None:
        import httpx

        self.base_url = (os.environ.get("LANGFUSE_BASE_URL") or os.environ["LANGFUSE_HOST"]).rstrip("/")
        auth = (os.environ["LANGFUSE_PUBLIC_KEY"], os.environ["LANGFUSE_SECRET_KEY"])
        self.http = httpx.Client(base_url=self.base_url, auth=auth, timeout=30)
        self.root = Path(tempfile.mkdtemp(prefix="tracestrata-live-langfuse-"))

    def connector(self) -> LangfuseConnector:
        return create({"queue_journal_path": str(self.root / "queue-journal.jsonl"), **self.window_options()})

    def seed_traces(self, records: Sequence[TraceRecord]) -> None:
        spans = [_otel_span(r) for r in records]
        payload = {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"scope": {"name": "tracestrata-live-test"}, "spans": spans}]}]}
        response = self.http.post(
            "/api/public/otel/v1/traces", json=payload, headers={"x-langfuse-ingestion-version": "4"}
        )
        response.raise_for_status()
        self._wait_for(records)

    def _wait_for(self, records: Sequence[TraceRecord], timeout: float = 180.0) -> None:
        wanted = {r.id for r in records}
        start = min(r.timestamp for r in records)
        end = max(r.timestamp for r in records)
        window = Window(start, end + (end - start) / 1000 + _SECOND)
        deadline = time.monotonic() + timeout
        while True:
            conn = self.connector()
            try:
                seen = {r.id for r in conn.trace_source().iter_traces(window)}
            finally:
                conn.close()
            if wanted <= seen or time.monotonic() > deadline:
                return
            time.sleep(self.poll_seconds)

    def seed_scores(self, scores: Sequence[Score]) -> None:
        for score in scores:
            data_type = "BOOLEAN" if isinstance(score.value, bool) else "NUMERIC" if isinstance(score.value, float) else "CATEGORICAL"
            value: Any = float(score.value) if data_type != "CATEGORICAL" else score.value  # booleans as 1.0/0.0
            self.http.post(
                "/api/public/scores",
                json={"traceId": score.trace_id, "name": score.name, "value": value, "dataType": data_type},
            ).raise_for_status()
        time.sleep(self.settle_seconds)

    def window_options(self) -> Mapping[str, Any]:
        return {}  # the default rate limits: safe even on a Hobby project

    def close(self) -> None:
        self.http.close()
        shutil.rmtree(self.root, ignore_errors=True)


def make_live_harness() -> LangfuseLiveHarness:
    missing = live_missing()
    if missing:
        pytest.skip(f"live Langfuse contract suite skipped: set {', '.join(missing)} to run it against a real project")
    return LangfuseLiveHarness()



def _otel_span(record: TraceRecord) -> dict[str, Any]:
    def attr(key: str, value: Any) -> dict[str, Any]:
        # The contract's OtelAttributeValue has string/int/double/bool only: lists go as JSON text.
        if isinstance(value, (list, tuple)):
            return {"key": key, "value": {"stringValue": json.dumps(list(value))}}
        return {"key": key, "value": {"stringValue": str(value)}}

    start_ns = int(record.timestamp.timestamp() * 1e9)
    end_ns = start_ns + int((record.latency_ms or 1.0) * 1e6)
    attributes = [attr("langfuse.trace.name", record.name or "trace"), attr("langfuse.trace.tags", record.tags)]
    attributes += [attr(f"langfuse.trace.metadata.{k}", v) for k, v in record.metadata.items()]
    if record.status == "error":
        attributes.append(attr("langfuse.observation.level", "ERROR"))
    for key, value in (("langfuse.release", record.release), ("langfuse.version", record.version),
                       ("user.id", record.user_id), ("session.id", record.session_id)):
        if value:
            attributes.append(attr(key, value))
    return {
        "traceId": record.id[-32:].rjust(32, "0"),
        "spanId": record.span_id or secrets.token_hex(8),
        "name": record.name or "trace",
        "kind": 1,
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(end_ns),
        "attributes": attributes,
        "status": {"code": 2 if record.status == "error" else 1},
    }
