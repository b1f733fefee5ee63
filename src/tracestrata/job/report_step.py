"""The report step of a scheduled run: refresh the reports over the reporting period (one per
metric and format, plus the review list) when anything changed or the report settings did."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tracestrata.design import Design
from tracestrata.errors import EstimationError, FatalSourceError, RetriableSourceError
from tracestrata.io.atomic import atomic_write_text
from tracestrata.job.config import SyncConfig
from tracestrata.job.run_context import RunContext
from tracestrata.protocols import LinksReview, Window
from tracestrata.record import Score, parse_timestamp

if TYPE_CHECKING:  # imported where used: a run without reports never loads them
    from tracestrata.estimate.report import Report, ReportWarning
    from tracestrata.estimate.report_page import ReportPage
    from tracestrata.job.report_page import WatchSettings

PageFor = Callable[["Report"], "ReportPage"]
"""Builds the page (context, trend, alarms, links) a report carries, once the report is built."""


def refresh_reports(ctx: RunContext) -> None:
    cfg = ctx.config
    if not (cfg.metric or cfg.report_metrics) or not cfg.report_formats:
        return
    last = ctx.state.get_cursor(ctx.source, "reports_written")
    settings = _report_settings_digest(cfg)
    if last is not None and not (ctx.outcome.windows or ctx.outcome.scores_changed):
        written = _written_reports(last, settings)
        if written is not None and all(Path(p).exists() for p in written):
            ctx.log.detail("skip", "reports: up to date")
            return
    from tracestrata.job.ledger import design_from_ledger

    design, scores = design_from_ledger(cfg.state, since=cfg.report_period, until=ctx.now, source=ctx.source)
    if not design.cells:
        ctx.log.detail("skip", "reports: no finished window in the period yet")
        return
    reported = []
    for n, metric in enumerate(cfg.report_metrics or (cfg.metric,)):
        # a human label calibrating a judge: the two-phase estimate; [report] proxy: the main metric's
        proxy = f"score:{cfg.label_judges[metric]}" if metric in cfg.label_judges else (
            cfg.report_proxy if metric == cfg.metric else None)
        try:
            texts = render_reports(design, scores, metric, cfg.report_formats, confidence=cfg.confidence,
                                   proxy=proxy, page_for=page_for(ctx, design, scores),
                                   warnings=judge_failed_warnings(ctx, metric))
        except EstimationError as exc:
            if any(s.name == metric for s in scores):  # the metric's own scores cannot be reported (mixed kinds)
                ctx.log.warn("report", f"report {metric} not refreshed: {exc}")
            else:
                ctx.log.detail("skip", f"report {metric}: not yet ({exc})")
            continue
        stem = "report" if n == 0 else f"report-{_file_part(metric)}"
        for fmt, text in texts.items():
            path = cfg.report_dir / f"{stem}.{fmt}"
            atomic_write_text(path, text)
            ctx.outcome.reports.append(path)
        reported.append(metric + (" (two-phase)" if proxy and proxy.startswith("score:") else ""))
    review = write_review_list(ctx, design, scores)
    if review is not None:
        ctx.outcome.reports.append(review)
    if not reported:
        return
    ctx.state.set_cursor(ctx.source, "reports_written", json.dumps(
        {"settings": settings, "paths": [str(p) for p in ctx.outcome.reports]}))
    windows = len({c.window for c in design.cells})
    ctx.log.change(
        "report",
        f"report: {', '.join(reported)} over {windows} windows -> {', '.join(str(p) for p in ctx.outcome.reports)}",
    )


def judge_failed_warnings(ctx: RunContext, metric: str) -> tuple[ReportWarning, ...]:
    """The counts of sampled traces the judge failed on (or stopped before) and of those its budget
    deferred (not a failure), for the report of `metric` when it is the judge's score, or a label
    whose two-phase estimate the judge calibrates."""
    judge = ctx.config.judge
    if judge is None or judge.name not in (metric, ctx.config.label_judges.get(metric)):
        return ()
    from tracestrata.estimate.report import ReportWarning
    from tracestrata.job.judge_step import deferred_cursor, failed_cursor

    why = {
        "judge_failed": (failed_cursor, "sampled traces are unscored because the judge failed on them (429s, "
                         "timeouts or answers that did not parse, past the retries) or stopped before them; "
                         "the next run tries them again"),
        "judge_deferred": (deferred_cursor, "sampled traces are not judged yet: the judge's call budget "
                           "(max_calls_per_run, max_calls_per_day) left them for a later run"),
    }
    counts = {code: len(json.loads(ctx.state.get_cursor(ctx.source, cursor(judge.name)) or "[]"))
              for code, (cursor, _) in why.items()}
    return tuple(ReportWarning(code, f"{n} {why[code][1]}", {"count": n}) for code, n in counts.items() if n)


def page_for(ctx: RunContext, design: Design, scores: Sequence[Score]) -> PageFor:
    """The report page (context, trend, alarms, links) the job's reports carry."""
    cfg = ctx.config

    def build(report: Report) -> ReportPage:
        from tracestrata.job.report_page import ledger_page

        return ledger_page(cfg.state, report, design, scores, since=cfg.report_period, until=ctx.now,
                           source=ctx.source, by=cfg.report_by, watch=watch_settings(cfg),
                           ui_url=ui_url(ctx), now=ctx.now)

    return build


def ui_url(ctx: RunContext) -> str | None:
    """`[report] ui_url`, else the Phoenix or Langfuse project's page (the job talks to it anyway):
    the report links each stratum to its filtered span (Phoenix) or trace (Langfuse) view."""
    if ctx.config.report_ui_url or ctx.config.source_type not in ("phoenix", "langfuse"):
        return ctx.config.report_ui_url
    if ctx.config.source_type == "langfuse":
        from tracestrata.connectors.langfuse import LangfuseConnector

        if not isinstance(ctx.connector, LangfuseConnector):
            return None
        try:  # the client retries under [retry]; a refusal costs the links, not the report
            return ctx.connector.project_url()
        except (FatalSourceError, RetriableSourceError) as exc:
            ctx.log.detail("skip", f"report links: no Langfuse project page ({exc})")
            return None
    from tracestrata.connectors.phoenix import PhoenixConnector

    connector = ctx.connector
    if not isinstance(connector, PhoenixConnector):
        return None
    return ctx.retry("finding the Phoenix project", connector.project_url)  # no login: it goes into reports


def write_review_list(ctx: RunContext, design: Design, scores: Sequence[Score]) -> Path | None:
    """`<report dir>/review.md`: the review subsample in review order (review_list.py)."""
    if ctx.policy.review is None:
        return None
    from tracestrata.job.review_list import render_review_list, review_rows

    rows = review_rows(design, ctx.policy)
    labels = [label.name for label in ctx.config.labels]
    labelled = {s.trace_id for s in scores if s.name in labels} if labels else set()
    links = ctx.connector if isinstance(ctx.connector, LinksReview) else None
    filtered = None
    if links is not None and rows:
        starts = sorted(c.window for c in design.cells if c.window)
        first, last = starts[0].split("/")[0], starts[-1].split("/")[1]
        filtered = links.review_url(Window(parse_timestamp(first), parse_timestamp(last)))
    text = render_review_list(
        rows, labelled, labels=labels, filtered_url=filtered,
        trace_url=links.trace_url if links is not None else (lambda _: None),
    )
    path = ctx.config.report_dir / "review.md"
    atomic_write_text(path, text)
    return path


def watch_settings(cfg: SyncConfig) -> WatchSettings | None:
    from tracestrata.job.report_page import WatchSettings

    return WatchSettings(cfg.watch, alpha=cfg.alert_alpha, horizon=cfg.alert_horizon) if cfg.watch else None


def _report_settings_digest(cfg: SyncConfig) -> str:
    """A digest of everything in the config that changes what the reports say or where they go
    ([report] metrics, formats, proxy, confidence, by, ...): a change writes them again."""
    settings = {
        "metric": cfg.metric, "metrics": list(cfg.report_metrics), "formats": list(cfg.report_formats),
        "dir": str(cfg.report_dir), "period": cfg.report_period.total_seconds(), "confidence": cfg.confidence,
        "proxy": cfg.report_proxy, "evaluator": cfg.report_evaluator, "by": cfg.report_by,
        "ui_url": cfg.report_ui_url, "label_judges": dict(sorted(cfg.label_judges.items())),
        "watch": list(cfg.watch), "alpha": cfg.alert_alpha, "horizon": cfg.alert_horizon,
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def _written_reports(cursor: str, settings: str) -> list[str] | None:
    """The `reports_written` cursor's files; None when they were written under other report settings
    (or from an older cursor, or a value edited into nonsense): "write them again"."""
    try:
        value = json.loads(cursor)
    except ValueError:
        return None
    if not isinstance(value, dict) or value.get("settings") != settings:
        return None
    paths = value.get("paths")
    return [str(p) for p in paths] if isinstance(paths, list) and all(isinstance(p, str) and p for p in paths) else None


def render_reports(
    design: Design,
    scores: Iterable[Score],
    metric: str,
    formats: Sequence[str],
    *,
    confidence: float = 0.95,
    proxy: str | None = None,
    page_for: PageFor | None = None,
    warnings: Sequence[ReportWarning] = (),
) -> dict[str, str]:
    """The report over `design` in each of `formats` (json, md, html), as text; `proxy` as `report --proxy`;
    `warnings` (`ReportWarning`s) added to the report's own."""
    import dataclasses

    from tracestrata.estimate.render import render_report
    from tracestrata.estimate.report import build_report

    report = build_report(design, list(scores), metric, confidence=confidence, proxy=proxy)
    page = page_for(report) if page_for is not None else None
    if warnings:
        report = dataclasses.replace(report, warnings=(*report.warnings, *warnings))
    out: dict[str, str] = {}
    for fmt in formats:
        out[fmt] = render_report(report, fmt, page)
    return out


def _file_part(name: str) -> str:
    """A metric name as part of a file name (letters, digits, `-`, `_`, `.` kept)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "metric"


__all__ = ["PageFor", "refresh_reports", "render_reports", "watch_settings"]
