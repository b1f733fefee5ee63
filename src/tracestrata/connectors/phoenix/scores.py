"""Score source: scores written as Phoenix trace annotations (`score_level = "trace"`),
as annotations on the trace's root span (`"span"`: where a reviewer's label set in
Phoenix's annotation panel lands), or both (the default).

One value per trace and name: of every annotation of that name on the trace and on
its root span, the most recently updated wins, whoever wrote it (a reviewer in the
UI, a judge through the API, any identifier); Phoenix keeps updated_at to the second,
and in a tie the root span's annotation (where the panel writes) wins over the trace's.
`score_identifier` first keeps one judge's annotations only.

Phoenix keeps a `{label, score}` pair per annotation. The value is typed from the
name's annotation config when there is one and the half it names is filled in
(CONTINUOUS -> float score, CATEGORICAL -> label, or bool when its labels are
true/false), else from the pair itself:

    label "true"/"false" (any case)         -> bool
    score only                              -> float
    label only                              -> str (categorical)
    both, label not true/false              -> float(score)

Several judges writing the same name are told apart by `identifier`; every
`Score` carries it, and `score_identifier` keeps only one judge's.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from tracestrata.protocols import JSONObject, JSONValue, iter_chunks
from tracestrata.record import Score, ScoreValue, newest_per_trace_and_name, parse_timestamp

from .client import PhoenixHTTP, QueryValue
from .projects import ProjectResolver

_BOOL_LABELS = {"true": True, "false": False}


class PhoenixScoreSource:
    def __init__(self, http: PhoenixHTTP, projects: ProjectResolver) -> None:
        self.http = http
        self.settings = http.settings
        self.projects = projects
        self._config_kinds: dict[str, str] | None = None

    def get_scores(self, trace_ids: Sequence[str], names: Sequence[str]) -> Iterator[Score]:
        if not trace_ids or not names:
            return
        self.projects.require(self.settings.project)
        kinds = self.config_kinds()
        wanted = set(names)
        level = self.settings.score_level
        for chunk in iter_chunks(dict.fromkeys(trace_ids), self.settings.ids_per_request):
            rows: list[JSONObject] = []
            if level in ("trace", "both"):
                rows.extend(self.annotation_rows("trace", chunk, names))
            if level in ("span", "both"):
                rows.extend(self._root_span_rows(chunk, names))
            scores = []
            for row in rows:
                score = score_from_row(row, kinds.get(row["name"]))
                if score is None or score.name not in wanted:
                    continue
                if self.settings.score_identifier is not None and (score.identifier or "") != self.settings.score_identifier:
                    continue
                scores.append(score)
            yield from newest_per_trace_and_name(scores)

    def _root_span_rows(self, trace_ids: Sequence[str], names: Sequence[str]) -> Iterator[JSONObject]:
        """Annotations on the traces' root spans, each row given the trace id it belongs to."""
        trace_of = self.root_spans(trace_ids)
        if not trace_of:
            return
        for row in self.annotation_rows("span", list(trace_of), names):
            trace_id = trace_of.get(str(row.get("span_id")))
            if trace_id is not None:
                yield {**row, "trace_id": trace_id}

    def root_spans(self, trace_ids: Sequence[str]) -> dict[str, str]:
        """Root span id -> trace id for `trace_ids` (one REST listing, filtered by trace id)."""
        out: dict[str, str] = {}
        params: dict[str, QueryValue] = {"trace_id": list(trace_ids), "parent_id": "null", "limit": 1000}
        while True:
            body = self.http.json("GET", f"/v1/projects/{self.settings.project}/spans", params=params)
            for span in body.get("data", []):
                context = span.get("context") or {}
                out[str(context.get("span_id"))] = str(context.get("trace_id"))
            cursor = body.get("next_cursor")
            if not cursor:
                return out
            params["cursor"] = cursor

    def annotation_rows(
        self, level: str, ids: Sequence[str], names: Sequence[str] = (), identifier: str | None = None
    ) -> Iterator[JSONObject]:
        """Every annotation row on `ids` (trace or span ids), following `next_cursor`."""
        project = self.settings.project
        params: dict[str, QueryValue] = {"limit": 1000}
        if ids:
            params[f"{level}_ids"] = list(ids)
        if names:
            params["include_annotation_names"] = list(names)
        if identifier is not None:
            params["identifier"] = identifier
        seen_cursors: set[str] = set()
        while True:
            body = self.http.json("GET", f"/v1/projects/{project}/{level}_annotations", params=params)
            yield from body.get("data", [])
            cursor = body.get("next_cursor")
            if not cursor:
                return
            if cursor in seen_cursors:  # a server repeating a cursor would loop forever
                raise RuntimeError(f"Phoenix repeated annotation cursor {cursor!r}")
            seen_cursors.add(cursor)
            params["cursor"] = cursor

    def config_kinds(self) -> dict[str, str]:
        """Annotation name -> config type (CONTINUOUS/CATEGORICAL/FREEFORM), with bool-ness folded in."""
        if self._config_kinds is None:
            kinds: dict[str, str] = {}
            cursor = None
            while True:
                params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
                body = self.http.json("GET", "/v1/annotation_configs", params=params)
                for config in body.get("data", []):
                    kind = str(config.get("type", "")).upper()
                    labels = {str(v.get("label", "")).lower() for v in config.get("values") or []}
                    if kind == "CATEGORICAL" and labels and labels <= set(_BOOL_LABELS):
                        kind = "BOOLEAN"
                    kinds[str(config["name"])] = kind
                cursor = body.get("next_cursor")
                if not cursor:
                    break
            self._config_kinds = kinds
        return self._config_kinds


def typed_value(label: JSONValue, score: JSONValue, kind: str | None = None) -> ScoreValue | None:
    """The faithful tracestrata value of one `{label, score}` result (see the module docstring)."""
    bool_label = _BOOL_LABELS.get(label.strip().lower()) if isinstance(label, str) else None
    # The config says which half of the pair is the value; when that half is empty
    # (e.g. Phoenix's built-in CATEGORICAL `user_feedback` written as a bare score)
    # fall through to the pair's own shape.
    if kind == "CONTINUOUS" and score is not None:
        return float(score)
    if kind == "BOOLEAN" and (bool_label is not None or score is not None):
        return bool_label if bool_label is not None else bool(score)
    if kind == "CATEGORICAL" and label not in (None, ""):
        return bool_label if bool_label is not None else str(label)
    if bool_label is not None:
        return bool_label
    if score is not None:
        return float(score)
    if label is not None and label != "":
        return str(label)
    return None


def score_from_row(row: JSONObject, kind: str | None = None) -> Score | None:
    """One annotation row -> a `Score` on its trace (span rows carry `trace_id` once resolved)."""
    result = row.get("result") or {}
    value = typed_value(result.get("label"), result.get("score"), kind)
    if value is None:
        return None
    updated = row.get("updated_at")
    return Score(
        trace_id=str(row.get("trace_id") or row.get("span_id")),
        name=str(row["name"]),
        value=value,
        identifier=row.get("identifier") or None,
        updated_at=parse_timestamp(updated) if updated else None,
    )
