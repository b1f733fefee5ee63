"""Everything a report page says besides the estimate, from a ledger or a sample directory.

The CLI (`report --ledger`, `report --sample`) and the sync job share these builders, so
the context header, trend, alarms and backend links of a report are made in one place.
Nothing here contacts a backend: links are made from `ui_url`, the project's page in the
backend's UI, when it is given (`[report] ui_url` or `report --ui-url`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl

from tracestrata import __version__
from tracestrata.design import Design
from tracestrata.errors import EstimationError
from tracestrata.estimate.alarm import DEFAULT_ALPHA, DEFAULT_HORIZON, Detection, watch_trends
from tracestrata.estimate.context import ReportContext
from tracestrata.estimate.report import Report
from tracestrata.estimate.report_page import ReportPage, naive_by_stratum
from tracestrata.estimate.trend import Trend, build_trend
from tracestrata.job.ledger import design_from_runs, select_runs
from tracestrata.job.state_rows import RunRow, RunStatus
from tracestrata.job.state import State
from tracestrata.record import Score, format_timestamp

__all__ = ["WatchSettings", "ledger_context", "ledger_page", "sample_context", "watch_ledger"]


@dataclass(frozen=True)
class WatchSettings:
    metrics: tuple[str, ...]
    alpha: float = DEFAULT_ALPHA
    horizon: int = DEFAULT_HORIZON


def _source_parts(source: str | None) -> tuple[str | None, str | None]:
    """(backend, project) from a state source key such as `phoenix?base_url=…&project=support`."""
    if not source:
        return None, None
    backend, _, query = source.partition("?")
    options = dict(parse_qsl(query))
    return backend, options.get("project") or options.get("dataset") or options.get("path")


def _links(backend: str | None, ui_url: str | None, strata: Iterable[str], start: datetime | None,
           end: datetime | None, dimensions: Sequence[str] = ()) -> tuple[dict[str, str], str]:
    if not ui_url or start is None or end is None:
        return {}, ""
    if backend == "phoenix":
        from tracestrata.connectors.phoenix.ui import filtered_spans_url, stratum_filter

        return {s: filtered_spans_url(ui_url.rstrip("/"), stratum_filter(s), start, end) for s in strata}, "Phoenix"
    if backend == "langfuse":  # the stratum's traces in the period (Langfuse has no per-trace sample marker)
        from tracestrata.connectors.langfuse.ui import filtered_traces_url, stratum_filters

        found = {s: stratum_filters(dimensions, s) for s in strata}
        return {s: filtered_traces_url(ui_url.rstrip("/"), f, start, end)
                for s, f in found.items() if f is not None}, "Langfuse"
    return {}, ""


def _judged(design: Design, scores: Iterable[Score], metric: str) -> int:
    sampled = {u.trace_id for u in design.units}
    return len({s.trace_id for s in scores if s.name == metric and s.trace_id in sampled})


def _now(now: datetime | None = None) -> str:
    """When the report was made: the job's `now` (`sync --now`), else the wall clock."""
    return format_timestamp((now or datetime.now(UTC)).replace(microsecond=0))


def ledger_context(
    runs: Sequence[RunRow], state: State, design: Design, scores: Sequence[Score], metric: str, *,
    ui_url: str | None = None, strata: Iterable[str] = (), now: datetime | None = None,
) -> ReportContext:
    start = min((r.window_start for r in runs), default=None)
    end = max((r.window_end for r in runs), default=None)
    digest = runs[-1].policy_digest if runs else None
    policy = state.policy(digest) if digest else None
    source = runs[-1].source if runs else None
    backend, project = _source_parts(source)
    dimensions = [str(d.get("field")) for d in policy.get("strata", [])] if policy else []
    links, label = _links(backend, ui_url, strata, start, end, dimensions)
    return ReportContext(
        generated_at=_now(now), version=__version__,
        period_start=format_timestamp(start) if start else None, period_end=format_timestamp(end) if end else None,
        windows=len(runs), backend=backend, project=project, source=source, policy_digest=digest,
        seed=str(policy["seed"]) if policy and "seed" in policy else None,
        sampled=len(design.units), judged=_judged(design, scores, metric), links=links, link_label=label,
    )


def sample_context(path: Path, design: Design, scores: Sequence[Score], metric: str, *,
                   ui_url: str | None = None) -> ReportContext:
    from tracestrata.sampling.manifest import read_sample_dir

    manifest, _ = read_sample_dir(path)
    data = manifest.to_json()
    window = data.get("window") or {}
    backend, _, location = str(data.get("source") or "").partition(":")
    project = location if backend in ("phoenix", "langfuse") and location else None
    start, end = window.get("start"), window.get("end")
    links, label = ({}, "")
    if start and end:
        from tracestrata.record import parse_timestamp

        links, label = _links(backend, ui_url, sorted({c.stratum for c in design.cells}),
                              parse_timestamp(start), parse_timestamp(end), manifest.dimensions)
    return ReportContext(
        generated_at=_now(), version=__version__, period_start=start, period_end=end, windows=1 if start else None,
        backend=backend or None, project=project, source=str(data.get("source") or "") or None,
        policy_digest=str(data.get("policy_digest") or "") or None, seed=str(data.get("seed") or "") or None,
        sampled=len(design.units), judged=_judged(design, scores, metric), links=links, link_label=label,
    )


def watch_ledger(state_path: str | Path, settings: WatchSettings, *, until: datetime | None = None,
                 source: str | None = None) -> tuple[list[Detection], list[Trend]]:
    """Every watched metric's per-day series over the whole latest series of the ledger, and its detections."""
    with State(Path(state_path), create=False) as state:
        runs = select_runs(state.runs(status=RunStatus.DONE), since=None, until=until, source=source)
        design = design_from_runs(state, runs)
        scores = state.scores([u.trace_id for u in design.units])
    trends = []
    for metric in settings.metrics:
        if not any(s.name == metric for s in scores):
            continue
        try:
            trends.append(build_trend(design, scores, metric, by="day"))
        except EstimationError:
            continue  # labels: nothing to watch as a rate or mean
    return watch_trends(trends, alpha=settings.alpha, horizon=settings.horizon), trends


def ledger_page(
    state_path: str | Path, report: Report, design: Design, scores: Sequence[Score], *,
    since: timedelta | None, until: datetime | None, source: str | None = None, by: str | None = None,
    watch: WatchSettings | None = None, ui_url: str | None = None, now: datetime | None = None,
) -> ReportPage:
    """The page around `report` (over `design`, the ledger's windows in the period)."""
    with State(Path(state_path), create=False) as state:
        runs = select_runs(state.runs(status=RunStatus.DONE), since=since, until=until, source=source)
        context = ledger_context(runs, state, design, scores, report.metric, ui_url=ui_url,
                                 strata=[r.stratum for r in report.strata], now=now)
    trend = None
    if by and report.labels is None:  # labels have no single series to draw
        trend = build_trend(design, scores, report.metric, by=by, confidence=report.confidence)
    alarms = None
    if watch is not None and watch.metrics:
        alarms, _ = watch_ledger(state_path, watch, until=until, source=source)
    return ReportPage(context, trend, alarms, watch.alpha if watch else DEFAULT_ALPHA,
                      watch.horizon if watch else DEFAULT_HORIZON, naive_by_stratum(design, scores, report.metric))


def sample_page(path: Path, report: Report, design: Design, scores: Sequence[Score], *,
                ui_url: str | None = None) -> ReportPage:
    context = sample_context(path, design, scores, report.metric, ui_url=ui_url)
    return ReportPage(context, naive=naive_by_stratum(design, scores, report.metric))
