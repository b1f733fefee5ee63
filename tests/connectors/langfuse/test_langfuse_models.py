"""The fast parse path gives exactly the SDK's own `parse_obj_as` result."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from langfuse.api.commons.types.observation_v2 import ObservationV2
from langfuse.api.core.pydantic_utilities import parse_obj_as
from langfuse.api.scores.types.score_v3 import ScoreV3

from tracestrata.connectors.langfuse.models import alias_map, flat_parser
from tracestrata.connectors.langfuse.scores import parse_score
from tracestrata.record import Score, TraceRecord

START = datetime(2026, 3, 1, tzinfo=UTC)


def test_alias_map_comes_from_the_sdk() -> None:
    names = alias_map(ObservationV2)
    assert names["traceId"] == "trace_id" and names["traceName"] == "trace_name"
    assert "metadata" not in names  # same on the wire and in python


def test_observations_parse_like_the_sdk(fake) -> None:
    fake.add_traces(
        TraceRecord(
            id=f"{i:032x}", timestamp=START + timedelta(seconds=i), name="chat", status="error" if i % 2 else "ok",
            latency_ms=12.5, cost=0.01, tags=("a",), metadata={"k": "v" * 300}, release="r", version="v",
        )
        for i in range(5)
    )
    body = fake.op_observations_getMany(
        params={"fields": "basic,metadata,trace_context,metrics,usage,time,model,prompt"}, multi={}, body=None
    )
    parse = flat_parser(ObservationV2)
    for raw in body["data"]:
        assert parse(raw) == parse_obj_as(ObservationV2, raw)


def test_scores_parse_like_the_sdk(fake) -> None:
    fake.add_scores([Score("t1", "correct", True), Score("t1", "quality", 2.5), Score("t1", "verdict", "pass")])
    fake.add_scores([Score("t2", "correct", False)], observation_level=True)
    body = fake.op_scoresV3_getManyV3(params={"fields": "subject,details,annotation"}, multi={}, body=None)
    assert len(body["data"]) == 4
    for raw in body["data"]:
        assert parse_score(raw) == parse_obj_as(ScoreV3, raw)
