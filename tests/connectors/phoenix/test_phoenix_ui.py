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
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fixtures.chromium import chromium_binary, render

from tracestrata.connectors.phoenix import create
from tracestrata.connectors.phoenix.ui import filtered_spans_url, sample_filter, stratum_filter
from tracestrata.protocols import SampleItem, SinkKind, item_id_for
from tracestrata.record import format_timestamp

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


# -- the reviewer in the loop: a label set in Phoenix's own annotation panel reaches the estimate --------

# the text of the trace page's "Edit Annotations" panel, once it shows a field
EDIT_PANEL = """(() => {
  const head = [...document.querySelectorAll('button')].find(e => e.innerText.trim() === 'Edit Annotations');
  let box = head;
  while (box && !box.innerText.includes('explain')) box = box.parentElement;
  return box ? box.innerText : null;
})()"""
LOOP_MARKER, LOOP_JUDGE, LOOP_LABEL = "tracestrata.sampled-loop", "loop_correct", "loop_correct_human"
LOOP_CONFIG = """
state = "state.sqlite"
[source]
type = "phoenix"
base_url = "{base_url}"
project = "{project}"
review_annotation = "{marker}"
{extra_source}
[window]
every = "1d"
settle = "15m"
start = "{start}"
[sink]
dataset = "loop-{{date}}"
queue = "loop-review"
[scores]
names = ["{judge}"]
metric = "{judge}"
[report]
dir = "reports"
period = "30d"
metrics = ["{judge}", "{label}"]
[[label]]
name = "{label}"
description = "Is the answer correct? (loop test)"
judge = "{judge}"
[policy]
seed = "ui-loop"
strata = [{{ field = "metadata.intent", top = 4 }}]
[policy.targets]
default = {target}
[policy.review]
target = {review}
"""


def _loop_config(tmp_path: Path, server, *, extra_source: str = "", target: int = 12, review: int = 4):
    from tracestrata.job.config import load_config
    from tracestrata.record import format_timestamp

    path = tmp_path / "sync.toml"
    path.write_text(LOOP_CONFIG.format(
        base_url=server.base_url, project=server.project, marker=LOOP_MARKER, start=format_timestamp(server.window.start),
        judge=LOOP_JUDGE, label=LOOP_LABEL, extra_source=extra_source, target=target, review=review))
    return load_config(path)


def _review_ids(config) -> tuple[list[str], list[str]]:
    from tracestrata.job.state import State

    with State(config.state) as state:
        rows = state.sampled([r.run_id for r in state.runs()])
    return [t for _, t, _, _ in rows], [t for _, t, _, a in rows if a.get("review")]


@pytest.fixture(scope="module")
def loop(phoenix_server, tmp_path_factory):
    """Sync once (sets up the label, writes the sample), the judge on every sampled trace, reviewers
    (through the API) on all of the review subsample but one trace, sync again."""
    from tracestrata.demo.phoenix_server import seed_scores
    from tracestrata.job.sync import run_sync
    from tracestrata.record import Score

    tmp_path = tmp_path_factory.mktemp("loop")
    config = _loop_config(tmp_path, phoenix_server)
    now = phoenix_server.window.end + timedelta(hours=1)
    first = run_sync(config, now=now)
    assert len(first.windows) == 1
    sampled, review = _review_ids(config)
    assert 0 < len(review) < len(sampled)
    by_id = {r.id: r for r in phoenix_server.records}
    judge = {t: i % 5 != 0 for i, t in enumerate(sampled)}
    seed_scores(phoenix_server.base_url, [Score(t, LOOP_JUDGE, v) for t, v in judge.items()])
    left = review[0]
    rows = [{"span_id": by_id[t].span_id, "name": LOOP_LABEL, "annotator_kind": "HUMAN", "identifier": "",
             "result": {"label": "true" if judge[t] else "false", "score": float(judge[t])}}
            for t in review if t != left]
    httpx.post(f"{phoenix_server.base_url}/v1/span_annotations", params={"sync": "true"},
               json={"data": rows}).raise_for_status()
    run_sync(config, now=now)
    before = json.loads((config.report_dir / f"report-{LOOP_LABEL}.json").read_text())
    return config, now, sampled, review, left, judge, before


@pytest.mark.skipif(chromium_binary() is None, reason="chromium is not installed (scripts/test.sh installs it with apt)")
def test_a_label_set_in_the_annotation_panel_is_read_back_and_moves_the_two_phase_estimate(phoenix_server, loop, tmp_path):
    from fixtures.cdp import Browser, CDPError

    from tracestrata.job.sync import run_sync

    config, now, _, review, left, judge, before = loop
    assert before["review"]["labelled"] == len(review) - 1
    with create(phoenix_server.options()) as connector:
        trace_page = connector.trace_url(left)
    # The panel lists every config attached to the project, and other test modules on this worker's
    # shared Phoenix attach labels of their own (a categorical `lv_verdict`): keep only this test's label.
    configs = f"{phoenix_server.base_url}/v1/projects/{phoenix_server.project}/annotation_configs"
    attached = httpx.get(configs).json()["data"]
    mine = [str(c["id"]) for c in attached if c["name"] == LOOP_LABEL]
    assert mine, [c["name"] for c in attached]  # sync attached the label's config
    httpx.put(configs, json={"annotation_config_ids": mine}).raise_for_status()
    wanted = "false" if judge[left] else "true"  # the reviewer disagrees with the judge: the estimate must move
    with Browser() as browser:
        browser.goto(trace_page)
        browser.click("document.querySelector('button[aria-label=\"Annotate this span\"]')")
        panel = browser.wait(EDIT_PANEL)
        assert "Is the answer correct? (loop test)" in panel  # the label's config, with its description
        assert "tracestrata.sampled" not in panel  # the marker is not offered as something to fill in
        chosen = f"(() => {{ const t = {EDIT_PANEL}; return t && !t.includes('Select an item') && t.includes({wanted!r}); }})()"
        for attempt in range(4):  # a click that lands before the list's handlers are ready is lost on a busy machine
            if not browser.js("document.querySelectorAll('[role=option]').length"):  # the list is not open (yet)
                browser.click("[...document.querySelectorAll('button')].find(b => b.innerText.includes('Select an item'))")
            options = browser.wait("(() => { const o = [...document.querySelectorAll('[role=option]')].map(x => x.innerText.trim()); return o.length ? o : null; })()")
            assert options == ["true", "false"]
            browser.click(f"[...document.querySelectorAll('[role=option]')].find(o => o.innerText.trim() === {wanted!r})")
            try:
                browser.wait(chosen, timeout=15)
                break
            except CDPError:
                if attempt == 3:
                    raise
        print(f"screenshot: {browser.screenshot(tmp_path / 'panel-label-set.png')}")
        # the UI saves in the background: wait (reading, never writing) until Phoenix has stored it
        span_id = next(r.span_id for r in phoenix_server.records if r.id == left)
        browser.wait(f"fetch('/v1/projects/{phoenix_server.project}/span_annotations?span_ids={span_id}"
                     f"&include_annotation_names={LOOP_LABEL}').then(r => r.json()).then(b => b.data.length > 0)")
    after_run = run_sync(config, now=now)
    assert after_run.scores_changed >= 1
    after = json.loads((config.report_dir / f"report-{LOOP_LABEL}.json").read_text())
    assert after["review"]["labelled"] == len(review)
    assert after["proxy"]["disagreement"]["reviewed"] == before["proxy"]["disagreement"]["reviewed"] + 1
    assert after["estimate"]["mean"] != before["estimate"]["mean"]
    assert after["estimate"]["method"].startswith("two-phase")


@pytest.mark.skipif(chromium_binary() is None, reason="chromium is not installed (scripts/test.sh installs it with apt)")
def test_the_reviewer_link_lists_exactly_the_review_subsample(phoenix_server, loop, tmp_path):
    from fixtures.cdp import Browser

    config, _, sampled, review, _, _, _ = loop
    with create(phoenix_server.options()) as connector:
        url = connector.review_url(phoenix_server.window, LOOP_MARKER)
        project_id = connector.projects.require(phoenix_server.project)
    assert _count(phoenix_server.base_url, project_id, sample_filter(LOOP_MARKER)) == len(review)
    with Browser() as browser:
        browser.goto(url)
        rows = browser.wait(f"(() => {{ const n = document.querySelectorAll('tbody tr').length;"
                            f" return n === {len(review)} ? n : null; }})()")
        text = browser.text()
        print(f"screenshot: {browser.screenshot(tmp_path / 'review-list.png')}")
    assert rows == len(review) < len(sampled)
    assert LOOP_MARKER in text  # each row's stratum is the marker's chip
    listed = (config.report_dir / "review.md").read_text()
    assert [line.split(" | ")[5].split("]")[0].strip("[`") for line in listed.splitlines()
            if line.startswith("| ") and line[2].isdigit()] == review_in_order(config, review)


def review_in_order(config, review):
    from tracestrata.sampling.review_draw import review_order

    return review_order(review, config.policy)


def test_changing_read_back_judge_report_or_review_size_samples_nothing_again(phoenix_server, loop, tmp_path):
    """On a real Phoenix: the same job with score_level, the judge, the report metrics and the review
    size changed is the same source; its finished window is not sampled again."""
    import sqlite3

    from tracestrata.job.sync import run_sync

    config, now, sampled, _, _, _, _ = loop
    changed = _loop_config(config.path.parent, phoenix_server, extra_source='score_level = "trace"', review=5)
    changed = replace(changed, score_names=("other_judge", LOOP_LABEL), label_judges={LOOP_LABEL: "other_judge"},
                      report_metrics=(LOOP_LABEL,))
    assert changed.source_key() == config.source_key()
    outcome = run_sync(changed, now=now + timedelta(days=1))
    assert [w.window.start for w in outcome.windows] == [phoenix_server.window.end]  # only the next day
    with sqlite3.connect(config.state) as db:
        assert db.execute("SELECT count(*) FROM runs WHERE window_start = ?",
                          (format_timestamp(phoenix_server.window.start),)).fetchone()[0] == 1
