"""`tracestrata report`: what the judged sample says about the whole population."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tracestrata.cli.options import (
    choice_option,
    export_options,
    parse_period,
    parse_when,
    parse_window,
    skip_bad_option,
    source_options,
)
from tracestrata.connectors import split_source_spec
from tracestrata.estimate.estimators import LonelyCell
from tracestrata.estimate.evaluator import evaluator_report
from tracestrata.estimate.intervals import IntervalMethod
from tracestrata.estimate.proxy import Tuning
from tracestrata.estimate.render import render_report
from tracestrata.estimate.score_file import read_report_scores
from tracestrata.estimate.report import (
    ReportWarning,
    build_report,
)
from tracestrata.io.atomic import atomic_write_text
from tracestrata.job.ledger import design_from_ledger
from tracestrata.protocols import Window
from tracestrata.record import Score
from tracestrata.sampling.manifest import read_sample_design

if TYPE_CHECKING:
    from tracestrata.design import Design
    from tracestrata.estimate.evaluator import EvaluatorScope
    from tracestrata.evaluators.design import EvaluatorDesign


@click.command("report")
@click.option("--sample", "sample_dir", type=click.Path(file_okay=False), help="A sample directory written by `tracestrata sample`.")
@click.option("--ledger", "ledger_path", type=click.Path(dir_okay=False), help="A sync state file: report over its windows.")
@click.option(
    "--evaluator",
    metavar="NAME",
    help="A Langfuse evaluator declared in --policy ([[evaluator]]): report its scores as the Bernoulli sample "
    "they are (needs --source, --policy, --scores; see docs/evaluators.md).",
)
@click.option("--source", "source_spec", metavar="KIND:LOCATION", help="With --evaluator: the traces of the window, "
              "counted by stratum (jsonl:PATH, parquet:GLOB, duckdb:GLOB).")
@click.option("--policy", "policy_path", type=click.Path(dir_okay=False), help="With --evaluator: the policy that "
              "declares it and whose strata the report uses.")
@click.option("--since", help="With --ledger: windows ending in the last DURATION (e.g. 7d, 24h); default all. "
              "With --evaluator: traces at or after this time (ISO 8601).")
@click.option("--until", help="With --ledger: the end of the period (ISO 8601; default now). "
              "With --evaluator: traces before this time.")
@click.option("--scores", help="Score JSONL: jsonl:PATH, one {trace_id, name, value} per line (default with --ledger: its stored scores).")
@click.option("--metric", help="The score name to report, e.g. correct (required; with --evaluator: its name).")
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
@skip_bad_option("Skip malformed score lines (and, with --evaluator, trace lines), counted in the warnings, "
                 "instead of failing.")
@export_options
@click.option("--by", type=click.Choice(["day", "window"]), help="With --ledger: also each stratum's estimate per day or per window (a trend).")
@click.option("--watch", is_flag=True, help="With --ledger: watch METRIC in every stratum for a change against its own history (alarms with a controlled false-alarm rate; docs/trends.md).")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05, show_default=True, help="With --watch: the chance of any false alarm over the horizon, all strata together.")
@click.option("--ui-url", help="The project's page in the backend UI (e.g. http://localhost:6006/projects/UHJvamVjdDox, https://cloud.langfuse.com/project/<projectId>): each stratum links to its filtered view.")
def command(
    sample_dir: str | None,
    ledger_path: str | None,
    evaluator: str | None,
    source_spec: str | None,
    policy_path: str | None,
    since: str | None,
    until: str | None,
    scores: str | None,
    metric: str | None,
    fmt: str,
    out: str | None,
    confidence: float,
    compare: str | None,
    lonely: str,
    rate_interval: str,
    proxy: str | None,
    proxy_tuning: str,
    skip_bad: bool,
    schema: str | None,
    columns: tuple[str, ...],
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
      tracestrata report --evaluator correct --source jsonl:traces.jsonl --policy policy.toml --scores jsonl:scores.jsonl
    """
    mode = _Mode(sample_dir, ledger_path, evaluator, source_spec, policy_path, since, until)
    metric = _check_modes(mode, metric, by, watch)
    extra: list[ReportWarning] = []
    design, scope, score_list = _design_and_scores(mode, scores, skip_bad, extra, source_options(schema, columns))
    options = dict(confidence=confidence, compare=compare, lonely=LonelyCell(lonely),
                   rate_interval=IntervalMethod(rate_interval), proxy=proxy, tuning=Tuning(proxy_tuning))
    if scope is not None:
        report = evaluator_report(design, scope, score_list, metric=metric, **options)
    else:
        report = build_report(design, score_list, metric, **options)  # type: ignore[arg-type]
    if extra:
        report = dataclasses.replace(report, warnings=tuple(extra) + report.warnings)
    if ledger_path is not None:
        from tracestrata.job.report_page import WatchSettings, ledger_page

        period, end = _ledger_period(since, until)
        page = ledger_page(
            ledger_path, report, design, score_list, since=period, until=end, by=by,
            watch=WatchSettings((metric,), alpha=alpha) if watch else None, ui_url=ui_url,
        )
    elif sample_dir is not None:
        from tracestrata.job.report_page import sample_page

        page = sample_page(Path(sample_dir), report, design, score_list, ui_url=ui_url)
    else:
        page = None  # --evaluator: the evaluator report states its own scope
    text = render_report(report, fmt, page)
    if out:
        atomic_write_text(out, text)
        click.echo(f"wrote {out} ({len(report.warnings)} warnings)", err=True)
    else:
        click.echo(text, nl=False)


@dataclasses.dataclass(frozen=True)
class _Mode:
    """What the report reads: --sample DIR, --ledger STATE or --evaluator NAME, and their options."""

    sample_dir: str | None
    ledger_path: str | None
    evaluator: str | None
    source_spec: str | None
    policy_path: str | None
    since: str | None
    until: str | None


def _check_modes(mode: _Mode, metric: str | None, by: str | None, watch: bool) -> str:
    """The options of the one mode given (--sample, --ledger or --evaluator) fit it; the metric reported."""
    sample_dir, ledger_path, evaluator = mode.sample_dir, mode.ledger_path, mode.evaluator
    source_spec, policy_path, since, until = mode.source_spec, mode.policy_path, mode.since, mode.until
    if sum(x is not None for x in (sample_dir, ledger_path, evaluator)) != 1:
        raise click.UsageError("give exactly one of --sample DIR, --ledger STATE or --evaluator NAME")
    if evaluator is None and (source_spec or policy_path):
        raise click.UsageError("--source and --policy go with --evaluator")
    if sample_dir is not None and (since or until):
        raise click.UsageError("--since and --until go with --ledger or --evaluator")
    metric = metric or evaluator
    if metric is None:
        raise click.UsageError("Missing option '--metric'.")
    if ledger_path is None and (by or watch):
        raise click.UsageError("--by and --watch go with --ledger")
    return metric


def _ledger_period(since: str | None, until: str | None) -> tuple[timedelta | None, datetime | None]:
    """--since DURATION and --until TIME of a ledger report."""
    return parse_period(since or None, "--since"), (parse_when(until, "--until") if until else None)


def _design_and_scores(
    mode: _Mode, scores: str | None, skip_bad: bool, extra: list[ReportWarning], options: dict[str, str | dict[str, str]]
) -> tuple[Design, EvaluatorScope | None, list[Score]]:
    """The design the mode reads, the evaluator's scope (--evaluator only) and the scores."""
    sample_dir, ledger_path, evaluator = mode.sample_dir, mode.ledger_path, mode.evaluator
    source_spec, policy_path, since, until = mode.source_spec, mode.policy_path, mode.since, mode.until
    if evaluator is not None:
        if source_spec is None or policy_path is None or scores is None:
            raise click.UsageError("--evaluator needs --source KIND:LOCATION, --policy FILE and --scores jsonl:PATH")
        built = _evaluator_design(evaluator, source_spec, Path(policy_path), parse_window(since, until), skip_bad,
                                  extra, options)
        return built.design, built.scope, _read_scores(scores, skip_bad, extra)
    if sample_dir is not None:
        if scores is None:
            raise click.UsageError("--sample needs --scores jsonl:PATH")
        design = read_sample_design(Path(sample_dir))
        return design, None, _read_scores(scores, skip_bad, extra)
    assert ledger_path is not None  # exactly one of the three, checked before
    period, end = _ledger_period(since, until)
    design, stored = design_from_ledger(ledger_path, since=period, until=end)
    return design, None, _read_scores(scores, skip_bad, extra) if scores else stored


def _evaluator_design(
    name: str,
    source_spec: str,
    policy_path: Path,
    window: Window | None,
    skip_bad: bool,
    warnings: list[ReportWarning],
    options: dict[str, str | dict[str, str]],
) -> EvaluatorDesign:
    """The evaluator's sample over the source's window, stratified by the policy that declares it."""
    from tracestrata.connectors import open_trace_source
    from tracestrata.evaluators.design import report_evaluator_design
    from tracestrata.policy.parse import load_policy

    source, _ = open_trace_source(source_spec, skip_bad=skip_bad, options=options)
    built, said = report_evaluator_design(source, load_policy(policy_path), name, window, source_label=source_spec)
    warnings.extend(said)
    return built


def _read_scores(value: str, skip_bad: bool, warnings: list[ReportWarning]) -> list[Score]:
    kind, path = split_source_spec(value, "--scores")
    if kind != "jsonl":
        raise click.BadParameter(f"expected jsonl:PATH, got {kind!r}", param_hint="--scores")
    scores, warning = read_report_scores(path, skip_bad=skip_bad)
    if warning is not None:
        warnings.append(warning)
        click.echo(f"tracestrata: skipped {warning.details['count']} malformed score lines in {path}", err=True)
    return scores
