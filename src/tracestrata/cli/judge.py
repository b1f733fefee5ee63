"""`tracestrata judge`: judge a sample with your own judge, writing each score where `sync` reads it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tracestrata.cli.options import now_option, parse_when, window_options
from tracestrata.errors import InputError, RetriableSourceError
from tracestrata.io.jsonl import iter_jsonl
from tracestrata.protocols import SampleItem, Window, item_id_for
from tracestrata.record import TraceRecord

if TYPE_CHECKING:
    from tracestrata.judging.runner import JudgeOutcome

EXIT_CODES = """\b
Exit codes:
  0  done (traces a judge raised on are counted in the summary line
     and left unscored for the next run)
  2  bad option, config or sample; the judge cannot be imported; its
     key variable is not set
  3  the backend or the judge endpoint refused the credentials
  4  partial: the backend, or the judge endpoint on some traces (429s,
     timeouts, unreachable), failed past its retries; scores written
     so far stay, the next run continues
  5  another run holds the state store"""


@click.command("judge", epilog=EXIT_CODES)
@click.option(
    "--sample",
    "sample_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="A sample directory written by `tracestrata sample` (scores go to --out).",
)
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="A sync config: judge what the job sampled; scores go back to its backend.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="With --sample: the score JSONL to write.")
@click.option(
    "--bodies",
    type=click.Path(exists=True, path_type=Path),
    help="With --sample: the trace JSONL file or folder the sample was drawn from, whose lines' input and "
    "output fields the judge reads (default: the sampled record itself).",
)
@click.option(
    "--judge",
    "judge_spec",
    metavar="SPEC",
    help="module:function (sync or async), phoenix-evals:module:evaluator, or a judge TOML file (an LLM over "
    "an OpenAI-compatible endpoint). With --sample and no --judge: the simulated judge (synthetic traces only).",
)
@click.option("--name", help="The score's name. A trace that has a score of this name is not judged again.")
@click.option("--concurrency", type=click.IntRange(1, 512), help="Judge calls in flight at once [default: 8].")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), help="Seconds per judge call [default: 60].")
@click.option("--max-calls", type=click.IntRange(min=0), help="At most this many traces judged in this run.")
@click.option(
    "--window",
    "window_keys",
    multiple=True,
    metavar="START/END",
    help="With --config: judge this sync window (as the sync log prints it, e.g. "
    "2026-11-23T13:00:00Z/2026-11-23T14:00:00Z); repeatable. Default: the reporting period.",
)
@window_options
@now_option("Pretend it is this time (UTC): which reporting period --config judges.")
@click.option(
    "--coverage",
    type=click.FloatRange(0, 1),
    default=0.9,
    show_default=True,
    help="Simulated judge: share of sampled traces it gets to (the rest stay unscored, as in real life).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Simulated judge: its seed.")
@click.option(
    "--humans",
    metavar="NAME",
    help="Simulated judge: also play the human reviewers: a score NAME (stricter than the judge on failures) on "
    "every judged trace the sample marks for review (a policy with [review]).",
)
def command(
    sample_dir: Path | None,
    config_path: Path | None,
    out: Path | None,
    bodies: Path | None,
    judge_spec: str | None,
    name: str | None,
    concurrency: int | None,
    timeout: float | None,
    max_calls: int | None,
    window_keys: tuple[str, ...],
    window: Window | None,
    now: datetime | None,
    coverage: float,
    seed: int,
    humans: str | None,
) -> None:
    """Judge exactly the sampled traces that have no score of that name yet, and write the scores back.

    With --sample DIR --out FILE: the traces of a sample directory, scores appended to FILE
    (what `report --scores jsonl:FILE` reads). With --config: what the sync job sampled in its
    reporting period (or --since/--until), scores written where `sync` reads them (files:
    scores_path; Phoenix: trace annotations; Langfuse: scores). A rerun judges only what is
    still unscored, so a killed run is finished by the next one. See docs/judge.md.

    \b
    Examples:
      tracestrata judge --sample run/ --out scores.jsonl                  # simulated judge
      tracestrata judge --sample run/ --judge myjudges:correct --name correct --out scores.jsonl
      tracestrata judge --config sync.toml --judge judge.toml --name correct
    """
    if coverage != coverage:  # NaN passes every range check
        raise click.BadParameter("expected a share between 0 and 1, got nan", param_hint="--coverage")
    if humans is not None and not humans.strip():
        raise click.BadParameter("expected a score name, got an empty one", param_hint="--humans")
    if (sample_dir is None) == (config_path is None):
        raise click.UsageError("give either --sample DIR (with --out) or --config SYNC.toml")
    asked = Asked(judge_spec, name, concurrency, timeout, max_calls)
    if sample_dir is not None:
        if out is None:
            raise click.UsageError("--sample needs --out FILE (the score JSONL to write)")
        _judge_sample(sample_dir, out, asked, bodies, coverage, seed, humans)
    else:
        assert config_path is not None
        windows = [parse_window_key(key) for key in window_keys] + ([window] if window else [])
        _judge_config(config_path, asked, windows, now)


@dataclass(frozen=True)
class Asked:
    """The judge options given on the command line (None: not given)."""

    spec: str | None
    name: str | None
    concurrency: int | None
    timeout: float | None
    max_calls: int | None


def parse_window_key(key: str) -> Window:
    """`START/END` (ISO 8601, as `Window.key` prints it) as a window, or a usage error naming --window."""
    start, sep, end = key.partition("/")
    if not sep:
        raise click.BadParameter(f"expected START/END, got {key!r}", param_hint="--window")
    try:
        return Window(parse_when(start, "--window"), parse_when(end, "--window"))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--window") from None


def _sample_items(sample_dir: Path) -> tuple[list[SampleItem], set[str]]:
    """The sample's traces as items, and the ids the sample marks for review."""
    sample_path = sample_dir / "sample.jsonl"
    if not sample_path.exists():
        raise InputError("no sample.jsonl here; run `tracestrata sample` first", path=str(sample_dir))
    items: list[SampleItem] = []
    review: set[str] = set()
    for number, data in iter_jsonl(sample_path):
        record = TraceRecord.from_json(data, path=str(sample_path), line=number)
        if data.get("review") is True:
            review.add(record.id)
        items.append(
            SampleItem(
                item_id=item_id_for(f"sample:{sample_dir}", None, record.id),
                record=record,
                stratum=str(data.get("stratum", "")),
                values=dict(data.get("values") or {}),
                failure=bool(data.get("failure")),
                signals=tuple(data.get("signals") or ()),
                inclusion_probability=float(data.get("inclusion_probability", 1.0)),
                weight=float(data.get("weight", 1.0)),
                boost=data.get("boost"),
            )
        )
    return items, review


def _judge_sample(
    sample_dir: Path, out: Path, asked: Asked, bodies: Path | None, coverage: float, seed: int, humans: str | None
) -> None:
    from tracestrata.connectors.files.judging import FilesBodyFetcher, FilesScoreWriter, RecordBodies
    from tracestrata.connectors.files.source import FilesTraceSource
    from tracestrata.connectors.files.scores import FilesScoreSource
    from tracestrata.judging import JudgeTargets, RunnerSettings, load_judge, run_judge
    from tracestrata.judging.callable import FunctionJudge
    from tracestrata.judging.simulator import SIMULATOR, SimulatedJudge

    items, review = _sample_items(sample_dir)
    timeout = asked.timeout or 60.0
    if asked.spec is None:
        # the simulator keeps its old contract: a fresh file of plain {trace_id, name, value} lines
        judge = FunctionJudge(SimulatedJudge(seed=seed, coverage=coverage, humans=humans, review=review), name=SIMULATOR, workers=1)
        if out.exists():
            out.unlink()
        settings = RunnerSettings(name="correct", concurrency=1, timeout=timeout, max_calls_per_run=asked.max_calls)
        outcome = run_judge(items, judge, JudgeTargets(RecordBodies(), FilesScoreWriter(out, plain=True)), settings, progress=False)
        reviewed = _count_lines(out, humans) if humans else 0
        click.echo(f"judged {outcome.judged} traces into {out}" + (f" ({reviewed} reviewed by humans)" if humans else ""), err=True)
        return
    if not asked.name:
        raise click.UsageError("name the score the judge gives: --name NAME")
    concurrency = asked.concurrency or 8
    judge = load_judge(asked.spec, workers=concurrency, timeout=timeout)
    settings = RunnerSettings(name=asked.name, concurrency=concurrency, timeout=timeout, max_calls_per_run=asked.max_calls)
    fetcher = FilesBodyFetcher(FilesTraceSource(bodies).files()) if bodies else RecordBodies()
    targets = JudgeTargets(fetcher, FilesScoreWriter(out), FilesScoreSource(out))
    outcome = run_judge(items, judge, targets, settings)
    _finish(outcome)


def _count_lines(path: Path, name: str) -> int:
    if not path.exists():
        return 0
    return sum(1 for _, data in iter_jsonl(path) if data.get("name") == name)


def _judge_config(config_path: Path, asked: Asked, windows: list[Window], now: datetime | None) -> None:
    from tracestrata.io.retry import governing
    from tracestrata.job.config import JudgeModel, load_config
    from tracestrata.job.judge_step import run_judge_step
    from tracestrata.job.state import State
    from tracestrata.job.state_file import lock_state
    from tracestrata.job.sync import load_connector

    config = load_config(config_path)
    base = config.judge
    spec = asked.spec or (base.judge if base else None)
    score_name = asked.name or (base.name if base else None)
    if not spec or not score_name:
        raise click.UsageError("give --judge SPEC and --name NAME (or a [judge] table in the config)")
    given = {"concurrency": asked.concurrency, "timeout": asked.timeout, "max_calls_per_run": asked.max_calls}
    updates: dict[str, object] = {"judge": spec, "name": score_name, **{k: v for k, v in given.items() if v is not None}}
    judge_config = base.model_copy(update=updates) if base else JudgeModel.model_validate(updates)
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    with lock_state(config.state), State(config.state) as state, governing(config.retry):
        connector = load_connector(config)
        try:
            outcome = run_judge_step(
                config, state, connector, moment, judge_config=judge_config, windows=windows
            )
        finally:
            connector.close()
    if outcome.sampled == 0:
        click.echo("nothing sampled in that period yet: run `tracestrata sync` first", err=True)
        return
    _finish(outcome)


def _finish(outcome: JudgeOutcome) -> None:
    """The summary line; exit 4 when the judge endpoint kept failing on some traces."""
    click.echo(outcome.line(), err=True)
    if outcome.partial:
        raise RetriableSourceError(outcome.partial)
