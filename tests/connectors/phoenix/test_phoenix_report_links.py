"""The job's report on a real Phoenix links each stratum to its span view, filtered to that stratum's sample.

The link's filter is checked against the server (the span count it selects is the stratum's
sampled traces) the way test_phoenix_ui.py checks the documented filters.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
from builders import policy_data, sync_config_toml
from fixtures.phoenix_server import DAY_END, DAY_START

from tracestrata.demo.phoenix_server import seed_records, seed_scores
from tracestrata.job import config as config_module
from tracestrata.job import sync
from tracestrata.job.state import State
from tracestrata.record import Score
from tracestrata.synthetic import generate_traces, judge

# No `pytest.mark.phoenix` (see test_phoenix_live.py): selected by path.


def _count(base_url: str, project_id: str, condition: str) -> int:
    query = "query($id: ID!, $c: String) { node(id: $id) { ... on Project { n: recordCount(filterCondition: $c) } } }"
    body = httpx.post(f"{base_url}/graphql", json={"query": query, "variables": {"id": project_id, "c": condition}}).json()
    assert "errors" not in body, body
    return int(body["data"]["node"]["n"])


def test_each_stratum_links_to_its_filtered_spans(phoenix_server, tmp_path: Path):
    base_url, project = phoenix_server.base_url, "report-links"
    records = list(generate_traces(200, start=DAY_START, end=DAY_END, seed=41))
    seed_records(base_url, project, records)
    path = tmp_path / "sync.toml"
    path.write_text(sync_config_toml(
        {"type": "phoenix", "base_url": base_url, "project": project},
        policy_data("phoenix-links", strata=[{"field": "metadata.intent"}], default=5, signals=("error",)),
        window={"every": "1d", "settle": "0s", "start": DAY_START.isoformat()},
        sink={"dataset": f"{project}-{{date}}", "queue": "links"},
        scores={"names": ["correct"], "metric": "correct"},
        report={"dir": "reports", "formats": ["json", "html"]},
    ))
    config = config_module.load_config(path)
    now = DAY_END + timedelta(hours=1)
    first = sync.run_sync(config, now=now)
    assert first.partial is None and len(first.windows) == 1
    with State(config.state) as state:
        rows = state.sampled([r.run_id for r in state.runs()])
    sampled = Counter(cell.split("#", 1)[0] for _r, _t, cell, _a in rows)
    by_id = {r.id: r for r in records}
    seed_scores(base_url, [Score(t, "correct", bool(judge(by_id[t])["correct"])) for _r, t, _c, _a in rows])
    second = sync.run_sync(config, now=now)  # reads the scores back and writes the reports
    assert second.partial is None and second.reports
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    links = report["context"]["links"]
    project_id = httpx.get(f"{base_url}/v1/projects/{project}").json()["data"]["id"]
    assert set(links) == set(sampled) and report["context"]["source"]["project"] == project
    for stratum, url in links.items():
        parts = urlsplit(url)
        assert url.startswith(f"{base_url}/projects/{project_id}/spans?")
        query = parse_qs(parts.query)
        assert query["timeRangeStart"] == ["2026-01-05T00:00:00Z"] and query["timeRangeEnd"] == ["2026-01-06T00:00:00Z"]
        assert _count(base_url, project_id, query["spanFilterCondition"][0]) == sampled[stratum]
    assert "Each stratum in Phoenix" in (tmp_path / "reports" / "report.html").read_text()


def test_a_login_in_the_base_url_stays_out_of_the_reports_and_review_list(phoenix_server, tmp_path: Path):
    """The links in report.html/md/json and review.md are built from the URL without its login."""
    from secrets import token_hex

    base_url, project = phoenix_server.base_url, "report-links-login"
    password = "pw-" + token_hex(8)  # made at run time, never a literal
    login_url = base_url.replace("http://", f"http://reader:{password}@")
    records = list(generate_traces(60, start=DAY_START, end=DAY_END, seed=43))
    seed_records(base_url, project, records)
    policy = policy_data("phoenix-login", strata=[{"field": "metadata.intent"}], default=3, signals=("error",))
    policy["review"] = {"target": 4}
    path = tmp_path / "sync.toml"
    path.write_text(sync_config_toml(
        {"type": "phoenix", "base_url": login_url, "project": project},
        policy,
        window={"every": "1d", "settle": "0s", "start": DAY_START.isoformat()},
        sink={"dataset": f"{project}-{{date}}", "queue": "login-links"},
        scores={"names": ["correct"], "metric": "correct"},
        report={"dir": "reports", "formats": ["json", "html", "md"]},
    ))
    config = config_module.load_config(path)
    now = DAY_END + timedelta(hours=1)
    assert sync.run_sync(config, now=now).partial is None
    with State(config.state) as state:
        rows = state.sampled([r.run_id for r in state.runs()])
    by_id = {r.id: r for r in records}
    seed_scores(base_url, [Score(t, "correct", bool(judge(by_id[t])["correct"])) for _r, t, _c, _a in rows])
    assert sync.run_sync(config, now=now).reports
    reports = tmp_path / "reports"
    written = {p.name: p.read_text() for p in reports.iterdir()}
    assert {"report.json", "report.html", "report.md", "review.md"} <= set(written)
    project_id = httpx.get(f"{base_url}/v1/projects/{project}").json()["data"]["id"]
    assert f"{base_url}/projects/{project_id}/traces/" in written["review.md"]  # the links are there, login-free
    assert json.loads(written["report.json"])["context"]["links"]
    for name, text in written.items():
        assert password not in text and "reader:" not in text, name
