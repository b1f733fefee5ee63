"""Markdown and HTML rendering: content, escaping, self-contained HTML with a valid SVG chart."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from tracestrata.design import Cell, CellKind, Design, Unit
from tracestrata.estimate.render import (
    format_value,
    interval_chart,
    render_html,
    render_markdown,
)
from tracestrata.estimate.report import build_report
from tracestrata.record import Score


def sample_report(metric_values, stratum_a="en | <script>alert(1)</script>", compare=None):
    cells = (
        Cell("a#normal", stratum_a, {"x": "a"}, CellKind.NORMAL, 500, 6),
        Cell("a#failure", stratum_a, {"x": "a"}, CellKind.FAILURE, 20, 4),
        Cell("b#normal", "de", {"x": "b"}, CellKind.NORMAL, 300, 5),
    )
    units = tuple(Unit(f"{c.id}/{j}", c.id, {"release": f"v{j % 2}"}) for c in cells for j in range(c.sampled))
    scores = [Score(u.trace_id, "m", metric_values[i % len(metric_values)]) for i, u in enumerate(units)]
    return build_report(Design(cells, units), scores, "m", compare=compare)


def test_markdown_rate_report():
    text = render_markdown(sample_report([True, False, True, True], compare="release"))
    assert text.startswith("## m (rate, 95% confidence)")
    assert "**Estimate:" in text and "Korn–Graubard" in text and "Naive unweighted mean" in text
    assert "en \\| <script>" in text  # the pipe of a crossed stratum key is escaped
    assert "| stratum | population | sampled | scored | estimate | CI |" in text
    assert "### release: v1 vs v0" in text and " pp" in text


def test_markdown_mean_and_categorical():
    assert "(mean, 95% confidence)" in render_markdown(sample_report([1.5, 4.0, 3.25]))
    text = render_markdown(sample_report(["pass", "fail", "pass"]))
    assert "rate of each label" in text and "### m = fail" in text and "### m = pass" in text


def test_html_is_self_contained_and_escaped():
    page = render_html(sample_report([True, False, True, True], compare="release"))
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page  # the stratum name is escaped, and we ship no scripts
    assert "&lt;script&gt;" in page
    # no external resources: no src/href attributes, the only URL is the SVG namespace
    assert not re.search(r"\s(src|href)=", page)
    assert re.findall(r"https?://[^\"' ]+", page) == ["http://www.w3.org/2000/svg"]
    svg = re.search(r"<svg.*?</svg>", page, re.S).group(0)
    root = ET.fromstring(svg)
    circles = root.findall("{http://www.w3.org/2000/svg}circle")
    assert len(circles) == 4  # global, its naive mean, 2 strata


def test_chart_for_means_and_missing_strata():
    report = sample_report([2.0, 3.0, 4.5])
    svg = interval_chart(report)
    ET.fromstring(svg)
    assert "global (reweighted)" in svg


def test_format_value():
    assert format_value(0.1234, True) == "12.3%"
    assert format_value(0.01, True, signed=True) == "+1.0 pp"
    assert format_value(3.14159, False) == "3.142"
    assert format_value(float("nan"), False) == "–"


def census_design():
    """A stratum of 8 traces judged in full (4 correct) beside a sampled one."""
    cells = (Cell("compliance#normal", "compliance", {"x": "c"}, CellKind.NORMAL, 8, 8),
             Cell("small#normal", "small", {"x": "s"}, CellKind.NORMAL, 500, 40))
    units = tuple(Unit(f"{c.id}/{j}", c.id) for c in cells for j in range(c.sampled))
    scores = [Score(u.trace_id, "correct", j % 2 == 0) for j, u in enumerate(units[:8])]
    scores += [Score(u.trace_id, "correct", j < 30) for j, u in enumerate(units[8:])]
    return Design(cells, units), scores


def test_a_census_stratum_shows_all_judged_with_its_analytic_interval():
    from tracestrata.estimate.intervals import wilson

    design, scores = census_design()
    report = build_report(design, scores, "correct")
    row = next(r for r in report.strata if r.stratum == "compliance")
    assert row.census and row.estimate.ci_low == row.estimate.ci_high == 0.5  # descriptive: these 8 traces
    low, high = wilson(0.5, 8)  # analytic: one weight in the stratum, so Wilson on the count
    assert (row.analytic.ci_low, row.analytic.ci_high) == (low, high)
    text = render_markdown(report)
    assert "| compliance | 8 | 8 | all 8 judged | 50.0% | 21.5% – 78.5% |" in text
    assert "50.0% – 50.0%" not in text and "analytic" in text
    html_text = render_html(report)
    assert "all 8 judged" in html_text and "50.0% – 50.0%" not in html_text
    data = report.to_json()["strata"][0]
    assert data["census"] is True and (data["ci_low"], data["ci_high"]) == (0.5, 0.5)
    assert (data["analytic"]["ci_low"], data["analytic"]["ci_high"]) == (low, high)


def test_two_phase_rows_show_one_kind_of_interval():
    """A fully reviewed census stratum: the two-phase and the plain columns are both analytic, never a point."""
    design, scores = census_design()
    judge = [Score(s.trace_id, "judge", s.value if j % 3 else not s.value) for j, s in enumerate(scores)]
    human = [Score(s.trace_id, "human", s.value) for s in scores]
    report = build_report(design, judge + human, "human", proxy="score:judge")
    row = next(r for r in report.strata if r.stratum == "compliance")
    shown, plain = row.shown, row.plain_shown
    assert shown.ci_low < 0.5 < shown.ci_high and plain.ci_low < 0.5 < plain.ci_high
    assert "50.0% – 50.0%" not in render_markdown(report)


def test_both_charts_draw_the_interval_the_table_shows():
    """The chart beside the table draws each stratum's analytic (`shown`) interval, not the descriptive point."""
    from tracestrata.estimate.chart_axis import chart_range
    from tracestrata.estimate.stratum_chart import stratum_chart

    design, scores = census_design()
    report = build_report(design, scores, "correct")
    row = next(r for r in report.strata if r.stratum == "compliance")
    shown = f"50.0% ({format_value(row.shown.ci_low, True)}–{format_value(row.shown.ci_high, True)})"
    assert row.shown.ci_low < 0.5 < row.shown.ci_high
    for svg in (stratum_chart(report, {}), interval_chart(report)):
        assert f"compliance: {shown}" in svg.replace(" – ", "–"), svg
        assert "compliance: 50.0% (50.0%–50.0%)" not in svg.replace(" – ", "–")
    lo, hi = chart_range(report)
    assert lo <= row.shown.ci_low and hi >= row.shown.ci_high
