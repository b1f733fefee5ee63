"""Trends and alarms as Markdown and as inline SVG: one small panel per stratum, global first.

Panels share the time axis (every period, in order) and each has its own value axis, so
a rare stratum's movement is visible beside the global one; the band is the interval.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from tracestrata.estimate.alarm import Detection, alarm_line
from tracestrata.estimate.report import format_value
from tracestrata.estimate.trend import Trend, TrendPoint, TrendSeries

__all__ = ["alarms_html", "alarms_markdown", "trend_html", "trend_markdown"]

PANEL_W, PANEL_H = 320, 150


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _cell(p: TrendPoint | None, rate: bool) -> str:
    if p is None or math.isnan(p.mean):
        return "–"
    ci = "" if math.isnan(p.ci_low) else f" ({format_value(p.ci_low, rate)}–{format_value(p.ci_high, rate)})"
    return f"{format_value(p.mean, rate)}{ci}"


def trend_markdown(trend: Trend) -> list[str]:
    """One row per period, one column per stratum (global first): estimate (interval)."""
    what = "day (UTC)" if trend.by == "day" else "window"
    lines = [f"### {_md(trend.metric)} by {trend.by}", "",
             f"Each cell: the estimate over that {trend.by}'s traces and its {trend.confidence * 100:g}% interval "
             "(descriptive; see docs/trends.md).", ""]
    names = [s.stratum for s in trend.series]
    lines.append(f"| {what} | " + " | ".join(_md(n) for n in names) + " |")
    lines.append("|---|" + "---:|" * len(names))
    at = [s.by_period() for s in trend.series]
    for period in trend.periods:
        lines.append(f"| {_md(period)} | " + " | ".join(_cell(a.get(period), trend.rate) for a in at) + " |")
    return lines + [""]


def _ticks(lo: float, hi: float) -> list[float]:
    return [lo + (hi - lo) * k / 2 for k in range(3)]


def _panel(series: TrendSeries, periods: Sequence[str], rate: bool, title: str) -> str:
    left, right, top, bottom = 46, 10, 30, 30
    w, h = PANEL_W - left - right, PANEL_H - top - bottom
    at = series.by_period()
    pts = [(i, at[p]) for i, p in enumerate(periods) if p in at and not math.isnan(at[p].mean)]
    values = [v for _, p in pts for v in (p.mean, p.ci_low, p.ci_high) if not math.isnan(v)]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if hi - lo < 1e-9:
        lo, hi = lo - (0.01 if rate else 0.5), hi + (0.01 if rate else 0.5)
    if rate:
        lo, hi = max(0.0, lo), min(1.0, hi)
    n = max(1, len(periods) - 1)

    def x(i: int) -> float:
        return left + w * (i / n if len(periods) > 1 else 0.5)

    def y(v: float) -> float:
        return top + h - (v - lo) / (hi - lo) * h

    out = [f'<svg class="panel" viewBox="0 0 {PANEL_W} {PANEL_H}" role="img" '
           f'aria-label="{html.escape(series.stratum)} over time">',
           f'<text x="4" y="14" class="pt">{html.escape(title)}</text>']
    for v in _ticks(lo, hi):
        out.append(f'<line x1="{left}" x2="{left + w}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#eee"/>'
                   f'<text x="{left - 4}" y="{y(v) + 4:.1f}" text-anchor="end" class="tk">{format_value(v, rate)}</text>')
    band = [(i, p) for i, p in pts if not (math.isnan(p.ci_low) or math.isnan(p.ci_high))]
    if len(band) > 1:
        upper = " ".join(f"{x(i):.1f},{y(p.ci_high):.1f}" for i, p in band)
        lower = " ".join(f"{x(i):.1f},{y(p.ci_low):.1f}" for i, p in reversed(band))
        out.append(f'<polygon points="{upper} {lower}" fill="#cfe3ff" opacity="0.8"/>')
    elif band:
        i, p = band[0]
        out.append(f'<line x1="{x(i):.1f}" x2="{x(i):.1f}" y1="{y(p.ci_low):.1f}" y2="{y(p.ci_high):.1f}" '
                   'stroke="#9cc2f5" stroke-width="4"/>')
    if len(pts) > 1:
        out.append('<polyline fill="none" stroke="#1f5fbf" stroke-width="1.5" points="'
                   + " ".join(f"{x(i):.1f},{y(p.mean):.1f}" for i, p in pts) + '"/>')
    for i, p in pts:
        out.append(f'<circle cx="{x(i):.1f}" cy="{y(p.mean):.1f}" r="2.2" fill="#1f5fbf"><title>'
                   f"{html.escape(periods[i])}: {format_value(p.mean, rate)} "
                   f"({format_value(p.ci_low, rate)}–{format_value(p.ci_high, rate)}), {p.scored} judged"
                   "</title></circle>")
    axis = top + h
    out.append(f'<line x1="{left}" x2="{left + w}" y1="{axis}" y2="{axis}" stroke="#999"/>')
    if periods:
        out.append(f'<text x="{x(0):.1f}" y="{axis + 14}" class="tk">{html.escape(periods[0][:16])}</text>')
        if len(periods) > 1:
            out.append(f'<text x="{x(len(periods) - 1):.1f}" y="{axis + 14}" text-anchor="end" class="tk">'
                       f"{html.escape(periods[-1][:16])}</text>")
    out.append("</svg>")
    return "".join(out)


def trend_html(trend: Trend) -> str:
    """The small multiples, a legend and the axis titles, as one section."""
    kind = "share of traces" if trend.rate else "mean score"
    panels = []
    for s in trend.series:
        title = s.stratum if len(s.stratum) <= 40 else s.stratum[:39] + "…"
        panels.append(f'<figure>{_panel(s, trend.periods, trend.rate, f"{title} · {s.population:,} traces")}</figure>')
    unit = "day (UTC)" if trend.by == "day" else "window"
    return (f'<section id="trend"><h2>{html.escape(trend.metric)} by {trend.by}</h2>'
            f'<p class="muted">Vertical axis: {html.escape(trend.metric)} ({kind}) over that {trend.by}\'s traces; '
            f"horizontal axis: {unit}, the same in every panel. Line: the estimate; band: its "
            f"{trend.confidence * 100:g}% interval. Each panel has its own vertical scale so small strata show "
            "their movement.</p>"
            f'<div class="multiples">{"".join(panels)}</div></section>')


def alarms_markdown(detections: Sequence[Detection], *, alpha: float, horizon: int) -> list[str]:
    standing = [d for d in detections if d.alarm]
    lines = ["### Alarms", ""]
    if not standing:
        lines.append(f"No alarm: no watched stratum moved from its own history ({len(detections)} series watched).")
    lines += [f"- **{_md(alarm_line(d))}**" for d in standing]
    return lines + ["", _guarantee(alpha, horizon, len(detections)), ""]


def alarms_html(detections: Sequence[Detection], *, alpha: float, horizon: int) -> str:
    standing = [d for d in detections if d.alarm]
    body = "".join(f'<p class="flag">{html.escape(alarm_line(d))}</p>' for d in standing) or (
        f"<p>No alarm: no watched stratum moved from its own history ({len(detections)} series watched).</p>")
    return (f'<section id="alarms"><h2>Alarms</h2>{body}'
            f'<p class="muted">{html.escape(_guarantee(alpha, horizon, len(detections)))}</p></section>')


def _guarantee(alpha: float, horizon: int, family: int) -> str:
    return (f"Checked every day against each stratum's own history: with no real change, the chance of any false "
            f"alarm over {horizon} daily looks, across all {family} watched series, is at most {alpha:.0%} "
            "(docs/trends.md).")
