"""What a reviewer sees in the real Phoenix UI, rendered by headless Chromium (screenshots in the test log).

The review annotation carries what a reviewer filters by (label = stratum, explanation =
failure/boost/normal) and no score, so the UI never averages weights into a meaningless
"μ 10.08"; the filters documented in docs/phoenix.md are checked against the server's
GraphQL and typed into the UI through its URL (`spanFilterCondition`).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import httpx
import pytest
from fixtures.chromium import chromium_binary, render

from tracestrata.connectors.phoenix import create
from tracestrata.connectors.phoenix.ui import filtered_spans_url, sample_filter, stratum_filter
from tracestrata.protocols import SampleItem, SinkKind, item_id_for

STRATA = ("ui-billing", "ui-tech", "ui-compliance")
QUEUE, DATASET = "ui-review", "judge-ui"


def _items(records, window):
    items = []
    for i, r in enumerate(records):
        failure = r.status == "error"
        items.append(SampleItem(
            item_id=item_id_for(QUEUE, window, r.id),
            record=r,
            stratum=STRATA[i % 3],
            values={"metadata.intent": STRATA[i % 3]},
            failure=failure,
            signals=("error",) if failure else (),
            inclusion_probability=0.1,
            weight=10.0,
            window=window,
            run="run-ui",
            boost="new-release" if i % 7 == 3 else None,
        ))
    return items


def _count(base_url: str, project_id: str, condition: str) -> int:
    query = "query($id: ID!, $c: String) { node(id: $id) { ... on Project { n: recordCount(filterCondition: $c) } } }"
    body = httpx.post(f"{base_url}/graphql", json={"query": query, "variables": {"id": project_id, "c": condition}}).json()
    assert "errors" not in body, body
    return int(body["data"]["node"]["n"])


@pytest.fixture(scope="module")
def reviewed(phoenix_server):
    records = sorted(phoenix_server.records, key=lambda r: r.timestamp)[540:600]
    items = _items(records, phoenix_server.window)
    with create(phoenix_server.options()) as connector:
        connector.sample_sink(SinkKind.QUEUE, QUEUE).write(items)
        connector.sample_sink(SinkKind.DATASET, DATASET).write(items)
        project_id = connector.projects.require(phoenix_server.project)
        rows = list(connector.score_source().annotation_rows(
            "trace", [i.trace_id for i in items], ["tracestrata.sampled"], f"tracestrata:{QUEUE}"))
    return items, project_id, rows


def test_review_annotation_has_stratum_and_reason_and_no_score(reviewed):
    items, _, rows = reviewed
    by_trace = {row["trace_id"]: row for row in rows}
    assert len(by_trace) == len(items)
    for item in items:
        row = by_trace[item.trace_id]
        assert row["result"] == {"label": item.stratum, "score": None, "explanation": item.reason}
        assert row["metadata"]["weight"] == 10.0 and row["metadata"]["reason"] == item.reason
    assert {i.reason for i in items} == {"boost", "failure", "normal"}


def test_documented_filters_select_one_stratum_and_one_reason(phoenix_server, reviewed):
    items, project_id, _ = reviewed
    strata = Counter(i.stratum for i in items)
    for stratum, n in strata.items():
        assert _count(phoenix_server.base_url, project_id, stratum_filter(stratum)) == n
    failures = sum(1 for i in items if i.stratum == "ui-tech" and i.reason == "failure")
    condition = f"{stratum_filter('ui-tech')} and trace_annotations['tracestrata.sampled'].explanation == 'failure'"
    assert _count(phoenix_server.base_url, project_id, condition) == failures
    assert _count(phoenix_server.base_url, project_id, sample_filter()) >= len(items)
    assert _count(phoenix_server.base_url, project_id, stratum_filter("it's-none")) == 0
    assert _count(phoenix_server.base_url, project_id, "trace_annotations['tracestrata.sampled'].score >= 1") == 0


def test_an_earlier_versions_config_and_weight_scores_are_rewritten(phoenix_server):
    name = "tracestrata.sampled-earlier"
    records = sorted(phoenix_server.records, key=lambda r: r.timestamp)[530:533]
    items = _items(records, phoenix_server.window)
    base = phoenix_server.base_url
    httpx.post(f"{base}/v1/annotation_configs", json={
        "type": "CONTINUOUS", "name": name, "optimization_direction": "NONE", "lower_bound": 1.0,
    }).raise_for_status()
    httpx.post(f"{base}/v1/trace_annotations", params={"sync": "true"}, json={"data": [
        {"trace_id": i.trace_id, "name": name, "annotator_kind": "CODE", "identifier": f"tracestrata:{QUEUE}",
         "result": {"label": i.stratum, "score": i.weight}} for i in items
    ]}).raise_for_status()
    with create(phoenix_server.options(review_annotation=name)) as connector:
        result = connector.sample_sink(SinkKind.QUEUE, QUEUE).write(items)
        rows = list(connector.score_source().annotation_rows("trace", [i.trace_id for i in items], [name]))
    assert (result.created, result.updated) == (0, len(items))
    assert [r["result"]["score"] for r in rows] == [None] * len(items)
    config = httpx.get(f"{base}/v1/annotation_configs/{name}").json()["data"]
    assert config["type"] == "FREEFORM"
    attached = httpx.get(f"{base}/v1/projects/{phoenix_server.project}/annotation_configs").json()["data"]
    assert name not in {c["name"] for c in attached}  # kept off the annotation panel


@pytest.mark.skipif(chromium_binary() is None, reason="chromium is not installed (scripts/test.sh installs it with apt)")
def test_reviewer_pages_in_headless_chromium(phoenix_server, reviewed, tmp_path: Path):
    items, project_id, _ = reviewed
    base = phoenix_server.base_url
    tech = sum(1 for i in items if i.stratum == "ui-tech")
    url = filtered_spans_url(f"{base}/projects/{project_id}", stratum_filter("ui-tech"),
                             phoenix_server.window.start, phoenix_server.window.end)
    project = render(url, tmp_path / "project-one-stratum.png")
    print(f"screenshot: {project.screenshot}  ({project.url})")
    assert re.search(rf"Total Traces {tech}\b", project.text), project.text[:3000]
    assert "trace_annotations" in project.dom
    review_stat = project.text[project.text.index("tracestrata.sam"):][:60]
    assert "μ" not in review_stat, review_stat  # labels, not a mean of weights

    failing = next(i for i in items if i.reason == "failure")
    trace = render(f"{base}/projects/{project_id}/traces/{failing.trace_id}", tmp_path / "trace.png")
    print(f"screenshot: {trace.screenshot}  ({trace.url})")
    chip = trace.text[trace.text.index("tracestrata.sam"):][:60]
    assert failing.stratum in chip and "μ" not in chip, chip

    datasets = httpx.get(f"{base}/v1/datasets", params={"name": DATASET}).json()["data"]
    dataset_id = next(d["id"] for d in datasets if d["name"] == DATASET)
    dataset = render(f"{base}/datasets/{dataset_id}/examples", tmp_path / "dataset.png")
    print(f"screenshot: {dataset.screenshot}  ({dataset.url})")
    assert DATASET in dataset.text and re.search(rf"Examples {len(items)}\b", dataset.text), dataset.text[:3000]
    first_meta = json.dumps({"stratum": items[0].stratum, "reason": items[0].reason}, separators=(",", ":"))[:-1]
    assert first_meta in dataset.text, dataset.text[:3000]
