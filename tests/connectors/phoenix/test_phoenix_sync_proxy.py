"""`sync` with `[scores] proxy` and a `[review]` policy against a real Phoenix on 127.0.0.1.

The proxy is read from Phoenix annotations of its name (on the traces, or on their root
spans with `score_level = "span"`) for every trace of the window and recorded in each
cell's totals; the whole sample goes to the dataset, only the review subsample gets the
review annotation.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from builders import policy_data, sync_config_toml
from fixtures.fault_proxy import FaultProxy
from fixtures.phoenix_server import DAY_END, DAY_START

from tracestrata.connectors.phoenix import create
from tracestrata.demo.phoenix_server import seed_records, seed_scores
from tracestrata.job import config as config_module
from tracestrata.job import sync
from tracestrata.job.state import State
from tracestrata.protocols import SinkKind, iter_chunks
from tracestrata.record import Score
from tracestrata.synthetic import generate_traces, heuristic_score, judge

# No `pytest.mark.phoenix` (see test_phoenix_live.py): selected by path.

REVIEW = 3
POLICY = {
    **policy_data("phoenix-proxy", strata=[{"field": "metadata.intent"}], default=8, signals=("error",)),
    "proxy": [{"field": "scores.heuristic"}],
    "review": {"target": REVIEW},
}


@pytest.mark.parametrize("level", ["trace", "span"])
def test_proxy_from_annotations_dataset_gets_the_sample_review_the_subsample(phoenix_server, tmp_path: Path, level,
                                                                            request):
    base_url = phoenix_server.base_url
    project = f"proxy-review-{level}"
    records = list(generate_traces(240, start=DAY_START, end=DAY_END, seed=31 if level == "trace" else 32,
                                   heuristic=level == "trace"))
    seed_records(base_url, project, records)  # trace level: scores.heuristic becomes a trace annotation
    if level == "span":  # the online evaluator annotated each trace's root span instead
        rows = [{"span_id": r.span_id, "name": "heuristic", "annotator_kind": "CODE",
                 "result": {"score": heuristic_score(r.id)}, "identifier": ""} for r in records]
        httpx.post(f"{base_url}/v1/span_annotations", params={"sync": "true"},
                   json={"data": rows}).raise_for_status()
    proxy = FaultProxy(base_url).start()  # passes every request through, and logs it
    request.addfinalizer(proxy.stop)
    path = tmp_path / "sync.toml"
    path.write_text(sync_config_toml(
        {"type": "phoenix", "base_url": proxy.url, "project": project, "score_level": level},
        POLICY,
        window={"every": "1d", "settle": "0s", "start": DAY_START.isoformat()},
        sink={"dataset": f"{project}-{{date}}", "queue": "review"},
        scores={"names": ["correct"], "metric": "correct", "proxy": "heuristic"},
        report={"dir": "reports", "formats": []},
        retry={"attempts": 3, "total_seconds": 30, "initial": 0.01, "max_wait": 0.05},
    ))
    result = sync.run_sync(config_module.load_config(path), now=DAY_END + timedelta(hours=1))
    assert result.partial is None and len(result.windows) == 1
    # the proxy is read in batches of trace ids (200 a request), never one request per trace
    reads = [p for _m, p, _k in proxy.log if f"/{level}_annotations" in p and "heuristic" in p]
    assert len(reads) == math.ceil(len(records) / 200)

    with State(tmp_path / "var" / "state.sqlite") as state:
        runs = state.runs()
        cells = [c for run in runs for c in run.cells]
        sampled = state.sampled([run.run_id for run in runs])
    totals = [c["proxy"]["scores.heuristic"] for c in cells]
    assert sum(t["n"] for t in totals) == len(records) == sum(c["population"] for c in cells)
    assert sum(t["sum"] for t in totals) == pytest.approx(sum(heuristic_score(r.id) for r in records), abs=1e-6)
    assert all(attrs["scores.heuristic"] == heuristic_score(t) for _r, t, _c, attrs in sampled)

    reviewed = {t for _r, t, _c, attrs in sampled if attrs.get("review")}
    per_stratum = Counter(attrs["stratum"] for _r, _t, _c, attrs in sampled if attrs.get("review"))
    assert reviewed and max(per_stratum.values()) <= REVIEW
    with create({"base_url": base_url, "project": project}) as connector:
        dataset = connector.sample_sink(SinkKind.DATASET, f"{project}-{DAY_START:%Y-%m-%d}").written_ids()
        annotated = {
            row["trace_id"]
            for chunk in iter_chunks([r.id for r in records], 100)
            for row in connector.score_source().annotation_rows("trace", chunk, ["tracestrata.sampled"])
        }
    assert len(dataset) == len(sampled)
    assert annotated == reviewed and len(reviewed) < len(sampled)
    if level == "span":
        return
    # the judge annotates the dataset, humans the reviewed traces: read back like judge scores, the
    # periodic report is the two-phase estimate of the human label with the judge as proxy
    by_id = {r.id: r for r in records}
    human = {t: bool(judge(by_id[t])["correct"]) for t in reviewed}
    seed_scores(base_url, [Score(t, "correct", human.get(t, True) or i % 2 == 0)
                           for i, (_r, t, _c, _a) in enumerate(sampled)])
    seed_scores(base_url, [Score(t, "human_correct", v) for t, v in human.items()], annotator_kind="HUMAN")
    text = path.read_text().replace('names = ["correct"]', 'names = ["correct", "human_correct"]')
    text = text.replace('metric = "correct"', 'metric = "human_correct"')
    path.write_text(text.replace('formats = []', 'formats = ["json"]\nproxy = "score:correct"'))
    sync.run_sync(config_module.load_config(path), now=DAY_END + timedelta(hours=1))
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    assert report["estimate"]["method"] == "two-phase+korn-graubard"
    assert report["proxy"]["disagreement"]["reviewed"] == len(reviewed)
