"""The job's judge step: judge what the job sampled, between writing the sample and reading scores.

Used by `sync` when the config has a `[judge]` table, and by `tracestrata judge --config`.
The traces are the dataset items of the runs in the reporting period (or the windows
asked for), the `[review]` subsample included unless `[judge] review = false` (two-phase
needs the judge's verdict on the traces people label). Calls per day are counted in the state (cursor
`judge-calls:<name>:<day>`), so `max_calls_per_day` holds across runs, and so are the traces
whose scores the judge wrote (`judged:<name>[@<destination>]:<trace id>`, the destination a digest of
`scores_path`/`score_identifier`/`score_level`), so a rerun skips them even while the backend does not
show the score yet, and a judge pointed at a new destination judges anew; the ids of the traces
the last run failed on (or did not reach before a fatal error) are kept under `judge-failed:<name>`,
and those its call budgets left for a later run under `judge-deferred:<name>` (ids only, never a body;
both written also when the run stops on a fatal error).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from tracestrata.errors import ConfigError
from tracestrata.job.config import JudgeModel, SyncConfig, source_identity
from tracestrata.job.state import State
from tracestrata.judging import JudgeOutcome, JudgeTargets, RunnerSettings, load_judge, run_judge
from tracestrata.judging.model import Judge
from tracestrata.protocols import Connector, JudgeBackend, SampleItem, SinkKind, Window


SCORE_DESTINATION = ("scores_path", "score_identifier", "score_level")
"""`[source]` options that decide where the judge's scores go and are read back (read-back options,
so not part of the source's identity, but part of what "already judged" means)."""


def score_destination(config: SyncConfig) -> str:
    """A short tag of the score-destination options ('' when none is set): a judge pointed at a new
    destination judges anew, a rerun to the same one skips what it judged."""
    options = {k: str(config.source_options[k]) for k in SCORE_DESTINATION if config.source_options.get(k) is not None}
    if not options:
        return ""
    return "@" + hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()[:12]


class StateCallLedger:
    """Judge calls per UTC day and the traces judged under a score name and destination, kept in the
    state's cursors (`judge-calls:<name>:<day>`, `judged:<name>[@<destination>]:<trace id>`; ids and
    counts only)."""

    def __init__(self, state: State, source: str, name: str, destination: str = "") -> None:
        self.state = state
        self.source = source
        self.name = name
        self.judged_prefix = f"judged:{name}{destination}:"

    def _key(self, day: str) -> str:
        return f"judge-calls:{self.name}:{day}"

    def spent(self, day: str) -> int:
        return int(self.state.get_cursor(self.source, self._key(day)) or 0)

    def add(self, day: str, calls: int) -> None:
        self.state.set_cursor(self.source, self._key(day), str(self.spent(day) + calls))

    def judged(self, trace_ids: Sequence[str]) -> set[str]:
        prefix = self.judged_prefix
        found = self.state.cursors_named(self.source, [prefix + t for t in trace_ids])
        return {name[len(prefix):] for name in found}

    def mark_judged(self, trace_ids: Sequence[str]) -> None:
        self.state.set_cursors(self.source, {f"{self.judged_prefix}{t}": "1" for t in trace_ids})


def state_source(config: SyncConfig, state: State) -> str:
    """The key the state knows the job by: the config's, or the one an older version wrote (which
    `sync` adopts; the judge only reads and adds to it, as `status` reads it)."""
    key = config.source_key()
    return state.older_key(key, source_identity) or key


def sampled_items(
    config: SyncConfig,
    state: State,
    now: datetime,
    *,
    windows: Sequence[Window] = (),
    review: bool = False,
    source: str | None = None,
) -> list[SampleItem]:
    """The sampled traces to judge: dataset items of the period's runs (or of `windows`)."""
    source = source or state_source(config, state)
    if windows:
        runs = [
            r for r in state.sampled_runs(source)
            if any(w.start <= r.window_start and r.window_end <= w.end for w in windows)
        ]
    else:
        runs = state.sampled_runs(source, ending_after=now - config.report_period)
    run_ids = [r.run_id for r in runs]
    skip: set[str] = set()
    if not review:
        skip = {trace for _, trace, _, attrs in state.sampled(run_ids) if attrs.get("review") is True}
    items = [SampleItem.from_json(p.payload) for p in state.items_of(run_ids, SinkKind.DATASET.value)]
    return [item for item in items if item.trace_id not in skip]


def judge_from_config(judge: JudgeModel, *, spec: str | None = None, source: str | None = None) -> Judge:
    return load_judge(
        spec or judge.judge,
        llm=judge.llm,
        llm_source=source,
        workers=judge.concurrency,
        timeout=judge.timeout,
        version=judge.version,
        near=str(Path(source).parent) if source else None,
    )


def judge_targets(connector: Connector) -> JudgeTargets:
    if not isinstance(connector, JudgeBackend):
        raise ConfigError(
            f"the {connector.name} connector cannot fetch trace bodies or write scores, so it cannot run a judge",
            field="judge",
        )
    return JudgeTargets(connector.body_fetcher(), connector.score_writer(), connector.score_source())


def run_judge_step(
    config: SyncConfig,
    state: State,
    connector: Connector,
    now: datetime,
    *,
    judge_config: JudgeModel,
    judge: Judge | None = None,
    windows: Sequence[Window] = (),
    progress: bool | None = None,
) -> JudgeOutcome:
    """Judge the job's sample (see the module docstring); raises only fatal errors."""
    source = state_source(config, state)
    items = sampled_items(config, state, now, windows=windows, review=judge_config.review, source=source)
    settings = RunnerSettings(
        name=judge_config.name,
        concurrency=judge_config.concurrency,
        timeout=judge_config.timeout,
        max_calls_per_run=judge_config.max_calls_per_run,
        max_calls_per_day=judge_config.max_calls_per_day,
        retry=config.retry,
    )
    judge = judge or judge_from_config(judge_config, source=str(config.path))
    ledger = StateCallLedger(state, source, judge_config.name, score_destination(config))
    targets = judge_targets(connector)
    outcome = JudgeOutcome(judge_config.name, judge.name)
    try:
        return run_judge(items, judge, targets, settings, ledger=ledger, now=now, progress=progress, outcome=outcome)
    finally:  # this run's lists, also when a fatal error stopped it (never the previous run's)
        state.set_cursors(source, {
            failed_cursor(judge_config.name): json.dumps(sorted({*outcome.failed_ids, *outcome.stopped_ids})),
            deferred_cursor(judge_config.name): json.dumps(sorted(outcome.deferred_ids)),
        })


def failed_cursor(name: str) -> str:
    """The traces the last run of judge `name` failed on or did not reach before a fatal error
    (ids only): the report's judge_failed count."""
    return f"judge-failed:{name}"


def deferred_cursor(name: str) -> str:
    """The traces the last run of judge `name` left to a later run because of its call budgets (ids
    only): not a failure, the report's judge_deferred count."""
    return f"judge-deferred:{name}"


__all__ = ["StateCallLedger", "deferred_cursor", "failed_cursor", "state_source", "judge_from_config", "judge_targets", "run_judge_step", "sampled_items"]
