"""Reports as Markdown (terminals, PR comments) and as one self-contained HTML page.

The HTML page has no external resources (no scripts, fonts or stylesheets from the
network): the per-stratum interval chart is inline SVG, so it renders offline and
can be attached to a CI run. Every piece of text from the data is escaped.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence

from tracestrata.estimate.chart_axis import chart_range
from tracestrata.estimate.estimators import Estimate
from tracestrata.estimate.assisted import Assisted
from tracestrata.estimate.report_page import ReportPage, sorted_by_population
from tracestrata.estimate.report import (
    MIN_COMPARE_SCORED,
    Comparison,
    Delta,
    MetricKind,
    Report,
    StratumRow,
    format_p,
    format_value,
)

__all__ = ["format_value", "render_html", "render_markdown"]

METHOD_NAMES = {
    "korn-graubard": "Korn–Graubard",
    "korn-graubard-truncated": "Korn–Graubard, design effect ≥ 1",
    "wilson": "Wilson",
    "wilson-effective-n": "Wilson, effective n",
    "clopper-pearson": "Clopper–Pearson",
    "t": "t",
}


def _ci(e: Estimate, rate: bool) -> str:
    if math.isnan(e.ci_low) or math.isnan(e.ci_high):
        return "–"
    return f"{format_value(e.ci_low, rate)} – {format_value(e.ci_high, rate)}"


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _pct(confidence: float) -> str:
    return f"{confidence * 100:g}%"


def render_markdown(report: Report, page: ReportPage | None = None) -> str:
    top, bottom = (page.markdown_top(report), page.markdown_bottom(report)) if page is not None else ([], [])
    if report.labels is not None:
        parts = [f"## {_md(report.metric)}: rate of each label ({_pct(report.confidence)} confidence)", ""]
        parts += ["| label | estimate | CI | naive | scored |", "|---|---:|---|---:|---:|"]
        for label, sub in report.labels.items():
            parts.append(
                f"| {_md(label)} | {format_value(sub.estimate.mean, True)} | {_ci(sub.estimate, True)} | "
                f"{format_value(sub.naive.mean, True)} | {sub.estimate.n_scored} |"
            )
        parts.append("")
        for label, sub in report.labels.items():
            parts += _markdown_body(sub, heading=f"### {_md(report.metric)} = {_md(label)}", warnings=False)
        parts += _markdown_warnings(report)
        return "\n".join(parts[:2] + top + parts[2:] + bottom).rstrip() + "\n"
    kind = "rate" if report.kind is MetricKind.RATE else "mean"
    parts = _markdown_body(report, heading=f"## {_md(report.metric)} ({kind}, {_pct(report.confidence)} confidence)")
    parts += _markdown_warnings(report)
    return "\n".join(parts[:2] + top + parts[2:] + bottom).rstrip() + "\n"


def _markdown_body(report: Report, *, heading: str, warnings: bool = True) -> list[str]:
    rate = report.kind is not MetricKind.MEAN
    e, n = report.estimate, report.naive
    method = METHOD_NAMES.get(e.method.value, e.method.value)
    lines = [heading, ""]
    covered = "" if e.covered_share >= 1.0 else f", covering {e.covered_share:.1%} of them"
    lines.append(
        f"**Estimate: {format_value(e.mean, rate)}** (CI {_ci(e, rate)}, {method}; "
        f"{e.n_scored} scored of {report.population:,} traces{covered})"
    )
    lines.append("")
    lines += _markdown_proxy(report, rate)
    lines.append(f"Naive unweighted mean of the sample: {format_value(n.mean, rate)} (CI {_ci(n, rate)})")
    lines.append("")
    if review_line(report):
        lines += [_md(review_line(report)), ""]
    if report.proxy is not None:
        two = report.proxy.disagreement is not None
        head = "| stratum | population | sampled | scored | estimate | CI | plain | plain CI | worth |"
        if two:
            head += " judge − human |"
        lines += [head, "|---|---:|---:|---:|---:|---|---:|---|---:|" + ("---:|" if two else "")]
        for row in report.strata:
            plain = row.plain_shown
            extra = ""
            if two:
                dis = row.proxy.disagreement if row.proxy is not None else None
                extra = f" {format_value(dis.bias, rate, signed=True) if dis else '–'} |"
            lines.append(
                f"| {_md(row.stratum)} | {row.population:,} | {row.sampled:,} | {_scored(row)} | "
                f"{format_value(row.estimate.mean, rate)} | {_ci(row.shown, rate)} | "
                f"{format_value(plain.mean, rate)} | {_ci(plain, rate)} | {_worth(row.proxy)} |{extra}"
            )
        lines += ["", ANALYTIC_NOTE, ""]
        return lines + (_markdown_comparison(report.comparison, rate) if report.comparison is not None else [])
    lines += ["| stratum | population | sampled | scored | estimate | CI |", "|---|---:|---:|---:|---:|---|"]
    for row in report.strata:
        lines.append(
            f"| {_md(row.stratum)} | {row.population:,} | {row.sampled:,} | {_scored(row)} | "
            f"{format_value(row.estimate.mean, rate)} | {_ci(row.shown, rate)} |"
        )
    lines += ["", ANALYTIC_NOTE, ""]
    if report.comparison is not None:
        lines += _markdown_comparison(report.comparison, rate)
    return lines


ANALYTIC_NOTE = ("Stratum CIs are analytic (the slice's rate, no finite-population correction); the estimate "
                 "above is descriptive (this window's traces).")


def _scored(row: StratumRow) -> str:
    """The scored count; a stratum judged in full says so (its analytic interval still has a width)."""
    return f"all {row.scored:,} judged" if row.census else f"{row.scored:,}"


def _worth(a: Assisted | None) -> str:
    if a is None or math.isnan(a.worth):
        return "–"
    return f"{a.worth:+,.0f}"


def proxy_summary(report: Report, rate: bool) -> str:
    """One sentence: the plain estimate beside the assisted one, and what the proxy was worth."""
    a, p = report.proxy, report.plain
    if a is None or p is None:
        return ""
    unit = "reviewed" if a.disagreement is not None else "judged"
    what = "two-phase, the judge as proxy" if a.disagreement is not None else "difference estimator"
    lam = ", ".join(f"{v:.3g}" if k == "(all)" else f"{k} {v:.3g}" for k, v in a.lambdas.items())
    worth = "" if math.isnan(a.worth) else f"; as if {a.worth:,.0f} more were {unit}"
    ratio = "" if math.isnan(a.variance_ratio) else f", variance ×{a.variance_ratio:.2f}"
    return (f"With proxy {a.field} ({what}, λ = {lam}{ratio}{worth}). "
            f"Plain estimate: {format_value(p.mean, rate)} (CI {_ci(p, rate)}).")


def _markdown_proxy(report: Report, rate: bool) -> list[str]:
    text = proxy_summary(report, rate)
    if not text:
        return []
    lines = [_md(text), ""]
    versus = judge_vs_humans(report, rate)
    if versus:
        lines += [versus, ""]
    return lines


def judge_vs_humans(report: Report, rate: bool) -> str:
    """One sentence: judge and humans on the reviewed traces (two-phase reports only)."""
    dis = report.proxy.disagreement if report.proxy is not None else None
    if dis is None:
        return ""
    agree = "" if dis.agreement is None else f", agreement {dis.agreement:.1%}"
    return (f"Judge vs humans on {dis.reviewed:,} reviewed traces: judge {format_value(dis.judge, rate)}, "
            f"humans {format_value(dis.human, rate)} (judge − human {format_value(dis.bias, rate, signed=True)}{agree}).")


def review_line(report: Report) -> str:
    """One sentence: how much of the `[review]` subsample has the metric."""
    r = report.review
    if r is None:
        return ""
    return (f"Review subsample: {r.labelled:,} of {r.reviewed:,} traces have a {report.metric!r} label "
            f"({r.share:.0%})" + ("; labels cover it unevenly across strata." if r.uneven else "."))


def _markdown_comparison(c: Comparison, rate: bool) -> list[str]:
    lines = [f"### {_md(c.field)}: {_md(c.b)} vs {_md(c.a)} (delta = {_md(c.b)} − {_md(c.a)})", ""]
    lines += [f"| scope | {_md(c.a)} | {_md(c.b)} | delta | CI | adj. p | |", "|---|---:|---:|---:|---|---:|---|"]
    for d in (c.overall, *c.strata):
        ci = "–" if math.isnan(d.ci_low) else (
            f"{format_value(d.ci_low, rate, signed=True)} – {format_value(d.ci_high, rate, signed=True)}"
        )
        lines.append(
            f"| {_md(d.scope)} | {format_value(d.a.mean, rate)} | {format_value(d.b.mean, rate)} | "
            f"{format_value(d.delta, rate, signed=True)} | {ci} | {_adj(d)} | {_mark(d)} |"
        )
    lines += ["", _md(tested_note(c)), ""]
    if "masked" in c.flags:
        lines += ["**Masked effect:** the global delta is not significant, but some strata moved "
                  "(after the false-discovery-rate control).", ""]
    if "simpson" in c.flags:
        lines += ["**Simpson-like reversal:** some strata moved against the global delta.", ""]
    return lines


def _adj(d: Delta) -> str:
    return format_p(d.p_adjusted)


def tested_note(c: Comparison) -> str:
    """How the strata were tested: analytic deltas, how many strata, the FDR."""
    fdr = f"{(1.0 - c.overall.a.confidence) * 100:g}%"
    return (f"Intervals are analytic (no finite-population correction). {c.tested} strata tested; a stratum moved "
            f"when its Benjamini–Hochberg adjusted p (adj. p) is at most {(1.0 - c.overall.a.confidence):g} "
            f"(false discovery rate {fdr}).")


def _mark(d: Delta) -> str:
    if d.significant:
        return "moved"
    return f"too few judged (< {MIN_COMPARE_SCORED} per group)" if d.too_few else ""


def _markdown_warnings(report: Report) -> list[str]:
    if not report.warnings:
        return []
    return ["### Warnings", ""] + [f"- {w.message}" for w in report.warnings] + [""]


# ---- HTML -----------------------------------------------------------------------

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:980px;color:#1d1d1f;padding:0 1rem}
h1{font-size:1.4rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;margin:.6rem 0;width:100%}
th,td{padding:.3rem .6rem;border-bottom:1px solid #ddd;text-align:right}
th:first-child,td:first-child{text-align:left}
.big{font-size:1.6rem;font-weight:600}.muted{color:#666}
.warn{background:#fff7e0;border-left:4px solid #e0a800;padding:.4rem .8rem;margin:.3rem 0}
.flag{background:#fde8e8;border-left:4px solid #c0392b;padding:.4rem .8rem}
svg text{font:12px system-ui,sans-serif;fill:#333}
"""


def render_html(report: Report, page: ReportPage | None = None) -> str:
    """One self-contained page: summary, interval chart, tables, comparison, warnings."""
    title = f"tracestrata report: {report.metric}"
    body: list[str] = [f"<h1>{html.escape(title)}</h1>"] + ([page.html_top(report)] if page is not None else [])
    if report.labels is not None:
        for label, sub in report.labels.items():
            body += _html_body(sub, f"{report.metric} = {label}", page)
    else:
        body += _html_body(report, None, page)
    if report.warnings:
        body.append("<h2>Warnings</h2>")
        body += [f'<div class="warn">{html.escape(w.message)}</div>' for w in report.warnings]
    if page is not None:
        body.append(page.html_bottom(report))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{html.escape(title)}</title>"
        f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def _html_body(report: Report, heading: str | None, page: ReportPage | None = None) -> list[str]:
    rate = report.kind is not MetricKind.MEAN
    e, n = report.estimate, report.naive
    out = []
    if heading:
        out.append(f"<h2>{html.escape(heading)}</h2>")
    method = METHOD_NAMES.get(e.method.value, e.method.value)
    out.append(
        f'<p><span class="big">{format_value(e.mean, rate)}</span> '
        f"<span class=\"muted\">{_pct(report.confidence)} CI {html.escape(_ci(e, rate))} ({html.escape(method)}); "
        f"{e.n_scored:,} scored of {report.population:,} traces</span></p>"
    )
    summary = proxy_summary(report, rate)
    if summary:
        out.append(f"<p>{html.escape(summary)}</p>")
    for sentence in (judge_vs_humans(report, rate), review_line(report)):
        if sentence:
            out.append(f"<p>{html.escape(sentence)}</p>")
    out.append(
        f'<p class="muted">Naive unweighted sample mean: {format_value(n.mean, rate)} '
        f"(CI {html.escape(_ci(n, rate))})</p>"
    )
    out.append(page.chart(report) if page is not None else interval_chart(report))
    out.append('<p class="muted">● estimate with its interval (shaded: the global interval); '
               "○ naive unweighted sample mean</p>")
    two = report.proxy is not None and report.proxy.disagreement is not None
    out.append("<table><thead><tr><th>stratum</th><th>population</th><th>sampled</th><th>scored</th>"
               "<th>estimate</th><th>CI</th>"
               + ("<th>plain</th><th>plain CI</th><th>worth</th>" if report.proxy is not None else "")
               + ("<th>judge − human</th>" if two else "")
               + "</tr></thead><tbody>")
    for row in report.strata:
        extra = ""
        if report.proxy is not None:
            plain = row.plain_shown
            extra = (f"<td>{format_value(plain.mean, rate)}</td><td>{html.escape(_ci(plain, rate))}</td>"
                     f"<td>{html.escape(_worth(row.proxy))}</td>")
        if two:
            dis = row.proxy.disagreement if row.proxy is not None else None
            extra += f"<td>{format_value(dis.bias, rate, signed=True) if dis else '–'}</td>"
        out.append(
            f"<tr><td>{html.escape(row.stratum)}</td><td>{row.population:,}</td><td>{row.sampled:,}</td>"
            f"<td>{html.escape(_scored(row))}</td><td>{format_value(row.estimate.mean, rate)}</td>"
            f"<td>{html.escape(_ci(row.shown, rate))}</td>{extra}</tr>"
        )
    out.append("</tbody></table>")
    out.append(f'<p class="muted">{html.escape(ANALYTIC_NOTE)}</p>')
    c = report.comparison
    if c is not None:
        out.append(f"<h2>{html.escape(c.field)}: {html.escape(c.b)} vs {html.escape(c.a)}</h2>")
        for flag, text in (("masked", "Masked effect: the global delta is not significant, but some strata moved "
                                      "(after the false-discovery-rate control)."),
                           ("simpson", "Simpson-like reversal: some strata moved against the global delta.")):
            if flag in c.flags:
                out.append(f'<p class="flag">{text}</p>')
        out.append(f"<table><thead><tr><th>scope</th><th>{html.escape(c.a)}</th><th>{html.escape(c.b)}</th>"
                   "<th>delta</th><th>CI</th><th>adj. p</th><th></th></tr></thead><tbody>")
        for d in (c.overall, *c.strata):
            ci = "–" if math.isnan(d.ci_low) else (
                f"{format_value(d.ci_low, rate, signed=True)} – {format_value(d.ci_high, rate, signed=True)}")
            weight = ' style="font-weight:600"' if d.significant else ""
            out.append(
                f"<tr{weight}><td>{html.escape(d.scope)}</td><td>{format_value(d.a.mean, rate)}</td>"
                f"<td>{format_value(d.b.mean, rate)}</td><td>{format_value(d.delta, rate, signed=True)}</td>"
                f"<td>{html.escape(ci)}</td><td>{html.escape(_adj(d))}</td><td>{html.escape(_mark(d))}</td></tr>"
            )
        out.append("</tbody></table>")
        out.append(f'<p class="muted">{html.escape(tested_note(c))}</p>')
    return out


def interval_chart(report: Report, *, width: int = 760) -> str:
    """Inline SVG: one row per stratum (point + interval), the global estimate as a band."""
    rate = report.kind is not MetricKind.MEAN
    rows: Sequence[StratumRow] = report.strata
    label_w, pad, row_h = 220, 16, 22
    height = pad * 2 + row_h * (len(rows) + 1) + 18
    lo, hi = chart_range(report)
    plot_w = width - label_w - pad * 2 - 24  # room for the last tick label

    def x(v: float) -> float:
        return label_w + pad + (v - lo) / (hi - lo) * plot_w

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="per-stratum intervals">']
    g = report.estimate
    if not math.isnan(g.mean):
        if not (math.isnan(g.ci_low) or math.isnan(g.ci_high)):
            parts.append(f'<rect x="{x(g.ci_low):.1f}" y="{pad}" width="{max(1.0, x(g.ci_high) - x(g.ci_low)):.1f}" '
                         f'height="{height - 2 * pad - 18}" fill="#cfe3ff" opacity="0.6"/>')
        parts.append(f'<line x1="{x(g.mean):.1f}" x2="{x(g.mean):.1f}" y1="{pad}" y2="{height - pad - 18}" '
                     'stroke="#1f5fbf" stroke-dasharray="4 3"/>')
    entries = [("global (reweighted)", g, "#1f5fbf")] + [(r.stratum, r.shown, "#333") for r in rows]
    for i, (name, est, color) in enumerate(entries):
        y = pad + row_h * i + row_h / 2
        label = name if len(name) <= 32 else name[:31] + "…"
        parts.append(f'<text x="{label_w}" y="{y + 4:.1f}" text-anchor="end">{html.escape(label)}</text>')
        if math.isnan(est.mean):
            parts.append(f'<text x="{label_w + pad}" y="{y + 4:.1f}" fill="#999">no scores</text>')
            continue
        if not (math.isnan(est.ci_low) or math.isnan(est.ci_high)):
            parts.append(f'<line x1="{x(est.ci_low):.1f}" x2="{x(est.ci_high):.1f}" y1="{y:.1f}" y2="{y:.1f}" '
                         f'stroke="{color}" stroke-width="2"/>')
        parts.append(f'<circle cx="{x(est.mean):.1f}" cy="{y:.1f}" r="4" fill="{color}">'
                     f"<title>{html.escape(name)}: {format_value(est.mean, rate)} ({html.escape(_ci(est, rate))})"
                     "</title></circle>")
    if not math.isnan(report.naive.mean):  # the naive sample mean, hollow, on the global row
        y = pad + row_h / 2
        parts.append(f'<circle cx="{x(report.naive.mean):.1f}" cy="{y:.1f}" r="4" fill="none" stroke="#999" '
                     f'stroke-width="1.5"><title>naive sample mean: {format_value(report.naive.mean, rate)}'
                     "</title></circle>")
    axis_y = height - pad - 12
    parts.append(f'<line x1="{x(lo):.1f}" x2="{x(hi):.1f}" y1="{axis_y}" y2="{axis_y}" stroke="#999"/>')
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        parts.append(f'<text x="{x(v):.1f}" y="{axis_y + 14}" text-anchor="middle">{format_value(v, rate)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_report(report: Report, fmt: str, page: ReportPage | None = None) -> str:
    """`report` as text in one of the report formats: `json` (the stable schema), `md` or `html`;
    `page` adds the context header, alarms, trend and notes (strata then go largest first)."""
    if fmt == "json":
        data = report.to_json() | (page.json_fields() if page is not None else {})
        return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False, default=str) + "\n"
    if page is not None:
        report = sorted_by_population(report)
    if fmt == "html":
        return render_html(report, page)
    if fmt == "md":
        return render_markdown(report, page)
    raise ValueError(f"unknown report format {fmt!r}")
