"""The Phoenix connector against a real Phoenix server on 127.0.0.1 (no mocks)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import httpx
import pytest

from tracestrata.connectors.phoenix import create
from tracestrata.demo.phoenix_server import seed_scores
from tracestrata.errors import AuthError, FatalSourceError, RetriableSourceError
from tracestrata.protocols import Connector, CountRequest, CountsMany, SampleItem, SinkKind, Window, item_id_for
from tracestrata.record import Score

# No `pytest.mark.phoenix` here: arize-phoenix-client ships a pytest plugin that claims
# that marker and turns every marked test into a Phoenix experiment run it uploads.
# These tests are selected by path (tests/connectors/phoenix/).


def _items(records, sink, window, *, weight=4.0, stratum="billing"):
    return [
        SampleItem(
            item_id=item_id_for(sink, window, r.id),
            record=r,
            stratum=stratum,
            values={"metadata.intent": stratum},
            failure=r.status == "error",
            signals=("error",) if r.status == "error" else (),
            inclusion_probability=1 / weight,
            weight=weight,
            window=window,
            run="run-1",
        )
        for r in records
    ]


def test_connector_satisfies_protocol(phoenix_server):
    with create(phoenix_server.options()) as connector:
        assert isinstance(connector, Connector)


def test_record_mapping_round_trips_every_field(phoenix_server):
    with create(phoenix_server.options(record_scores=["user_feedback"])) as connector:
        pulled = {r.id: r for r in connector.trace_source().iter_traces(phoenix_server.window)}
    seeded = {r.id: r for r in phoenix_server.records}
    assert pulled.keys() == seeded.keys()
    for trace_id, want in seeded.items():
        got = pulled[trace_id]
        assert got.timestamp == want.timestamp
        assert got.timestamp.utcoffset() == timedelta(0)
        assert (got.name, got.status, got.span_id) == (want.name, want.status, want.span_id)
        assert got.latency_ms == pytest.approx(want.latency_ms, abs=1e-3)
        assert got.cost == pytest.approx(want.cost)
        assert got.tags == want.tags
        assert (got.user_id, got.session_id) == (want.user_id, want.session_id)
        assert (got.release, got.version) == (want.release, want.version)
        assert got.metadata == {**want.metadata, "release": want.release}
        assert type(got.metadata["refusal"]) is bool
        assert got.scores == want.scores
        assert got.source.backend == "phoenix" and got.source.project == phoenix_server.project


def test_windows_are_half_open_and_partition_the_day(phoenix_server):
    ordered = sorted(phoenix_server.records, key=lambda r: r.timestamp)
    cut = ordered[250].timestamp  # a window boundary exactly on a trace's start
    first = Window(phoenix_server.window.start, cut)
    second = Window(cut, phoenix_server.window.end)
    with create(phoenix_server.options()) as connector:
        source = connector.trace_source()
        a = [r.id for r in source.iter_traces(first)]
        b = [r.id for r in source.iter_traces(second)]
    assert ordered[250].id in b and ordered[250].id not in a
    assert len(a) == 250 and len(b) == len(ordered) - 250
    assert set(a).isdisjoint(b)


def test_full_pages_are_split_until_every_trace_comes_exactly_once(phoenix_server):
    options = phoenix_server.options(page_limit=40, chunk_seconds=86400)
    with create(options) as connector:
        ids = [r.id for r in connector.trace_source().iter_traces(phoenix_server.window)]
    assert len(ids) == len(phoenix_server.records)
    assert set(ids) == {r.id for r in phoenix_server.records}


def test_stratum_counts_match_the_population(phoenix_server):
    records = phoenix_server.records
    wheres = [{"metadata.intent": "compliance"}, {"metadata.intent": "billing", "status": "error"}, {"status": "ok"}]
    want = [
        sum(r.metadata["intent"] == "compliance" for r in records),
        sum(r.metadata["intent"] == "billing" and r.status == "error" for r in records),
        sum(r.status == "ok" for r in records),
    ]
    with create(phoenix_server.options()) as connector:
        source = connector.trace_source()
        assert isinstance(source, CountsMany)
        assert source.count_many([CountRequest(phoenix_server.window, where) for where in wheres]) == want
        assert source.count(phoenix_server.window, {"metadata.nothing": "(missing)"}) == len(records)
        with pytest.raises(FatalSourceError, match="cannot count by 'tags'"):
            source.count(phoenix_server.window, {"tags": "prod"})


def test_dataset_appends_without_duplicates_or_clobbering(phoenix_server):
    ordered = sorted(phoenix_server.records, key=lambda r: r.timestamp)
    day = phoenix_server.window
    w1 = Window(day.start, day.start + timedelta(hours=12))
    w2 = Window(w1.end, day.end)
    name = "judge-test-append"
    first = _items([r for r in ordered[:30] if w1.contains(r.timestamp)], name, w1)
    second = _items([r for r in ordered if w2.contains(r.timestamp)][:20], name, w2)
    with create(phoenix_server.options()) as connector:
        sink = connector.sample_sink(SinkKind.DATASET, name)
        assert sink.written_ids() == set()
        assert sink.write(first).created == len(first)
        again = sink.write(first)
        assert (again.created, again.unchanged) == (0, len(first))
        assert sink.write(second).created == len(second)
        assert sink.written_ids() == {i.item_id for i in first + second}
        examples = {e["id"]: e for e in sink.examples()}
    item = first[0]
    example = examples[item.item_id]
    assert example["metadata"]["inclusion_probability"] == pytest.approx(0.25)
    assert isinstance(example["metadata"]["weight"], float)
    assert example["metadata"]["window"] == w1.key
    assert example["source"]["span_id"] == item.record.span_id
    assert example["input"]["trace_id"] == item.trace_id


def test_review_annotations_mark_exactly_the_sample(phoenix_server):
    day = phoenix_server.window
    records = sorted(phoenix_server.records, key=lambda r: r.timestamp)[100:125]
    items = _items(records, "review-test", day, weight=3.0, stratum="tech")
    with create(phoenix_server.options()) as connector:
        sink = connector.sample_sink(SinkKind.QUEUE, "review-test")
        result = sink.write(items)
        assert (result.created, result.updated, result.unchanged) == (len(items), 0, 0)
        again = sink.write(items)
        assert (again.created, again.updated, again.unchanged) == (0, 0, len(items))
        reweighted = _items(records[:3], "review-test", day, weight=5.0, stratum="tech")
        assert sink.write(reweighted).updated == 3
        assert sink.written_ids() == {i.item_id for i in items}
        rows = list(
            connector.score_source().annotation_rows("trace", [i.trace_id for i in items], ["tracestrata.sampled"])
        )
        project_id = connector.projects.require(phoenix_server.project)
    assert len(rows) == len(items)
    row = next(r for r in rows if r["trace_id"] == records[10].id)
    assert row["result"]["label"] == "tech" and row["result"]["score"] is None
    assert row["result"]["explanation"] == ("failure" if records[10].status == "error" else "normal")
    assert row["metadata"]["inclusion_probability"] == pytest.approx(1 / 3) and row["metadata"]["weight"] == 3.0
    assert row["identifier"] == "tracestrata:review-test"
    # The UI filter documented in docs/phoenix.md selects exactly these traces' root spans.
    condition = "trace_annotations['tracestrata.sampled'].label == 'tech'"
    query = 'query($id: ID!) { node(id: $id) { ... on Project { n: recordCount(filterCondition: %s) } } }'
    body = httpx.post(
        f"{phoenix_server.base_url}/graphql",
        json={"query": query % json.dumps(condition), "variables": {"id": project_id}},
    ).json()
    assert body["data"]["node"]["n"] == len(items)
    configs = httpx.get(f"{phoenix_server.base_url}/v1/projects/{phoenix_server.project}/annotation_configs").json()
    assert "tracestrata.sampled" not in {c["name"] for c in configs["data"]}  # the panel never offers the marker
    marker = httpx.get(f"{phoenix_server.base_url}/v1/annotation_configs/tracestrata.sampled").json()["data"]
    assert marker["type"] == "FREEFORM" and "not a label" in marker["description"]


def test_scores_read_back_typed_across_pages_and_judges(phoenix_server):
    records = sorted(phoenix_server.records, key=lambda r: r.timestamp)[300:360]
    scores = []
    for i, r in enumerate(records):
        scores.append(Score(r.id, "t_correct", i % 3 != 0))
        scores.append(Score(r.id, "t_quality", 1.0 + (i % 5) * 0.75))
        scores.append(Score(r.id, "t_verdict", ["pass", "minor", "fail"][i % 3]))
    scores.append(Score(records[0].id, "t_quality", 4.5, identifier="judge-b"))
    seed_scores(phoenix_server.base_url, scores)
    ids = [r.id for r in records]
    with create(phoenix_server.options(ids_per_request=7)) as connector:
        got = list(connector.score_source().get_scores(ids, ["t_correct", "t_quality", "t_verdict"]))
    with create(phoenix_server.options(score_identifier="judge-b")) as connector:
        judge_b = list(connector.score_source().get_scores(ids, ["t_quality"]))
    assert len(got) == len(scores) - 1  # one per trace and name: judge-b's 4.5 or the default judge's, the newer
    by_key = {(s.trace_id, s.name): s for s in got}
    for s in scores:
        value = by_key[(s.trace_id, s.name)].value
        if (s.trace_id, s.name) != (records[0].id, "t_quality"):
            assert value == s.value and type(value) is type(s.value)
    first = [s for s in scores if (s.trace_id, s.name) == (records[0].id, "t_quality")]
    assert by_key[(records[0].id, "t_quality")].value in {s.value for s in first}
    assert [(s.trace_id, s.value) for s in judge_b] == [(records[0].id, 4.5)]
    assert all(s.updated_at is not None for s in got)


def test_unknown_project_lists_existing_ones(phoenix_server):
    with create(phoenix_server.options(project="no-such-project")) as connector:
        with pytest.raises(FatalSourceError) as info:
            list(connector.trace_source().iter_traces(phoenix_server.window))
    message = str(info.value)
    assert "'no-such-project' does not exist" in message and phoenix_server.project in message


class _Faulty(httpx.BaseTransport):
    """Real transport to the real server, preceded by scripted failures."""

    def __init__(self, faults):
        self.faults = list(faults)
        self.inner = httpx.HTTPTransport()
        self.calls = Counter()

    def handle_request(self, request):
        self.calls[request.url.path] += 1
        if self.faults:
            fault = self.faults.pop(0)
            if isinstance(fault, Exception):
                raise fault
            return httpx.Response(fault, headers={"retry-after": "0"}, request=request)
        return self.inner.handle_request(request)


def test_transient_failures_are_retried(phoenix_server):
    faults = [503, 429, httpx.ConnectTimeout("injected"), httpx.ReadError("injected")]  # 4 < 5 attempts
    transport = _Faulty(faults)
    options = phoenix_server.options(retry_initial=0.01, retry_attempts=5)
    with create(options, transport=transport) as connector:
        ids = [r.id for r in connector.trace_source().iter_traces(phoenix_server.window)]
    assert len(ids) == len(phoenix_server.records)
    assert not transport.faults


def test_retries_stop_at_the_budget_with_a_retriable_error(phoenix_server):
    transport = _Faulty([503] * 10)
    options = phoenix_server.options(retry_initial=0.01, retry_attempts=3)
    with create(options, transport=transport) as connector:
        with pytest.raises(RetriableSourceError, match="HTTP 503"):
            list(connector.trace_source().iter_traces(phoenix_server.window))
    assert sum(transport.calls.values()) == 3


def test_bad_request_is_fatal_and_not_retried(phoenix_server):
    transport = _Faulty([400])
    with create(phoenix_server.options(), transport=transport) as connector:
        with pytest.raises(FatalSourceError, match="HTTP 400"):
            list(connector.trace_source().iter_traces(phoenix_server.window))
    assert sum(transport.calls.values()) == 1


@pytest.mark.parametrize("key", [None, "not-a-valid-key"])
def test_auth_failure_names_the_variable_never_the_key(phoenix_auth_server, monkeypatch, key):
    if key is None:
        monkeypatch.delenv("PHOENIX_API_KEY", raising=False)
    else:
        monkeypatch.setenv("PHOENIX_API_KEY", key)
    with create(phoenix_auth_server.options()) as connector:
        with pytest.raises(AuthError) as info:
            list(connector.trace_source().iter_traces(phoenix_auth_server.window))
    message = str(info.value)
    assert "PHOENIX_API_KEY" in message and "HTTP 401" in message
    assert phoenix_auth_server.server.api_key not in message
    if key:
        assert key not in message


def test_api_key_from_the_environment_works(phoenix_auth_server, monkeypatch):
    monkeypatch.setenv("TS_TEST_PHOENIX_KEY", phoenix_auth_server.server.api_key)
    options = phoenix_auth_server.options(api_key_env="TS_TEST_PHOENIX_KEY")
    with create(options) as connector:
        ids = {r.id for r in connector.trace_source().iter_traces(phoenix_auth_server.window)}
        sink = connector.sample_sink(SinkKind.QUEUE, "auth-review")
        items = _items(phoenix_auth_server.records[:3], "auth-review", phoenix_auth_server.window)
        assert sink.write(items).created == 3
    assert ids == {r.id for r in phoenix_auth_server.records}


def test_span_level_scores_come_back_on_their_trace(phoenix_server):
    records = sorted(phoenix_server.records, key=lambda r: r.timestamp)[400:410]
    seed_scores(phoenix_server.base_url, [Score(records[0].id, "span_quality", 9.0)])  # a trace-level one, older
    rows = [
        {"span_id": r.span_id, "name": "span_quality", "annotator_kind": "LLM", "result": {"score": float(i)},
         "identifier": ""}
        for i, r in enumerate(records)
    ]
    httpx.post(f"{phoenix_server.base_url}/v1/span_annotations", params={"sync": "true"}, json={"data": rows}).raise_for_status()
    ids = [r.id for r in records]
    with create(phoenix_server.options(score_level="span")) as connector:
        span_level = {s.trace_id: s.value for s in connector.score_source().get_scores(ids, ["span_quality"])}
    with create(phoenix_server.options(score_level="trace")) as connector:
        trace_level = {s.trace_id: s.value for s in connector.score_source().get_scores(ids, ["span_quality"])}
    with create(phoenix_server.options()) as connector:  # the default: both, the newest per trace and name
        both = list(connector.score_source().get_scores(ids, ["span_quality"]))
    assert span_level == {r.id: float(i) for i, r in enumerate(records)}
    assert trace_level == {records[0].id: 9.0}
    # records[0]: the root span's annotation is newer (or as new: Phoenix keeps seconds, and the
    # root span's, where the annotation panel writes, wins a tie)
    assert {s.trace_id: s.value for s in both} == span_level


def test_faults_from_a_real_proxy_in_front_of_phoenix_are_survived(phoenix_server):
    from fixtures.fault_proxy import Fault, FaultProxy

    records = sorted(phoenix_server.records, key=lambda r: r.timestamp)[500:520]
    window = phoenix_server.window
    with FaultProxy(phoenix_server.base_url) as proxy:
        options = {**phoenix_server.options(), "base_url": proxy.url, "retry_initial": 0.01, "timeout": 2,
                   "retry_attempts": 4}
        with create(options) as connector:
            proxy.push(Fault.status(429, retry_after=0), Fault.drop(), Fault.status(502))
            pulled = [r.id for r in connector.trace_source().iter_traces(window)]
            proxy.push(Fault.status(503, path_contains="/v1/datasets/upload"), Fault.timeout(3, path_contains="/v1/datasets/upload"))
            sink = connector.sample_sink(SinkKind.DATASET, "judge-test-proxy")
            result = sink.write(_items(records, "judge-test-proxy", window))
            written = sink.written_ids()
    assert len(pulled) == len(phoenix_server.records)
    # the timed-out upload may have landed before the timeout: created + unchanged still covers every item once
    assert result.created + result.unchanged == len(records)
    assert written == {item.item_id for item in _items(records, "judge-test-proxy", window)}


def test_declared_labels_get_annotation_configs_the_panel_offers(phoenix_server):
    from tracestrata.protocols import HumanLabel, LabelKind

    labels = [
        HumanLabel("lv_correct", LabelKind.BOOLEAN, description="Is it correct?"),
        HumanLabel("lv_verdict", LabelKind.CATEGORICAL, values=(("pass", 2.0), ("minor", 1.0), ("fail", 0.0))),
        HumanLabel("lv_quality", LabelKind.CONTINUOUS, lower=1.0, upper=5.0),
    ]
    base, project = phoenix_server.base_url, phoenix_server.project
    before = {c["id"] for c in httpx.get(f"{base}/v1/projects/{project}/annotation_configs").json()["data"]}
    with create(phoenix_server.options()) as connector:
        assert connector.ensure_labels(labels) == ["lv_correct", "lv_verdict", "lv_quality"]
        assert connector.ensure_labels(labels) == []  # present: nothing created, nothing changed
    configs = {c["name"]: c for c in httpx.get(f"{base}/v1/projects/{project}/annotation_configs").json()["data"]}
    assert before <= {c["id"] for c in configs.values()}  # what the project had is kept
    correct, verdict, quality = configs["lv_correct"], configs["lv_verdict"], configs["lv_quality"]
    assert correct["type"] == "CATEGORICAL" and correct["description"] == "Is it correct?"
    assert [(v["label"], v["score"]) for v in correct["values"]] == [("true", 1.0), ("false", 0.0)]
    assert [(v["label"], v["score"]) for v in verdict["values"]] == [("pass", 2.0), ("minor", 1.0), ("fail", 0.0)]
    assert (quality["type"], quality["lower_bound"], quality["upper_bound"]) == ("CONTINUOUS", 1.0, 5.0)
    # a label set on the root span (as the panel writes it) comes back typed by its config
    record = sorted(phoenix_server.records, key=lambda r: r.timestamp)[420]
    httpx.post(f"{base}/v1/span_annotations", params={"sync": "true"}, json={"data": [
        {"span_id": record.span_id, "name": "lv_correct", "annotator_kind": "HUMAN",
         "result": {"label": "false", "score": 0.0}}]}).raise_for_status()
    with create(phoenix_server.options()) as connector:
        (got,) = connector.score_source().get_scores([record.id], ["lv_correct"])
    assert (got.trace_id, got.value) == (record.id, False)


def test_a_marker_attached_by_an_earlier_version_is_taken_off_the_panel(phoenix_server):
    base, project = phoenix_server.base_url, phoenix_server.project
    name = "tracestrata.sampled-attached"
    created = httpx.post(f"{base}/v1/annotation_configs", json={"type": "FREEFORM", "name": name}).json()["data"]
    ids = [c["id"] for c in httpx.get(f"{base}/v1/projects/{project}/annotation_configs").json()["data"]]
    httpx.put(f"{base}/v1/projects/{project}/annotation_configs",
              json={"annotation_config_ids": [*ids, created["id"]]}).raise_for_status()
    records = sorted(phoenix_server.records, key=lambda r: r.timestamp)[430:432]
    with create(phoenix_server.options(review_annotation=name)) as connector:
        connector.sample_sink(SinkKind.QUEUE, "detach").write(_items(records, "detach", phoenix_server.window))
    after = [c["id"] for c in httpx.get(f"{base}/v1/projects/{project}/annotation_configs").json()["data"]]
    assert created["id"] not in after and sorted(after) == sorted(ids)  # the marker off, the others kept
