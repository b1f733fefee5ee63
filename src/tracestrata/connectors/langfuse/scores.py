"""Score source: `GET /api/public/v3/scores` by trace ids and names, every page, typed values.

Trace ids go comma-separated in batches (`trace_ids_per_request`, default 50, so a
URL stays around 2 kB); names go comma-separated in every request. Values keep
their type: NUMERIC -> float, BOOLEAN -> bool, CATEGORICAL -> str label. TEXT and
CORRECTION scores are not metrics and are skipped.

Every source counts: a reviewer's label set in an annotation queue (`source =
ANNOTATION`, with the queue's `queueId`), a score written through the API (`API`)
and a managed evaluator's (`EVAL`). One value per trace and name: the most recently
updated wins, whoever wrote it (`newest_per_trace_and_name`, the rule of every
connector).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from langfuse.api.scores.types.score_subject_v3 import (
    ScoreSubjectV3_Experiment,
    ScoreSubjectV3_Observation,
    ScoreSubjectV3_Session,
    ScoreSubjectV3_Trace,
)
from langfuse.api.scores.types.score_v3 import (
    ScoreV3_Boolean,
    ScoreV3_Categorical,
    ScoreV3_Correction,
    ScoreV3_Numeric,
    ScoreV3_Text,
)

from tracestrata.protocols import iter_chunks
from tracestrata.record import Score, ScoreValue, format_timestamp, newest_per_trace_and_name, parse_timestamp

from .client import LangfuseClient
from .models import flat_parser

SCORES_PATH = "/api/public/v3/scores"
SCORE_PAGE_LIMIT = 100  # the server answers 400 above 100
# The SDK's discriminated unions, one parser per member (see models.py for why not parse_obj_as).
_SCORE_PARSERS = {
    cls.model_fields["data_type"].default: flat_parser(cls)
    for cls in (ScoreV3_Numeric, ScoreV3_Boolean, ScoreV3_Categorical, ScoreV3_Text, ScoreV3_Correction)
}
_SUBJECT_PARSERS = {
    cls.model_fields["kind"].default: flat_parser(cls)
    for cls in (ScoreSubjectV3_Trace, ScoreSubjectV3_Observation, ScoreSubjectV3_Session, ScoreSubjectV3_Experiment)
}


def parse_score(raw: dict) -> object:
    """One `ScoreV3` JSON object into the SDK model for its `dataType` (subject included)."""
    parser = _SCORE_PARSERS.get(raw.get("dataType"))
    if parser is None:
        return None  # a data type newer than the SDK: not a metric we know
    subject = raw.get("subject")
    if isinstance(subject, dict) and subject.get("kind") in _SUBJECT_PARSERS:
        raw = {**raw, "subject": _SUBJECT_PARSERS[subject["kind"]](subject)}
    return parser(raw)


class LangfuseScoreSource:
    def __init__(self, client: LangfuseClient) -> None:
        self.client = client

    def get_scores(self, trace_ids: Sequence[str], names: Sequence[str]) -> Iterator[Score]:
        wanted_traces = set(trace_ids)
        wanted_names = set(names)
        if not wanted_traces or not wanted_names:
            return
        name_param = ",".join(sorted(wanted_names))
        for batch in iter_chunks(sorted(wanted_traces), self.client.options.trace_ids_per_request):
            found: list[Score] = []
            for score in self._pages(",".join(batch), name_param):
                if score is None:
                    continue
                trace_id = _trace_of(score)
                if trace_id not in wanted_traces or score.name not in wanted_names:  # type: ignore[attr-defined]
                    continue
                value = typed_value(score)
                if value is None or trace_id is None:
                    continue
                found.append(Score(trace_id, score.name, value, updated_at=parse_timestamp(score.updated_at)))  # type: ignore[attr-defined]
            yield from newest_per_trace_and_name(found)

    def scores_between(self, name: str, start: datetime, end: datetime) -> dict[str, ScoreValue]:
        """trace id -> value of every score `name` timestamped in [start, end): the proxy of a window.

        One request per page of the v3 scores API filtered by name and time range, never
        one per trace; a trace scored twice keeps its most recently updated value.
        """
        out: dict[str, tuple[str, ScoreValue]] = {}
        params = {
            "name": name,
            "fromTimestamp": format_timestamp(start),
            "toTimestamp": format_timestamp(end),
            "fields": "subject",
            "limit": SCORE_PAGE_LIMIT,
        }
        for score in self.client.cursor_items("general", "list scores", SCORES_PATH, params, parse_score):
            if score is None or score.name != name:  # type: ignore[attr-defined]
                continue
            trace_id, value = _trace_of(score), typed_value(score)
            if trace_id is None or value is None:
                continue
            stamp = str(getattr(score, "updated_at", "") or "")
            if trace_id not in out or stamp >= out[trace_id][0]:
                out[trace_id] = (stamp, value)
        return {trace_id: value for trace_id, (_, value) in out.items()}

    def _pages(self, trace_param: str, name_param: str) -> Iterator[object]:
        return self.client.cursor_items(
            "general",
            "list scores",
            SCORES_PATH,
            {"traceId": trace_param, "name": name_param, "fields": "subject,annotation", "limit": SCORE_PAGE_LIMIT},
            parse_score,
        )


def typed_value(score: object) -> ScoreValue | None:
    if isinstance(score, ScoreV3_Boolean):
        return bool(score.value)
    if isinstance(score, ScoreV3_Numeric):
        return float(score.value)
    if isinstance(score, ScoreV3_Categorical):
        return str(score.value)
    return None


def _trace_of(score: object) -> str | None:
    subject = getattr(score, "subject", None)
    if subject is None:
        return None
    kind = getattr(subject, "kind", None)
    if kind == "trace":
        return subject.id  # type: ignore[no-any-return]
    if kind == "observation":
        return getattr(subject, "trace_id", None)
    return None


__all__ = ["LangfuseScoreSource", "parse_score", "typed_value"]
