"""Re-record the Phoenix cassettes from a real server (never hand-written).

    .venv/bin/python scripts/record_phoenix_cassettes.py

Starts a Phoenix with auth on 127.0.0.1 in a temp dir, seeds a few synthetic traces
and scores, and records the connector's own HTTP traffic with vcrpy into
`cassettes/phoenix/*.yaml`, plus `expected.json` (the seeded records and scores)
that the offline tests compare against. Authorization headers and cookies are
scrubbed before anything is written; the recorded host is rewritten to
127.0.0.1:6006 so replay does not depend on the port the server happened to get.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import vcr

from tracestrata.connectors.phoenix import create
from tracestrata.demo.phoenix_server import (
    seed_records,
    seed_scores,
    start_server,
)
from tracestrata.errors import AuthError, FatalSourceError
from tracestrata.protocols import Window
from tracestrata.record import Score
from tracestrata.synthetic import generate_traces

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "cassettes" / "phoenix"
PROJECT = "cassette"
START = datetime(2026, 1, 5, tzinfo=UTC)
WINDOW = Window(START, START + timedelta(hours=6))
KEY_ENV = "TRACESTRATA_CASSETTE_PHOENIX_KEY"
REPLAY_BASE = "http://127.0.0.1:6006"


def _scrub_request(request):  # type: ignore[no-untyped-def]
    request.headers.pop("Authorization", None)
    request.headers.pop("authorization", None)
    request.uri = _rebase(request.uri)
    return request


def _scrub_response(response):  # type: ignore[no-untyped-def]
    headers = response.get("headers", {})
    for name in list(headers):
        if name.lower() in ("set-cookie", "authorization", "date", "server"):
            headers.pop(name)
    return response


_BASE = {"url": ""}


def _rebase(uri: str) -> str:
    return uri.replace(_BASE["url"], REPLAY_BASE) if _BASE["url"] else uri


def _failed_pull(recorder: vcr.VCR, cassette: str, options: dict[str, object], error: type[Exception]) -> str:
    """Record a pull that must fail with `error`: its message."""
    with recorder.use_cassette(cassette), create(options) as conn:
        try:
            list(conn.trace_source().iter_traces(WINDOW))
        except error as exc:
            return str(exc)
    raise SystemExit(f"{cassette}: the pull did not fail with {error.__name__}")


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="tracestrata-cassettes-"))
    server = start_server(workdir, auth=True, progress=lambda m: print(m, file=sys.stderr))
    _BASE["url"] = server.base_url
    try:
        records = list(generate_traces(40, start=WINDOW.start, end=WINDOW.end, seed=5))
        outside = list(generate_traces(5, start=WINDOW.end, end=WINDOW.end + timedelta(hours=1), seed=6))
        seed_records(server.base_url, PROJECT, records + outside, headers=server.headers())
        scores = [Score(records[0].id, "correct", True), Score(records[1].id, "correct", False),
                  Score(records[0].id, "quality", 4.25), Score(records[2].id, "verdict", "minor"),
                  Score(records[2].id, "quality", 2.0, identifier="judge-b")]
        seed_scores(server.base_url, scores, headers=server.headers())

        os.environ[KEY_ENV] = server.api_key or ""
        recorder = vcr.VCR(
            cassette_library_dir=str(OUT),
            record_mode="all",
            match_on=["method", "path", "query"],
            filter_headers=["authorization", "cookie", "host"],
            before_record_request=_scrub_request,
            before_record_response=_scrub_response,
            decode_compressed_response=True,
        )
        options = {"base_url": server.base_url, "project": PROJECT, "api_key_env": KEY_ENV, "chunk_seconds": 7200,
                   "score_level": "trace"}  # the cassettes hold trace annotations only
        with recorder.use_cassette("pull.yaml"):
            with create({**options, "record_scores": ["user_feedback"]}) as conn:
                pulled = list(conn.trace_source().iter_traces(WINDOW))
        with recorder.use_cassette("scores.yaml"):
            with create(options) as conn:
                got = list(conn.score_source().get_scores([r.id for r in records[:3]], ["correct", "quality", "verdict"]))
        unknown_message = _failed_pull(recorder, "unknown_project.yaml", {**options, "project": "no-such-project"},
                                       FatalSourceError)
        auth_message = _failed_pull(recorder, "unauthorized.yaml",
                                    {**options, "api_key_env": "TRACESTRATA_CASSETTE_NO_KEY"}, AuthError)
        expected = {
            "window": [WINDOW.start.isoformat(), WINDOW.end.isoformat()],
            "project": PROJECT,
            "records": [r.to_json() for r in sorted(records, key=lambda r: r.timestamp)],
            "pulled": len(pulled),
            "scores": [s.to_json() for s in scores],
            "scores_read": len(got),
            "unknown_project_message": unknown_message.replace(server.base_url, REPLAY_BASE),
            "auth_message": auth_message,
        }
        (OUT / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
        for path in OUT.glob("*.yaml"):
            text = path.read_text()
            assert server.api_key not in text, "an API key reached a cassette"
            path.write_text(text.replace(server.base_url, REPLAY_BASE))
        print(f"recorded {len(list(OUT.glob('*.yaml')))} cassettes into {OUT}", file=sys.stderr)
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
