"""The judge runner's reads and writes on Langfuse.

Bodies: the root observation's `input`/`output` (`GET /api/public/v2/observations`,
`fields=io`, by trace id, root only). Scores: `POST /api/public/scores` on the trace, with
the judge's reason as `comment`, the design fields and the judge's name and version as
`metadata`, and a deterministic `id`, so a retried or repeated write upserts the score.
"""

from __future__ import annotations

from collections.abc import Sequence


from tracestrata.protocols import JSONObject, JudgedScore, SampleItem, TraceBody

from .client import LangfuseClient

SCORE_CREATE_PATH = "/api/public/scores"


def root_io(client: LangfuseClient, trace_id: str) -> TraceBody | None:
    """Input/output of a trace's root observation; None when Langfuse has no such trace."""
    page = client.call(
        "general",
        f"read input/output of trace {trace_id}",
        client.api.observations.get_many,
        fields="io",
        trace_id=trace_id,
        is_root_observation=True,
        limit=1,
    )
    if not page.data:
        return None
    obs = page.data[0]
    return TraceBody(input=obs.input, output=obs.output)


class LangfuseBodyFetcher:
    def __init__(self, client: LangfuseClient) -> None:
        self.client = client

    def fetch_bodies(self, items: Sequence[SampleItem]) -> dict[str, TraceBody]:
        out: dict[str, TraceBody] = {}
        for item in items:
            body = root_io(self.client, item.trace_id)
            if body is not None:
                out[item.trace_id] = body
        return out


def score_body(score: JudgedScore) -> JSONObject:
    """The `CreateScoreRequest` of one judge score (booleans as 1/0 with dataType BOOLEAN)."""
    value = score.value
    if isinstance(value, bool):
        data_type, sent = "BOOLEAN", 1 if value else 0
    elif isinstance(value, str):
        data_type, sent = "CATEGORICAL", value
    else:
        data_type, sent = "NUMERIC", float(value)
    body: JSONObject = {
        "id": score.score_id,
        "traceId": score.trace_id,
        "name": score.name,
        "value": sent,
        "dataType": data_type,
        "metadata": score.metadata(),
    }
    if score.reason is not None:
        body["comment"] = score.reason
    return body


class LangfuseScoreWriter:
    def __init__(self, client: LangfuseClient) -> None:
        self.client = client

    def write_scores(self, scores: Sequence[JudgedScore]) -> None:
        for score in scores:
            self.client.post_json("general", f"write score {score.name} on trace {score.trace_id}", SCORE_CREATE_PATH, score_body(score))


__all__ = ["LangfuseBodyFetcher", "LangfuseScoreWriter", "root_io", "score_body"]
