"""The shared connector contract suite against a real Langfuse project.

Runs only when `LANGFUSE_BASE_URL` (or `LANGFUSE_HOST`), `LANGFUSE_PUBLIC_KEY` and
`LANGFUSE_SECRET_KEY` are set; otherwise every test is skipped with that reason (and
`pytest -ra` lists it). Use a throwaway project: the suite creates traces, scores and
datasets with fresh names. With `TRACESTRATA_RECORD_CASSETTES=DIR` each test's HTTP
traffic is recorded to `DIR/<test>.yaml` by vcrpy, auth headers scrubbed
(`scripts/record_langfuse_cassettes.py` sets this up).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CONTRACT = str(Path(__file__).resolve().parents[2] / "contract")
if CONTRACT not in sys.path:
    sys.path.insert(0, CONTRACT)

from harness_langfuse import make_live_harness  # noqa: E402
from test_contract import (  # noqa: E402,F401  (collected here, run against the live harness)
    test_connector_shape,
    test_every_trace_in_window_exactly_once_half_open,
    test_scores_round_trip_with_their_types,
    test_sink_resumes_after_a_crash,
    test_sink_upserts_by_item_id,
)

pytestmark = pytest.mark.live

SCRUBBED_HEADERS = ["authorization", "x-langfuse-public-key", "cookie", "set-cookie"]


def cassette(name: str) -> contextlib.AbstractContextManager[Any]:
    folder = os.environ.get("TRACESTRATA_RECORD_CASSETTES")
    if not folder:
        return contextlib.nullcontext()
    import vcr

    def scrub_response(response: dict[str, Any]) -> dict[str, Any]:
        headers = response.get("headers", {})
        for key in list(headers):
            if key.lower() in SCRUBBED_HEADERS:
                del headers[key]
        return response

    recorder = vcr.VCR(
        cassette_library_dir=folder,
        record_mode="all",
        filter_headers=SCRUBBED_HEADERS,
        before_record_response=scrub_response,
        decode_compressed_response=True,
    )
    return recorder.use_cassette(f"{name}.yaml")


@pytest.fixture
def harness(request: pytest.FixtureRequest) -> Iterator[Any]:
    made = make_live_harness()  # skips with the missing variables' names
    try:
        with cassette(request.node.name):
            yield made
    finally:
        made.close()
