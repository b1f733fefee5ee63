"""The per-stratum chart of the HTML report: size, estimate, interval and naive mean on every row.

Each stratum row draws the interval its table row shows (`StratumRow.shown`, analytic);
the "all traces" row and band are the descriptive global estimate, as the headline.

Rows come in the order given (the report sorts strata by population); a grey bar shows
the stratum's share of the traces so a stratum of 6 and one of 9,812 do not look alike;
the naive (unweighted) mean of each stratum's judged traces is a hollow circle on its
row. The SVG scales to its container (viewBox, width 100%), so it fits a phone.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping

from tracestrata.estimate.chart_axis import chart_range
from tracestrata.estimate.estimators import Estimate
from tracestrata.estimate.report import MetricKind, Report, format_value

__all__ = ["stratum_chart"]


def stratum_chart(report: Report, naive: Mapping[str, float]) -> str:
    """Two drawings of the same chart: one for a laptop, one for a phone (CSS shows one)."""
    return _chart(report, naive, width=760, label_w=190, size_w=70, chars=28, css="wide") + _chart(
        report, naive, width=380, label_w=118, size_w=34, chars=16, css="narrow")


def _chart(report: Report, naive: Mapping[str, float], *, width: int, label_w: int, size_w: int, chars: int,
           css: str) -> str:
    rate = report.kind is not MetricKind.MEAN
    rows = report.strata
    pad, row_h = 12, 24
    top = 22
    height = top + row_h * (len(rows) + 1) + 46
    lo, hi = chart_range(report, naive.values())
    plot_x = label_w + size_w + pad
    plot_w = width - plot_x - pad - 20
    biggest = max([r.population for r in rows] + [1])

    def x(v: float) -> float:
        return plot_x + (v - lo) / (hi - lo) * plot_w

    out = [f'<svg class="strata-chart {css}" viewBox="0 0 {width} {height}" role="img" '
           'aria-label="estimate and interval of every stratum">',
           f'<text x="{label_w - 4}" y="14" text-anchor="end" class="tk">stratum</text>',
           f'<text x="{label_w + 2}" y="14" class="tk">traces</text>']
    g = report.estimate
    body_h = row_h * (len(rows) + 1)
    if not (math.isnan(g.ci_low) or math.isnan(g.ci_high)):
        out.append(f'<rect x="{x(g.ci_low):.1f}" y="{top}" width="{max(1.0, x(g.ci_high) - x(g.ci_low)):.1f}" '
                   f'height="{body_h}" fill="#cfe3ff" opacity="0.6"/>')
    if not math.isnan(g.mean):
        out.append(f'<line x1="{x(g.mean):.1f}" x2="{x(g.mean):.1f}" y1="{top}" y2="{top + body_h}" '
                   'stroke="#1f5fbf" stroke-dasharray="4 3"/>')
    entries: list[tuple[str, Estimate, int, float, str]] = [
        ("all traces (reweighted)", g, report.population, report.naive.mean, "#1f5fbf")]
    entries += [(r.stratum, r.shown, r.population, naive.get(r.stratum, math.nan), "#333") for r in rows]
    for i, (name, est, population, plain, color) in enumerate(entries):
        y = top + row_h * i + row_h / 2
        label = name if len(name) <= chars else name[: chars - 1] + "…"
        out.append(f'<text x="{label_w - 4}" y="{y + 4:.1f}" text-anchor="end">{html.escape(label)}'
                   f"<title>{html.escape(name)}</title></text>")
        if i:
            bar = max(1.0, (size_w - 8) * population / biggest)
            out.append(f'<rect x="{label_w + 2}" y="{y - 5:.1f}" width="{bar:.1f}" height="10" fill="#bbb">'
                       f"<title>{population:,} traces</title></rect>")
        if math.isnan(est.mean):
            out.append(f'<text x="{plot_x}" y="{y + 4:.1f}" fill="#999">no scores</text>')
            continue
        if not (math.isnan(est.ci_low) or math.isnan(est.ci_high)):
            out.append(f'<line x1="{x(est.ci_low):.1f}" x2="{x(est.ci_high):.1f}" y1="{y:.1f}" y2="{y:.1f}" '
                       f'stroke="{color}" stroke-width="2"/>')
        out.append(f'<circle cx="{x(est.mean):.1f}" cy="{y:.1f}" r="4.5" fill="{color}"><title>{html.escape(name)}: '
                   f"{format_value(est.mean, rate)} ({format_value(est.ci_low, rate)}–{format_value(est.ci_high, rate)})"
                   "</title></circle>")
        if not math.isnan(plain):
            out.append(f'<circle class="naive" cx="{x(plain):.1f}" cy="{y:.1f}" r="4" fill="none" stroke="#c0392b" '
                       f'stroke-width="1.5"><title>naive mean of the judged traces: {format_value(plain, rate)}'
                       "</title></circle>")
    axis_y = top + body_h + 6
    out.append(f'<line x1="{x(lo):.1f}" x2="{x(hi):.1f}" y1="{axis_y}" y2="{axis_y}" stroke="#999"/>')
    ticks = 5 if width > 500 else 3
    for k in range(ticks):
        v = lo + (hi - lo) * k / (ticks - 1)
        out.append(f'<text x="{x(v):.1f}" y="{axis_y + 14}" text-anchor="middle" class="tk">{format_value(v, rate)}</text>')
    title = f"{report.metric}: " + ("share of traces" if rate else "mean score") + (
        " (estimate and interval)" if width > 500 else "")
    out.append(f'<text class="axis-title" x="{plot_x + plot_w / 2:.1f}" y="{axis_y + 32}" text-anchor="middle">'
               f"{html.escape(title)}</text></svg>")
    return "".join(out)
