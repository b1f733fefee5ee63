"""The judge runner's reads and writes on Phoenix.

Bodies: the root span's `input.value` / `output.value`, read by span id
(`GET /v1/projects/{project}/spans?span_id=...`; by trace id and `parent_id=null` for a
record without a span id). Scores: trace annotations (`POST /v1/trace_annotations`,
annotator kind LLM, `identifier` = the judge's name), so a rerun upserts the same
annotation; the reason goes in `explanation`, the design fields in `metadata`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tracestrata.protocols import JSONObject, JSONValue, JudgedScore, SampleItem, TraceBody, iter_chunks
from tracestrata.record import Score

from .client import PhoenixHTTP, QueryValue
from .projects import ProjectResolver


def annotation_for_score(score: Score, *, annotator_kind: str = "LLM") -> JSONObject:
    """A trace annotation that reads back as `score` (bool -> label true/false + 1/0, str -> label)."""
    value = score.value
    if isinstance(value, bool):
        result: JSONObject = {"label": "true" if value else "false", "score": 1.0 if value else 0.0}
    elif isinstance(value, str):
        result = {"label": value}
    else:
        result = {"score": float(value)}
    return {
        "trace_id": score.trace_id,
        "name": score.name,
        "annotator_kind": annotator_kind,
        "identifier": score.identifier or "",
        "result": result,
    }


def span_body(span: Mapping[str, JSONValue]) -> TraceBody:
    attributes = span.get("attributes") or {}

    def value(kind: str) -> JSONValue:
        if f"{kind}.value" in attributes:
            return attributes[f"{kind}.value"]
        nested = attributes.get(kind)
        return nested.get("value") if isinstance(nested, Mapping) else None

    return TraceBody(input=value("input"), output=value("output"))


class PhoenixBodyFetcher:
    def __init__(self, http: PhoenixHTTP, projects: ProjectResolver) -> None:
        self.http = http
        self.projects = projects
        self.settings = http.settings

    def fetch_bodies(self, items: Sequence[SampleItem]) -> dict[str, TraceBody]:
        self.projects.require(self.settings.project)
        out: dict[str, TraceBody] = {}
        by_span = {item.record.span_id: item.trace_id for item in items if item.record.span_id}
        for chunk in iter_chunks(list(by_span), self.settings.ids_per_request):
            for span in self._spans({"span_id": chunk}):
                trace_id = by_span.get(str((span.get("context") or {}).get("span_id")))
                if trace_id is not None:
                    out[trace_id] = span_body(span)
        loose = [item.trace_id for item in items if not item.record.span_id]
        for chunk in iter_chunks(loose, self.settings.ids_per_request):
            for span in self._spans({"trace_id": chunk, "parent_id": "null"}):
                trace_id = str((span.get("context") or {}).get("trace_id"))
                out.setdefault(trace_id, span_body(span))
        return out

    def _spans(self, filters: Mapping[str, QueryValue]) -> list[JSONObject]:
        params: dict[str, QueryValue] = {**filters, "limit": 1000}
        spans: list[JSONObject] = []
        while True:
            body = self.http.json("GET", f"/v1/projects/{self.settings.project}/spans", params=params)
            spans.extend(body.get("data", []))
            cursor = body.get("next_cursor")
            if not cursor:
                return spans
            params["cursor"] = cursor


def judge_annotation(score: JudgedScore) -> JSONObject:
    """The trace annotation a judge's score becomes (it reads back as the same typed value)."""
    annotation = annotation_for_score(Score(score.trace_id, score.name, score.value, identifier=score.judge))
    result = annotation["result"]
    if score.label is not None and "label" not in result:
        result["label"] = score.label
    if score.reason is not None:
        result["explanation"] = score.reason
    annotation["metadata"] = score.metadata()
    return annotation


class PhoenixScoreWriter:
    def __init__(self, http: PhoenixHTTP) -> None:
        self.http = http

    def write_scores(self, scores: Sequence[JudgedScore]) -> None:
        for chunk in iter_chunks(scores, 500):
            data = [judge_annotation(score) for score in chunk]
            self.http.request("POST", "/v1/trace_annotations", params={"sync": "true"}, json={"data": data})


__all__ = ["PhoenixBodyFetcher", "PhoenixScoreWriter", "annotation_for_score", "judge_annotation", "span_body"]
