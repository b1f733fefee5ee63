"""What a report page adds around the estimate: its context header, the alarms, the trend,
the per-stratum chart with size and naive mean, and the footnote of words.

`render.render_report(report, fmt, page)` asks this module for each piece; JSON gains
the keys `context`, `trend` and `alarms` (keys are only ever added to the schema).
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tracestrata.design import Design
from tracestrata.estimate.alarm import Detection
from tracestrata.estimate.context import ReportContext, column_legend, glossary, metric_sentence
from tracestrata.estimate.report import Report
from tracestrata.estimate.stratum_chart import stratum_chart
from tracestrata.estimate.trend import Trend
from tracestrata.estimate.trend_render import alarms_html, alarms_markdown, trend_html, trend_markdown
from tracestrata.record import Score

__all__ = ["PAGE_CSS", "ReportPage", "naive_by_stratum", "sorted_by_population"]

PAGE_CSS = """
body{max-width:1100px}
.context{background:#f5f7fa;border:1px solid #e1e6ee;border-radius:6px;padding:.5rem .9rem;margin:.6rem 0}
.context dl{display:flex;flex-wrap:wrap;gap:.2rem 1.4rem;margin:.3rem 0}.context dt{font-weight:600;display:inline}
.context dd{display:inline;margin:0 0 0 .3rem;overflow-wrap:anywhere}
table{display:block;overflow-x:auto;max-width:100%}
svg.strata-chart,svg.panel{width:100%;height:auto;display:block}svg.strata-chart.wide{max-width:900px}
svg.strata-chart.narrow{display:none}@media (max-width:600px){svg.strata-chart.wide{display:none}svg.strata-chart.narrow{display:block}}
.multiples{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:.6rem}
.multiples figure{margin:0;border:1px solid #eee;border-radius:4px}
svg .tk{font-size:10px;fill:#666}svg .pt{font-size:12px;font-weight:600}svg .axis-title{font-size:12px;fill:#333}
.notes{font-size:.85rem;color:#555}.notes dt{font-weight:600;display:inline}.notes dd{display:inline;margin:0}
.notes div{margin:.15rem 0}
"""


def sorted_by_population(report: Report) -> Report:
    """The strata rows largest first (the default order of the Markdown and HTML pages)."""
    from dataclasses import replace

    rows = tuple(sorted(report.strata, key=lambda r: (-r.population, r.stratum)))
    labels = None if report.labels is None else {k: sorted_by_population(v) for k, v in report.labels.items()}
    return replace(report, strata=rows, labels=labels)


def naive_by_stratum(design: Design, scores: Iterable[Score], metric: str) -> dict[str, float]:
    """Each stratum's unweighted mean of its judged traces (the last score read per trace)."""
    latest: dict[str, float] = {}
    for s in scores:
        if s.name == metric and not isinstance(s.value, str):
            latest[s.trace_id] = float(s.value)
    index = design.cell_index()
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for unit in design.units:
        if unit.trace_id in latest:
            acc = sums[index[unit.cell].stratum]
            acc[0] += latest[unit.trace_id]
            acc[1] += 1
    return {k: total / n for k, (total, n) in sums.items() if n}


@dataclass(frozen=True)
class ReportPage:
    """Everything around the estimate; every part is optional."""

    context: ReportContext | None = None
    trend: Trend | None = None
    alarms: Sequence[Detection] | None = None
    alpha: float = 0.05
    horizon: int = 90
    naive: Mapping[str, float] = field(default_factory=dict)

    def json_fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.context is not None:
            out["context"] = self.context.to_json()
        if self.trend is not None:
            out["trend"] = self.trend.to_json()
        if self.alarms is not None:
            out["alarms"] = {"alpha": self.alpha, "horizon_days": self.horizon,
                             "watched": len(self.alarms), "standing": [d.to_json() for d in self.alarms if d.alarm],
                             "series": [d.to_json() for d in self.alarms]}
        return out

    def markdown_top(self, report: Report) -> list[str]:
        lines = []
        if self.context is not None:
            lines += self.context.markdown(metric_sentence(report.metric, report.kind.value))
        if self.alarms is not None:
            lines += alarms_markdown(self.alarms, alpha=self.alpha, horizon=self.horizon)
        return lines

    def markdown_bottom(self, report: Report) -> list[str]:
        lines = trend_markdown(self.trend) if self.trend is not None else []
        if self.context is not None and self.context.links:
            lines += ["### Each stratum in the backend", ""]
            lines += [f"- [{stratum}]({url})" for stratum, url in self.context.links.items()] + [""]
        proxy = report.proxy is not None
        lines += ["---", "", "Columns: " + "; ".join(f"*{k}*: {v}" for k, v in column_legend(proxy)) + ".", ""]
        lines += ["Terms: " + "; ".join(f"*{k}*: {v}" for k, v in glossary(proxy)) + ".", ""]
        return lines

    def html_top(self, report: Report) -> str:
        parts = [f"<style>{PAGE_CSS}</style>"]
        if self.context is not None:
            parts.append(self.context.html(metric_sentence(report.metric, report.kind.value)))
        if self.alarms is not None:
            parts.append(alarms_html(self.alarms, alpha=self.alpha, horizon=self.horizon))
        return "".join(parts)

    def chart(self, report: Report) -> str:
        return stratum_chart(report, self.naive)

    def html_bottom(self, report: Report) -> str:
        parts = [trend_html(self.trend)] if self.trend is not None else []
        if self.context is not None and self.context.links:
            label = html.escape(self.context.link_label or "backend")
            items = "".join(f'<li><a href="{html.escape(url)}">{html.escape(stratum)}</a></li>'
                            for stratum, url in self.context.links.items())
            parts.append(f'<section id="links"><h2>Each stratum in {label}</h2><ul>{items}</ul></section>')
        proxy = report.proxy is not None

        def dl(pairs: list[tuple[str, str]]) -> str:
            return "".join(f"<div><dt>{html.escape(k)}:</dt> <dd>{html.escape(v)}</dd></div>" for k, v in pairs)

        parts.append(f'<footer class="notes"><h2>Notes</h2><p><b>Columns.</b></p><dl>{dl(column_legend(proxy))}</dl>'
                     f"<p><b>Terms.</b></p><dl>{dl(glossary(proxy))}</dl></footer>")
        return "".join(parts)

