"""`tracestrata report`: what the judged sample says about the whole population."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

import click

from tracestrata.cli.options import choice_option, parse_period, parse_when, skip_bad_option
from tracestrata.connectors import split_source_spec
from tracestrata.design import Design, Unit
from tracestrata.estimate.estimators import LonelyCell
from tracestrata.estimate.intervals import IntervalMethod
from tracestrata.estimate.proxy import Tuning
from tracestrata.estimate.render import render_report
from tracestrata.estimate.report import (
    ReportWarning,
    build_report,
)
from tracestrata.io.atomic import atomic_write_text
from tracestrata.io.jsonl import read_scores_jsonl
from tracestrata.record import Score


@click.command("report")
@click.option("--sample", "sample_dir", type=click.Path(file_okay=False), help="A sample directory written by `tracestrata sample`.")
@click.option("--ledger", "ledger_path", type=click.Path(dir_okay=False), help="A sync state file: report over its windows.")
@click.option("--since", help="With --ledger: windows ending in the last DURATION (e.g. 7d, 24h); default all.")
@click.option("--until", help="With --ledger: the end of the period (ISO 8601; default now).")
@click.option("--scores", help="Score JSONL: jsonl:PATH, one {trace_id, name, value} per line (default with --ledger: its stored scores).")
@click.option("--metric", required=True, help="The score name to report, e.g. correct.")
@click.option("--format", "fmt", type=click.Choice(["md", "json", "html"]), default="md", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), help="Write here (atomically) instead of standard output.")
@click.option("--confidence", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.95, show_default=True)
@click.option("--compare", "compare", help="A field with two values (e.g. release, metadata.model): each group and the delta, per stratum and globally.")
@choice_option(
    "--lonely",
    LonelyCell,
    LonelyCell.ADJUST,
    "A cell with a single score: adjust (conservative variance), certainty (no variance), error.",
)
@click.option(
    "--rate-interval",
    type=click.Choice([IntervalMethod.KORN_GRAUBARD.value, IntervalMethod.KORN_GRAUBARD_TRUNCATED.value]),
    default=IntervalMethod.KORN_GRAUBARD.value,
    show_default=True,
    help="Global interval of a rate: Korn–Graubard as R's svyciprop, or with the design effect capped at 1 "
    "(wider, safer for rare rates).",
)
@click.option(
    "--proxy",
    help="A cheap score known on every trace (a field with totals in the manifest, e.g. scores.heuristic), or "
    "score:NAME, a judge score calibrated by METRIC's human labels (two-phase): a narrower honest interval.",
)
@choice_option("--proxy-tuning", Tuning, Tuning.POOLED, "With --proxy: one λ for all cells (pooled), per stratum, or per cell.")
@skip_bad_option("Skip malformed score lines (counted in the warnings) instead of failing.")
@click.option("--by", type=click.Choice(["day", "window"]), help="With --ledger: also each stratum's estimate per day or per window (a trend).")
@click.option("--watch", is_flag=True, help="With --ledger: watch METRIC in every stratum for a change against its own history (alarms with a controlled false-alarm rate; docs/trends.md).")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05, show_default=True, help="With --watch: the chance of any false alarm over the horizon, all strata together.")
@click.option("--ui-url", help="The project's page in the backend UI (e.g. http://localhost:6006/projects/UHJvamVjdDox): each stratum links to its filtered view.")
def command(
    sample_dir: str | None,
    ledger_path: str | None,
    since: str | None,
    until: str | None,
    scores: str | None,
    metric: str,
    fmt: str,
    out: str | None,
    confidence: float,
    compare: str | None,
    lonely: str,
    rate_interval: str,
    proxy: str | None,
    proxy_tuning: str,
    skip_bad: bool,
    by: str | None,
    watch: bool,
    alpha: float,
    ui_url: str | None,
) -> None:
    """Estimate METRIC for the whole population from the judged sample.

    Prints the reweighted global estimate with its interval (Korn–Graubard for
    rates, t for means), the naive sample mean beside it, one row per stratum, and
    warnings for everything not used as-is. `--format json` is the stable schema
    of docs/report.md.

    \b
    Examples:
      tracestrata report --sample run/ --scores jsonl:scores.jsonl --metric correct
      tracestrata report --sample run/ --scores jsonl:scores.jsonl --metric quality --compare release --format html --out r.html
      tracestrata report --ledger state.db --since 7d --metric correct
      tracestrata report --ledger state.db --since 30d --metric correct --by day --watch --format html --out r.html
      tracestrata report --sample run/ --scores jsonl:scores.jsonl --metric correct --proxy scores.heuristic
      tracestrata report --sample run/ --scores jsonl:scores.jsonl --metric human_correct --proxy score:correct
    """
    if (sample_dir is None) == (ledger_path is None):
        raise click.UsageError("give exactly one of --sample DIR or --ledger STATE")
    if ledger_path is None and (since or until or by or watch):
        raise click.UsageError("--since, --until, --by and --watch go with --ledger")
    extra: list[ReportWarning] = []
    if sample_dir is not None:
        if scores is None:
            raise click.UsageError("--sample needs --scores jsonl:PATH")
        design = sample_design(Path(sample_dir))
        score_list = _read_scores(scores, skip_bad, extra)
    else:
        design, stored = ledger_design(ledger_path, since, until)  # type: ignore[arg-type]
        score_list = _read_scores(scores, skip_bad, extra) if scores else stored
    report = build_report(
        design, score_list, metric, confidence=confidence, compare=compare, lonely=LonelyCell(lonely),
        rate_interval=IntervalMethod(rate_interval), proxy=proxy, tuning=Tuning(proxy_tuning),
    )
    if extra:
        report = dataclasses.replace(report, warnings=tuple(extra) + report.warnings)
    if ledger_path is not None:
        from tracestrata.job.report_page import WatchSettings, ledger_page

        page = ledger_page(
            ledger_path, report, design, score_list, since=parse_period(since or None, "--since"),
            until=parse_when(until, "--until") if until else None, by=by,
            watch=WatchSettings((metric,), alpha=alpha) if watch else None, ui_url=ui_url,
        )
    else:
        from tracestrata.job.report_page import sample_page

        page = sample_page(Path(sample_dir), report, design, score_list, ui_url=ui_url)  # type: ignore[arg-type]
    text = render_report(report, fmt, page)
    if out:
        atomic_write_text(out, text)
        click.echo(f"wrote {out} ({len(report.warnings)} warnings)", err=True)
    else:
        click.echo(text, nl=False)



def sample_design(path: Path) -> Design:
    """The sample directory's design; each unit carries its whole `sample.jsonl` row, so
    `--compare` can group by any record field (`release`, `metadata.x`, ...)."""
    from tracestrata.sampling.manifest import read_sample_dir

    manifest, rows = read_sample_dir(path)
    design = manifest.design(rows)
    units = tuple(
        Unit(unit.trace_id, unit.cell, {**row, **unit.attrs}, unit.proxy)
        for unit, row in zip(design.units, rows, strict=True)
    )
    return Design(design.cells, units)


def ledger_design(path: str, since: str | None, until: str | None) -> tuple[Design, list[Score]]:
    from tracestrata.job.ledger import design_from_ledger

    window = parse_period(since or None, "--since")
    end: datetime | None = parse_when(until, "--until") if until else None
    return design_from_ledger(path, since=window, until=end)


def _read_scores(value: str, skip_bad: bool, warnings: list[ReportWarning]) -> list[Score]:
    kind, path = split_source_spec(value, "--scores")
    if kind != "jsonl":
        raise click.BadParameter(f"expected jsonl:PATH, got {kind!r}", param_hint="--scores")
    scores, bad = read_scores_jsonl(path, skip_bad=skip_bad)
    if bad:
        warnings.append(ReportWarning(
            "bad_score_lines", f"{bad} malformed lines in {path} were skipped (--skip-bad)", {"count": bad, "path": path}
        ))
        click.echo(f"tracestrata: skipped {bad} malformed score lines in {path}", err=True)
    return scores
