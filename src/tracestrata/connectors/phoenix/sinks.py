"""Sample sinks: a Phoenix dataset, and a review "queue" made of trace annotations.

Dataset: one dataset per (resolved) name; every upload is `action=append` with the
item ids as Phoenix example ids, so a repeated write creates nothing, a new window
appends, and no earlier version is replaced (Phoenix's own `create_dataset` on an
existing name would make a new version holding only the new examples). Examples
link to the trace's root span and carry `SampleItem.metadata()`.

Review queue: Phoenix has no annotation queues. Each sampled trace gets a trace
annotation named `tracestrata.sampled` with what a reviewer filters by: label =
stratum, explanation = why it was drawn (`failure`, `boost` or `normal`); no score
(the UI would average the weights into a meaningless mean), the weight, inclusion
probability, signals, window and item id in its metadata. The identifier is fixed,
`tracestrata:<queue name>`: Phoenix upserts on (name, trace, identifier), so a
repeated write leaves one. A FREEFORM annotation config of that name, described as
"set by tracestrata, not a label", is created if missing (one left CONTINUOUS by an
earlier version is switched) and kept off the project's annotation panel, so a
reviewer is never offered the marker to fill in (configs.py). A reviewer filters the
project's spans with

    trace_annotations['tracestrata.sampled'].label == 'compliance'

(see docs/phoenix.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from tracestrata.protocols import JSONObject, SampleItem, WriteResult, iter_chunks
from tracestrata.record import format_timestamp

from .client import PhoenixHTTP
from .configs import AnnotationConfigs
from .projects import ProjectResolver
from .scores import PhoenixScoreSource

UPLOAD_BATCH = 500


def example_input(item: SampleItem) -> JSONObject:
    record = item.record
    return {
        "trace_id": record.id,
        "span_id": record.span_id,
        "name": record.name,
        "timestamp": format_timestamp(record.timestamp),
    }


_FIRST = ("stratum", "reason", "weight", "inclusion_probability", "failure", "signals", "window")


def example_metadata(item: SampleItem) -> JSONObject:
    """`SampleItem.metadata()` with what a reviewer reads first at the front (the UI shows it as one line)."""
    meta = {**item.metadata(), "reason": item.reason}
    return {**{k: meta[k] for k in _FIRST if k in meta}, **meta}


class PhoenixDatasetSink:
    def __init__(self, http: PhoenixHTTP, name: str, description: str = "") -> None:
        self.http = http
        self.name = name
        self.description = description or "Traces sampled by tracestrata (stratified, failure-oversampled)."

    def write(self, items: Sequence[SampleItem]) -> WriteResult:
        created = 0
        for chunk in iter_chunks(items, UPLOAD_BATCH):
            body = {
                "action": "append",
                "name": self.name,
                "description": self.description,
                "inputs": [example_input(item) for item in chunk],
                "outputs": [{} for _ in chunk],
                "metadata": [example_metadata(item) for item in chunk],
                "span_ids": [item.record.span_id for item in chunk],
                "example_ids": [item.item_id for item in chunk],
            }
            data = self.http.json("POST", "/v1/datasets/upload", params={"sync": "true"}, json=body)
            created += int((data.get("data") or {}).get("num_created_examples", 0))
        return WriteResult(
            created=created,
            unchanged=len(items) - created,
            item_ids=tuple(item.item_id for item in items),
        )

    def dataset_id(self) -> str | None:
        body = self.http.json("GET", "/v1/datasets", params={"name": self.name, "limit": 10})
        for row in body.get("data", []):
            if row.get("name") == self.name:
                return str(row["id"])
        return None

    def written_ids(self) -> set[str]:
        dataset_id = self.dataset_id()
        if dataset_id is None:
            return set()
        body = self.http.json("GET", f"/v1/datasets/{quote(dataset_id, safe='')}/examples")
        return {str(example["id"]) for example in (body.get("data") or {}).get("examples", [])}

    def examples(self) -> list[JSONObject]:
        dataset_id = self.dataset_id()
        if dataset_id is None:
            return []
        body = self.http.json("GET", f"/v1/datasets/{quote(dataset_id, safe='')}/examples")
        return list((body.get("data") or {}).get("examples", []))


class PhoenixReviewSink:
    def __init__(self, http: PhoenixHTTP, projects: ProjectResolver, scores: PhoenixScoreSource, name: str) -> None:
        self.http = http
        self.settings = http.settings
        self.projects = projects
        self.scores = scores
        self.name = name
        self.annotation = self.settings.review_annotation
        self.identifier = f"tracestrata:{name}"
        self._config_ready = False

    def write(self, items: Sequence[SampleItem]) -> WriteResult:
        self.projects.require(self.settings.project)
        self.ensure_config()
        created = updated = unchanged = 0
        for chunk in iter_chunks(items, self.settings.ids_per_request):
            existing = {
                row["trace_id"]: row
                for row in self.scores.annotation_rows(
                    "trace", [item.trace_id for item in chunk], [self.annotation], self.identifier
                )
                if row.get("identifier") == self.identifier
            }
            payload = []
            for item in chunk:
                annotation = review_annotation(item, self.annotation, self.identifier)
                old = existing.get(item.trace_id)
                if old is None:
                    created += 1
                elif _same(old, annotation):
                    unchanged += 1
                    continue
                else:
                    updated += 1
                payload.append(annotation)
            if payload:
                self.http.request("POST", "/v1/trace_annotations", params={"sync": "true"}, json={"data": payload})
        return WriteResult(created, updated, unchanged, tuple(item.item_id for item in items))

    def written_ids(self) -> set[str]:
        if self.projects.find(self.settings.project) is None:
            return set()
        ids = set()
        for row in self.scores.annotation_rows("trace", [], [self.annotation], self.identifier):
            item_id = (row.get("metadata") or {}).get("item_id")
            if row.get("identifier") == self.identifier and item_id:
                ids.add(str(item_id))
        return ids

    def ensure_config(self) -> None:
        """Create the marker's annotation config if missing, and keep it *off* the project's
        annotation panel (a reviewer must not mistake the marker for a label); once per sink."""
        if self._config_ready:
            return
        configs = AnnotationConfigs(self.http, self.settings.project)
        config_id, _ = configs.ensure(review_config(self.annotation), replace_type=True)
        configs.detach(config_id)
        self._config_ready = True


def review_config(name: str) -> JSONObject:
    return {
        "type": "FREEFORM",
        "name": name,
        "description": "Set by tracestrata, not a label: do not edit. Why this trace is in the sample: "
        "label = stratum; explanation = why it was drawn (failure, boost or normal); metadata holds the weight, "
        "inclusion probability, failure signals and window. Label the trace with the project's label "
        "annotations instead.",
    }


def review_annotation(item: SampleItem, name: str, identifier: str) -> JSONObject:
    return {
        "trace_id": item.trace_id,
        "name": name,
        "annotator_kind": "CODE",
        "identifier": identifier,
        "result": {"label": item.stratum, "explanation": item.reason},
        "metadata": {**item.metadata(), "reason": item.reason, "item_id": item.item_id},
    }


def _same(row: JSONObject, annotation: JSONObject) -> bool:
    result = row.get("result") or {}
    return (
        result.get("label") == annotation["result"]["label"]
        and result.get("explanation") == annotation["result"]["explanation"]
        and result.get("score") is None
        and (row.get("metadata") or {}) == annotation["metadata"]
    )
