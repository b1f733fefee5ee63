"""Langfuse traces-table links: the `filter`/`dateRange` serialization read from Langfuse's web
source (connectors/langfuse/ui.py names the files and commit), checked by a round trip, and the
job's reports on the contract fake carrying one link per stratum.

Not checked against a real Langfuse UI: it cannot run here (ClickHouse, Redis, S3).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from builders import policy_data, sync_config_toml

from tracestrata.connectors.langfuse.ui import (
    TableFilter,
    date_range,
    decode_filters,
    dimension_filters,
    encode_filters,
    filtered_traces_url,
    stratum_filters,
)
from tracestrata.design import MISSING, OTHER
from tracestrata.record import Score
from tracestrata.synthetic import generate_traces, judge

START = datetime(2026, 11, 23, tzinfo=UTC)
END = START + timedelta(days=1)


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def test_encoding_matches_the_documented_format() -> None:
    filters = [
        TableFilter("metadata", "stringObject", "=", "billing, refunds; 100%", key="intent"),
        TableFilter("traceTags", "arrayOptions", "all of", ("a|b", "c\\d")),
        TableFilter("traceName", "stringOptions", "any of", ("chat",)),
        TableFilter("latency", "number", ">=", 1.5),
        TableFilter("release", "null", "is null", ""),
    ]
    assert encode_filters(filters) == (
        "metadata;stringObject;intent;=;billing%2C%20refunds%3B%20100%25,"
        "traceTags;arrayOptions;;all of;a%5C%7Cb%7Cc%5C%5Cd,"
        "traceName;stringOptions;;any of;chat,"
        "latency;number;;>=;1.5,"
        "release;null;;is null;"
    )
    assert decode_filters(encode_filters(filters)) == filters
    assert encode_filters(dimension_filters("latency_ms", "<300")) == "latency;number;;<;0.3"


def test_url_round_trips_through_the_query_string() -> None:
    filters = stratum_filters(["metadata.intent", "name", "status", "latency_ms"], "refund & co | chat | error | 1000–3000")
    url = filtered_traces_url("http://lf.local/project/p1", filters or [], START, END)
    assert url.startswith("http://lf.local/project/p1/traces?filter=")
    assert "+" not in url and " " not in url  # spaces in operators travel as %20, as Langfuse writes them
    query = _query(url)
    assert decode_filters(query["filter"][0]) == [
        TableFilter("metadata", "stringObject", "=", "refund & co", key="intent"),
        TableFilter("traceName", "stringOptions", "any of", ("chat",)),
        TableFilter("level", "stringOptions", "any of", ("ERROR",)),
        TableFilter("latency", "number", ">=", 1.0),
        TableFilter("latency", "number", "<", 3.0),
    ]
    # `<from ms>-<to ms>`, both inclusive: the window's last millisecond
    assert query["dateRange"] == [f"{int(START.timestamp() * 1000)}-{int(END.timestamp() * 1000) - 1}"]
    assert date_range(START, END).split("-")[1] == "1795478399999"  # 2026-11-23T23:59:59.999Z


@pytest.mark.parametrize(
    ("field", "label", "expected"),
    [
        ("tags", "a,b", [TableFilter("traceTags", "arrayOptions", "all of", ("a", "b"))]),
        ("release", "v2", [TableFilter("release", "string", "=", "v2")]),
        ("release", MISSING, [TableFilter("release", "null", "is null", "")]),
        ("user_id", "u1", [TableFilter("userId", "string", "=", "u1")]),
        ("status", "ok", [TableFilter("level", "stringOptions", "none of", ("ERROR",))]),
        ("cost", "<0.01", [TableFilter("totalCost", "number", "<", 0.01)]),
        ("latency_ms", ">=10000", [TableFilter("latency", "number", ">=", 10.0)]),
        ("latency_ms", "300–700", [TableFilter("latency", "number", ">=", 0.3), TableFilter("latency", "number", "<", 0.7)]),
        ("metadata.intent", MISSING, []),  # not expressible: the link shows a superset
        ("metadata.a.b", "x", []),
        ("name", OTHER, []),
        ("scores.quality", "high", []),
    ],
)
def test_each_field_maps_to_a_traces_column(field: str, label: str, expected: list[TableFilter]) -> None:
    assert dimension_filters(field, label) == expected


def test_a_key_that_does_not_split_per_dimension_gets_no_link() -> None:
    assert stratum_filters(["name"], "a | b") is None
    assert stratum_filters([], "all") == []


def test_sync_reports_link_each_stratum_to_langfuse(fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)
    from tracestrata.job import config as config_module
    from tracestrata.job import sync

    records = list(generate_traces(400, start=START, end=START + timedelta(hours=2), seed=5))
    fake.add_traces(records)
    path = tmp_path / "sync.toml"
    path.write_text(sync_config_toml(
        {"type": "langfuse", "rate_limits": {"general": 0, "metrics": 0, "datasets": 0, "annotation_queues": 0}},
        policy_data("langfuse-links", strata=[{"field": "metadata.intent"}], default=5, signals=("error",)),
        window={"every": "1h", "settle": "0s", "start": START.isoformat()},
        sink={"dataset": "links-{date}"},
        scores={"names": ["correct"], "metric": "correct"},
        report={"dir": "reports", "formats": ["json", "md", "html"]},
    ))
    config = config_module.load_config(path)
    now = START + timedelta(hours=2, minutes=5)
    assert sync.run_sync(config, now=now).partial is None
    sampled = [i["sourceTraceId"] for i in fake.dataset_items("links-2026-11-23")]
    by_id = {r.id: r for r in records}
    fake.add_scores(Score(t, "correct", judge(by_id[t])["correct"]) for t in sampled)
    assert sync.run_sync(config, now=now).reports

    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    links = report["context"]["links"]
    strata = {s["stratum"] for s in report["strata"]}
    assert links and set(links) == strata
    for stratum, url in links.items():
        assert url.startswith(f"{fake.url}/project/{fake.project_id}/traces?")
        query = _query(url)
        expected = [] if stratum in (MISSING, OTHER) else [
            TableFilter("metadata", "stringObject", "=", stratum, key="intent")]
        assert decode_filters(query.get("filter", [""])[0]) == expected
        assert query["dateRange"] == [date_range(START, START + timedelta(hours=2))]
    markdown = (tmp_path / "reports" / "report.md").read_text()
    html = (tmp_path / "reports" / "report.html").read_text()
    assert all(f"]({url})" in markdown for url in links.values())
    assert "Each stratum in Langfuse" in html and html.count('href="' + fake.url + "/project/") == len(links)
    assert fake.count_requests("/api/public/projects") <= 2  # at most once per run (each run reports)
    # `report --ledger --ui-url` on the same ledger links the same strata from the page it is given
    from tracestrata.cli.main import main

    out = tmp_path / "cli.json"
    page = "https://lf.example/project/abc/"
    assert main(["report", "--ledger", str(config.state), "--metric", "correct", "--format", "json",
                 "--until", now.isoformat(), "--ui-url", page, "--out", str(out)]) == 0
    cli_links = json.loads(out.read_text())["context"]["links"]
    assert set(cli_links) == set(links)
    assert all(url.startswith("https://lf.example/project/abc/traces?") for url in cli_links.values())
    assert {urlsplit(u).query for u in cli_links.values()} == {urlsplit(u).query for u in links.values()}


def test_a_trace_link_uses_the_keys_project_id_not_the_project_label(fake, monkeypatch: pytest.MonkeyPatch) -> None:
    """`project` is a label; the reviewer's list links each trace under the id the key's project has."""
    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)
    from tracestrata.connectors.langfuse import create

    connector = create({"project": "a label, not an id"})
    try:
        assert connector.trace_url("t-1") == f"{fake.url}/project/{fake.project_id}/traces/t-1"
    finally:
        connector.close()
