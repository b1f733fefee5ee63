"""The judge runner: judge exactly the sampled traces that have no score of the judge's name yet,
write each score back where `sync` reads scores, within a budget, never twice.

For a list of sampled traces (`SampleItem`s) it

1. asks the backend which of them already carry a score named `settings.name` (from this
   judge, an earlier run, a platform evaluator or anyone else) and skips those;
2. keeps at most the calls the budget allows (per run, and per day through a `CallLedger`);
   what the cap leaves is judged by a later run;
3. fetches the bodies (input/output) a chunk ahead of the calls, holding them in memory only;
4. calls the judge with at most `concurrency` calls in flight, each under `timeout`; a 429,
   a timeout or an answer that does not parse (`JudgeCallError`) is retried under the retry
   policy (the job's `[retry]`: attempts, total seconds, backoff, `Retry-After`), then the
   trace is counted as judge-failed and left unscored for the next run; a judge raising any
   other exception fails that trace at once;
5. writes each verdict as soon as it arrives (batched when they arrive together), with a
   deterministic score id so a retried write upserts; a call keeps its slot until its
   scores are written, so at most `concurrency` verdicts are ever unwritten.

A run killed at any moment loses at most the calls in flight: every score written is
found by step 1 of the next run, and a score is written whole or not at all. A fatal error
(refused credentials, the backend gone past its retries) stops the run after writing the
verdicts already in hand.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from tracestrata.errors import JudgeCallError, TracestrataError
from tracestrata.io.retry import RetryPolicy, retrying
from tracestrata.judging.model import Judge, JudgeAnswer, JudgeInput, OwnJudgeFailure
from tracestrata.protocols import (
    BodyFetcher,
    JudgedScore,
    SampleItem,
    ScoreSource,
    ScoreWriter,
    TraceBody,
    iter_chunks,
    score_id_for,
)

_Pending = tuple[list[JudgedScore], asyncio.Future[bool]]  # a call's scores, and whether they got written
LOOKUP_BATCH = 200
WRITE_BATCH = 100
DEFAULT_JUDGE_RETRY = RetryPolicy(attempts=4, total_seconds=120.0, initial=1.0, max_wait=30.0)


class CallLedger(Protocol):
    """The runner's own bookkeeping, kept by the caller (the sync job keeps it in its state):
    judge calls spent per UTC day (`YYYY-MM-DD`), for the daily budget, and the traces whose
    scores this judge wrote, so a rerun skips them even when the backend does not show the
    score yet (Langfuse ingests scores with a lag) or hides it (a Phoenix `score_identifier`)."""

    def spent(self, day: str) -> int: ...

    def add(self, day: str, calls: int) -> None: ...

    def judged(self, trace_ids: Sequence[str]) -> set[str]: ...

    def mark_judged(self, trace_ids: Sequence[str]) -> None: ...


@dataclass(frozen=True)
class RunnerSettings:
    name: str  # the score name that marks a trace as judged
    concurrency: int = 8
    timeout: float = 60.0  # seconds per call
    max_calls_per_run: int | None = None
    max_calls_per_day: int | None = None
    retry: RetryPolicy = DEFAULT_JUDGE_RETRY
    chunk: int = 100  # bodies fetched per request batch, a chunk ahead of the calls


@dataclass
class JudgeOutcome:
    """What one run of the judge did (no trace bodies in here, only counts and ids)."""

    name: str
    judge: str
    sampled: int = 0
    judged: int = 0  # traces that got their scores written
    skipped: int = 0  # already had a score of that name
    abstained: int = 0  # the judge returned no verdict
    failed: int = 0  # judge-failed (left unscored, tried again next run)
    gave_up: int = 0  # of those, failed past the retries (429s, timeouts, the endpoint unreachable)
    deferred: int = 0  # over the budget: left for the next run
    calls: int = 0  # judge calls made, retries included
    tokens: int = 0
    scores: int = 0  # score rows written
    seconds: float = 0.0
    first_error: str | None = None
    failed_ids: list[str] = field(default_factory=list)
    deferred_ids: list[str] = field(default_factory=list)  # left by the budget (not a failure)
    stopped_ids: list[str] = field(default_factory=list)  # not judged because a fatal error stopped the run

    @property
    def partial(self) -> str | None:
        """Why the run is partial (exit 4): traces the judge endpoint kept failing on past the retries."""
        if not self.gave_up:
            return None
        return (
            f"partial: the judge failed on {self.gave_up} traces past its retries (429s, timeouts, the endpoint "
            "unreachable); they stay unscored and the next run tries them again"
        )

    @property
    def calls_per_second(self) -> float:
        return self.calls / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        """The one summary line (what a log or a non-terminal shows)."""
        parts = [
            f"judge {self.name} ({self.judge}): judged {self.judged}, skipped {self.skipped} already scored",
            f"failed {self.failed}",
        ]
        if self.deferred:
            parts.append(f"deferred {self.deferred} (budget)")
        if self.abstained:
            parts.append(f"no verdict {self.abstained}")
        parts.append(f"{self.calls} calls in {self.seconds:.1f}s ({self.calls_per_second:.1f} calls/s)")
        if self.tokens:
            parts.append(f"{self.tokens} tokens")
        line = ", ".join(parts)
        if self.first_error:
            line += f"; first failure: {self.first_error}"
        return line


@dataclass(frozen=True)
class JudgeTargets:
    """Where the runner reads and writes: the backend's bodies, its scores and its writer."""

    bodies: BodyFetcher
    writer: ScoreWriter
    existing: ScoreSource | None = None


def run_judge(
    items: Sequence[SampleItem],
    judge: Judge,
    targets: JudgeTargets,
    settings: RunnerSettings,
    *,
    ledger: CallLedger | None = None,
    now: datetime | None = None,
    progress: bool | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    outcome: JudgeOutcome | None = None,
) -> JudgeOutcome:
    """Judge `items` (see the module docstring); returns the counts. Raises only fatal errors.

    The counts and ids go into `outcome` when given, as the run goes: a caller that passes one
    still knows, after a fatal error, which traces failed, were deferred, or were left unjudged."""
    runner = _Runner(judge, targets, settings, ledger, now or datetime.now(UTC), progress, sleep or asyncio.sleep,
                     outcome or JudgeOutcome(settings.name, judge.name))
    return asyncio.run(runner.run(items))


class _Runner:
    def __init__(
        self,
        judge: Judge,
        targets: JudgeTargets,
        settings: RunnerSettings,
        ledger: CallLedger | None,
        now: datetime,
        progress: bool | None,
        sleep: Callable[[float], Awaitable[None]],
        outcome: JudgeOutcome,
    ) -> None:
        self.judge = judge
        self.targets = targets
        self.settings = settings
        self.ledger = ledger
        self.day = now.astimezone(UTC).strftime("%Y-%m-%d")
        self.show_bar = sys.stderr.isatty() if progress is None else progress
        self.sleep = sleep
        self.outcome = outcome
        self.todo: list[str] = []  # the traces this run sends to the judge
        self.finished: set[str] = set()  # of those, judged (scores written), abstained or failed
        self.fatal: BaseException | None = None
        self.rng = random.Random(settings.retry.jitter_seed)
        self.bar: object | None = None

    async def run(self, items: Sequence[SampleItem]) -> JudgeOutcome:
        started = time.monotonic()
        try:
            await self._run(items)
        except BaseException:
            self._stopped()
            raise
        finally:
            self.outcome.seconds = time.monotonic() - started
            await self.judge.aclose()
        if self.fatal is not None:
            self._stopped()
            raise self.fatal
        return self.outcome

    def _stopped(self) -> None:
        """A fatal error stopped the run: the traces it sent to the judge and got no answer for."""
        self.outcome.stopped_ids = [t for t in self.todo if t not in self.finished]

    async def _run(self, items: Sequence[SampleItem]) -> None:
        out = self.outcome
        unique = list({item.trace_id: item for item in reversed(items)}.values())[::-1]  # first of each trace
        out.sampled = len(unique)
        scored = await asyncio.to_thread(self._already_scored, [item.trace_id for item in unique])
        if self.ledger is not None:
            scored |= self.ledger.judged([item.trace_id for item in unique])
        todo = [item for item in unique if item.trace_id not in scored]
        out.skipped = len(unique) - len(todo)
        allowed = self._allowance()
        if allowed is not None and allowed < len(todo):
            out.deferred = len(todo) - allowed
            out.deferred_ids = [item.trace_id for item in todo[allowed:]]
            todo = todo[:allowed]
        self.todo = [item.trace_id for item in todo]
        if not todo:
            return
        queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        writer = asyncio.create_task(self._writer(queue))
        self.bar = _bar(len(todo)) if self.show_bar else None
        slots = asyncio.Semaphore(self.settings.concurrency)
        tasks: set[asyncio.Task[None]] = set()
        chunks = list(iter_chunks(todo, self.settings.chunk))
        ahead = asyncio.create_task(asyncio.to_thread(self._fetch, chunks[0]))
        try:
            for index, chunk in enumerate(chunks):
                try:
                    bodies = await ahead
                except Exception as exc:  # the backend past its retries, or refusing
                    self.fatal = exc
                    break
                if index + 1 < len(chunks):
                    ahead = asyncio.create_task(asyncio.to_thread(self._fetch, chunks[index + 1]))
                if self.ledger is not None:
                    self.ledger.add(self.day, len(chunk))  # counted when dispatched: a kill never overspends
                for item in chunk:
                    await slots.acquire()
                    if self.fatal is not None:
                        slots.release()
                        break
                    task = asyncio.create_task(self._one(item, bodies.get(item.trace_id), queue))
                    tasks.add(task)
                    task.add_done_callback(lambda done: (tasks.discard(done), slots.release()))
                if self.fatal is not None:
                    break
            if tasks:
                await asyncio.gather(*tasks)
        finally:
            if not ahead.done():
                ahead.cancel()
            await queue.put(None)
            await writer
            if self.bar is not None:
                self.bar.close()  # type: ignore[attr-defined]

    # -- steps -----------------------------------------------------------------------------

    def _already_scored(self, trace_ids: list[str]) -> set[str]:
        existing = self.targets.existing
        if existing is None:
            return set()
        found: set[str] = set()
        for batch in iter_chunks(trace_ids, LOOKUP_BATCH):
            scores = retrying(lambda batch=batch: list(existing.get_scores(batch, [self.settings.name])))
            found.update(score.trace_id for score in scores if score.name == self.settings.name)
        return found

    def _allowance(self) -> int | None:
        limits = []
        if self.settings.max_calls_per_run is not None:
            limits.append(self.settings.max_calls_per_run)
        if self.settings.max_calls_per_day is not None:
            spent = self.ledger.spent(self.day) if self.ledger is not None else 0
            limits.append(max(0, self.settings.max_calls_per_day - spent))
        return min(limits) if limits else None

    def _fetch(self, chunk: list[SampleItem]) -> dict[str, TraceBody]:
        return dict(retrying(self.targets.bodies.fetch_bodies, chunk))

    async def _one(self, item: SampleItem, body: TraceBody | None, queue: asyncio.Queue[_Pending | None]) -> None:
        try:
            if body is None:
                self._failed(item, "the backend has no input/output for this trace")
                return
            record = item.record
            judge_input = JudgeInput(
                trace_id=item.trace_id,
                input=body.input,
                output=body.output,
                metadata=record.metadata,
                stratum=item.stratum,
                signals=item.signals,
                record=record,
                inclusion_probability=item.inclusion_probability,
                weight=item.weight,
            )
            answer = await self._call(item, judge_input)
            if answer is None:
                return
            self.outcome.tokens += answer.tokens
            if not answer.verdicts:
                self.outcome.abstained += 1
                self.finished.add(item.trace_id)
                return
            scores = []
            for verdict in answer.verdicts:
                name = verdict.name or self.settings.name
                scores.append(
                    JudgedScore(
                        score_id=score_id_for(self.judge.name, item.trace_id, name),
                        item=item,
                        name=name,
                        value=verdict.value,
                        judge=self.judge.name,
                        label=verdict.label,
                        reason=verdict.reason,
                        judge_version=self.judge.version,
                    )
                )
            written: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            await queue.put((scores, written))
            # the slot is held until the score is written, so a kill loses at most `concurrency` verdicts
            if await written:
                self.outcome.judged += 1
                self.finished.add(item.trace_id)
        finally:
            if self.bar is not None:
                self.bar.update(1)  # type: ignore[attr-defined]

    async def _call(self, item: SampleItem, judge_input: JudgeInput) -> JudgeAnswer | None:
        """One trace's judge call with retries; None when it failed (counted), raises when fatal."""
        policy = self.settings.retry
        started = time.monotonic()
        waited = 0.0
        error: Exception | None = None
        for attempt in range(1, policy.attempts + 1):
            if self.fatal is not None:
                return None
            self.outcome.calls += 1
            call = asyncio.ensure_future(self.judge(judge_input))
            done, _ = await asyncio.wait({call}, timeout=self.settings.timeout)
            try:
                if not done:
                    call.cancel()
                    raise JudgeCallError(f"no answer within {self.settings.timeout:g}s")
                return call.result()
            except JudgeCallError as exc:
                error = exc
            except (TimeoutError, ConnectionError) as exc:  # the judge's own network gave up: worth a retry
                error = JudgeCallError(failure_text(exc))
            except TracestrataError as exc:  # refused credentials, a bad config: no trace will do better
                if self.fatal is None:
                    self.fatal = exc
                return None
            except Exception as exc:  # the user's judge raised: that trace fails, the run goes on
                self._failed(item, failure_text(exc))
                return None
            wait = policy.backoff(attempt, self.rng)
            retry_after = error.retry_after if isinstance(error, JudgeCallError) else None
            if retry_after is not None:
                wait = max(wait, retry_after)
            spent = max(time.monotonic() - started, waited)
            if attempt == policy.attempts or spent + wait > policy.total_seconds:
                break
            await self.sleep(wait)
            waited += wait
        self.outcome.gave_up += 1
        self._failed(item, str(error))
        return None

    def _failed(self, item: SampleItem, why: str) -> None:
        self.outcome.failed += 1
        self.outcome.failed_ids.append(item.trace_id)
        self.finished.add(item.trace_id)
        if self.outcome.first_error is None:
            self.outcome.first_error = why[:200]

    async def _writer(self, queue: asyncio.Queue[_Pending | None]) -> None:
        """Write what the calls produced, batching whatever arrived together; tell each call when its
        scores are written (or lost: after a failed write nothing more is written)."""
        failed = False
        while True:
            first = await queue.get()
            if first is None:
                return
            batch = [first]
            while not queue.empty() and len(batch) < WRITE_BATCH:
                more = queue.get_nowait()
                if more is None:
                    queue.put_nowait(None)  # seen again after this batch
                    break
                batch.append(more)
            scores = [score for pending, _ in batch for score in pending]
            ok = False
            if not failed:
                try:
                    await asyncio.to_thread(retrying, self.targets.writer.write_scores, scores)
                    ok = True
                except Exception as exc:  # these verdicts are lost: the next run judges them again
                    failed = True
                    if self.fatal is None:
                        self.fatal = exc
            if ok:
                self.outcome.scores += len(scores)
                if self.ledger is not None:
                    self.ledger.mark_judged(list(dict.fromkeys(score.trace_id for score in scores)))
            for _, done in batch:
                if not done.done():
                    done.set_result(ok)


def failure_text(exc: BaseException) -> str:
    """How a failed call is named in the summary line, the log and the state: our own errors by
    their message (which never quotes a body), anything else by its type alone, since a judge
    raising `ValueError(f"cannot parse {output!r}")` would otherwise print the trace."""
    if isinstance(exc, (TracestrataError, OwnJudgeFailure)):
        return str(exc)
    return type(exc).__name__


def _bar(total: int) -> object:
    from tqdm import tqdm

    return tqdm(total=total, unit="trace", desc="judging", file=sys.stderr, leave=False)


__all__ = ["CallLedger", "DEFAULT_JUDGE_RETRY", "JudgeOutcome", "JudgeTargets", "RunnerSettings", "failure_text", "run_judge"]
