"""Offline: the record mapping and error handling, replayed from cassettes recorded on a real
Phoenix by scripts/record_phoenix_cassettes.py (no server needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import vcr

from tracestrata.connectors.phoenix import create
from tracestrata.errors import AuthError, FatalSourceError
from tracestrata.protocols import Window
from tracestrata.record import Score, TraceRecord, parse_timestamp

CASSETTES = Path(__file__).resolve().parents[3] / "cassettes" / "phoenix"
EXPECTED = json.loads((CASSETTES / "expected.json").read_text())
WINDOW = Window(parse_timestamp(EXPECTED["window"][0]), parse_timestamp(EXPECTED["window"][1]))
OPTIONS = {"base_url": "http://127.0.0.1:6006", "project": EXPECTED["project"], "chunk_seconds": 7200,
           "api_key_env": "TRACESTRATA_CASSETTE_NO_KEY", "retry_attempts": 1,
           "score_level": "trace"}  # as recorded: trace annotations only
REPLAY = vcr.VCR(cassette_library_dir=str(CASSETTES), record_mode="none", match_on=["method", "path", "query"])


@pytest.fixture(autouse=True)
def _no_key(monkeypatch):
    monkeypatch.delenv("TRACESTRATA_CASSETTE_NO_KEY", raising=False)


def test_recorded_pull_maps_every_field():
    seeded = {r["id"]: TraceRecord.from_json(r) for r in EXPECTED["records"]}
    with REPLAY.use_cassette("pull.yaml"), create({**OPTIONS, "record_scores": ["user_feedback"]}) as conn:
        pulled = list(conn.trace_source().iter_traces(WINDOW))
    assert len(pulled) == len(seeded) == EXPECTED["pulled"]
    for got in pulled:
        want = seeded[got.id]
        assert got.timestamp == want.timestamp
        assert (got.name, got.status, got.span_id, got.tags) == (want.name, want.status, want.span_id, want.tags)
        assert got.latency_ms == pytest.approx(want.latency_ms, abs=1e-3)
        assert got.cost == pytest.approx(want.cost)
        assert (got.user_id, got.session_id, got.release, got.version) == (
            want.user_id, want.session_id, want.release, want.version)
        assert got.metadata == {**want.metadata, "release": want.release}
        assert got.scores == want.scores
        assert got.source.backend == "phoenix"


def test_recorded_scores_keep_their_types():
    seeded = [Score.from_json(s) for s in EXPECTED["scores"]]
    ids = list(dict.fromkeys(s.trace_id for s in seeded))
    with REPLAY.use_cassette("scores.yaml"), create(OPTIONS) as conn:
        got = list(conn.score_source().get_scores(ids, ["correct", "quality", "verdict"]))
    assert {(s.trace_id, s.name, s.identifier, s.value) for s in got} == {
        (s.trace_id, s.name, s.identifier, s.value) for s in seeded}
    assert {type(s.value) for s in got} == {bool, float, str}


def test_recorded_unknown_project_lists_the_existing_ones():
    with REPLAY.use_cassette("unknown_project.yaml"), create({**OPTIONS, "project": "no-such-project"}) as conn:
        with pytest.raises(FatalSourceError) as info:
            list(conn.trace_source().iter_traces(WINDOW))
    assert str(info.value) == EXPECTED["unknown_project_message"]
    assert info.value.exit_code == 3


def test_recorded_401_names_the_variable():
    with REPLAY.use_cassette("unauthorized.yaml"), create(OPTIONS) as conn:
        with pytest.raises(AuthError) as info:
            list(conn.trace_source().iter_traces(WINDOW))
    assert str(info.value) == EXPECTED["auth_message"]
    assert "TRACESTRATA_CASSETTE_NO_KEY is not set" in str(info.value)


def test_cassettes_hold_no_credentials():
    for path in CASSETTES.glob("*.yaml"):
        text = path.read_text().lower()
        assert "authorization" not in text and "bearer ey" not in text and "set-cookie" not in text, path.name
