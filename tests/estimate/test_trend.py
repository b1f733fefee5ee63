"""Trends over a real ledger: a day's estimate is exact over its windows, and the page renders them."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest
from builders import daily_ledger

from tracestrata.design import Design
from tracestrata.estimate.render import render_report
from tracestrata.estimate.report import build_report
from tracestrata.estimate.trend import GLOBAL, build_trend, period_of
from tracestrata.job.ledger import design_from_ledger
from tracestrata.job.state import State

START = datetime(2026, 1, 1, tzinfo=UTC)
STRATA = (("big", 19_900, 60, 0.1), ("rare", 100, 30, 0.2))


@pytest.fixture(scope="module")
def ledger(tmp_path_factory):
    path = tmp_path_factory.mktemp("trend") / "state.sqlite"
    with State(path) as state:
        daily_ledger(state, 5, STRATA, start=START, seed=1)
    return path


def test_a_day_is_estimated_exactly_over_its_windows(ledger):
    design, scores = design_from_ledger(ledger, since=None, until=START + timedelta(days=5))
    trend = build_trend(design, scores, "correct", by="day")
    assert trend.periods == tuple(f"2026-01-0{d}" for d in range(1, 6))
    assert [s.stratum for s in trend.series] == [GLOBAL, "big", "rare"]  # global first, then by population
    # day 3 alone, as its own design: the same numbers as the trend's third point
    cells = tuple(c for c in design.cells if period_of(c.window, "day") == "2026-01-03")
    ids = {c.id for c in cells}
    day = Design(cells, tuple(u for u in design.units if u.cell in ids))
    alone = build_report(day, scores, "correct")
    point = trend.series[0].points[2]
    assert point.mean == pytest.approx(alone.estimate.mean) and point.se == pytest.approx(alone.estimate.se)
    assert point.population == 20_000
    rare = trend.series[2].by_period()["2026-01-03"]
    assert rare.scored == 30 and 0.0 <= rare.ci_low <= rare.mean <= rare.ci_high <= 1.0


def test_by_window_on_daily_windows_is_the_same_series(ledger):
    design, scores = design_from_ledger(ledger, since=None, until=START + timedelta(days=5))
    by_day = build_trend(design, scores, "correct", by="day")
    by_window = build_trend(design, scores, "correct", by="window")
    assert len(by_window.periods) == 5 and by_window.periods[0].startswith("2026-01-01T00:00:00Z/")
    assert [p.mean for p in by_window.series[0].points] == [p.mean for p in by_day.series[0].points]


def test_the_page_carries_context_trend_and_alarms_in_every_format(ledger):
    from tracestrata.job.report_page import WatchSettings, ledger_page

    until = START + timedelta(days=5)
    design, scores = design_from_ledger(ledger, since=None, until=until)
    report = build_report(design, scores, "correct")
    page = ledger_page(ledger, report, design, scores, since=None, until=until, by="day",
                       watch=WatchSettings(("correct",)))
    data = json.loads(render_report(report, "json", page))
    assert set(report.to_json()) <= set(data)  # keys only added
    ctx = data["context"]
    assert ctx["period"] == {"start": "2026-01-01T00:00:00Z", "end": "2026-01-06T00:00:00Z", "windows": 5}
    assert ctx["policy"] == {"digest": "d", "seed": "daily"} and ctx["source"]["backend"] == "files"
    assert ctx["sampled"] == 450 and ctx["judged"] == 450 and ctx["tool"]["version"]
    assert data["trend"]["by"] == "day" and len(data["trend"]["series"]) == 3
    assert data["alarms"]["watched"] == 3 and data["alarms"]["standing"] == []
    md = render_report(report, "md", page)
    assert "**Metric.** correct: the share of all traces" in md and "| 2026-01-05 |" in md
    assert "### Alarms" in md and "Terms:" in md and "worth" not in md
    assert md.index("| big |") < md.index("| rare |")  # by population
    page_html = render_report(report, "html", page)
    assert 'id="context"' in page_html and 'id="trend"' in page_html and 'id="alarms"' in page_html
    assert page_html.count('class="naive"') == 6 and "share of traces (estimate and interval)" in page_html
    assert not math.isnan(data["trend"]["series"][0]["points"][0]["mean"])


def test_phoenix_links_each_stratum_to_its_filtered_spans():
    from tracestrata.job.report_page import _links

    links, label = _links("phoenix", "http://127.0.0.1:6006/projects/UHJvamVjdDox", ["big", "it's"],
                          START, START + timedelta(days=1))
    assert label == "Phoenix"
    assert links["big"].startswith("http://127.0.0.1:6006/projects/UHJvamVjdDox/spans?spanFilterCondition=")
    assert "timeRangeStart=2026-01-01T00%3A00%3A00Z" in links["it's"]


def test_alarms_read_the_analytic_se_of_each_day(ledger):
    """Alarms are analytic (docs/trends.md): a day's SE for them is the one without the fpc, which a heavily
    sampled stratum (30 of 100 a day) would otherwise shrink by (1 − f)."""
    from tracestrata.estimate.trend import aligned

    design, scores = design_from_ledger(ledger, since=None, until=START + timedelta(days=5))
    trend = build_trend(design, scores, "correct", by="day")
    cells = tuple(c for c in design.cells if period_of(c.window, "day") == "2026-01-03")
    ids = {c.id for c in cells}
    alone = build_report(Design(cells, tuple(u for u in design.units if u.cell in ids)), scores, "correct")
    point = trend.series[0].points[2]
    assert point.analytic_se == pytest.approx(alone.analytic.se) and point.analytic_se > point.se
    rare_row = next(r for r in alone.strata if r.stratum == "rare")
    rare = trend.series[2].by_period()["2026-01-03"]
    assert rare.analytic_se == pytest.approx(rare_row.shown.se) and rare.analytic_se > rare.se
    _, ses, _ = aligned(trend.series[2], trend.periods)
    assert ses == [p.analytic_se for p in trend.series[2].points]
    assert trend.to_json()["series"][2]["points"][2]["analytic_se"] == pytest.approx(rare.analytic_se)
