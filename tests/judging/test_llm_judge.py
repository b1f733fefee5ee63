"""The LLM judge through the real `openai` client against a stub endpoint on 127.0.0.1:
429 with Retry-After, slow answers, timeouts, answers that do not parse, usage tokens."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import file_targets, items, llm_config, scores_in

from tracestrata.errors import ConfigError
from tracestrata.connectors.files.judging import FilesScoreWriter, RecordBodies
from tracestrata.judging import JudgeTargets, RunnerSettings, run_judge
from tracestrata.judging.llm import LLMJudge, parse_answer, parse_llm_config, render_prompt
from tracestrata.judging.model import JudgeInput
from tracestrata.io.retry import RetryPolicy

FAST_RETRY = RetryPolicy(attempts=3, total_seconds=30.0, initial=0.0, max_wait=0.0, jitter=0.0)


async def no_sleep(seconds: float) -> None:
    no_sleep.waits.append(seconds)  # type: ignore[attr-defined]


no_sleep.waits = []  # type: ignore[attr-defined]


def judge_for(url: str, **extra: object) -> LLMJudge:
    return LLMJudge(parse_llm_config(llm_config(url, **extra)), timeout=5.0)


def settings(**extra: object) -> RunnerSettings:
    base: dict[str, object] = {"name": "correct", "concurrency": 4, "timeout": 5.0, "retry": FAST_RETRY}
    return RunnerSettings(**{**base, **extra})  # type: ignore[arg-type]


def test_judges_every_item_once_with_the_labels_values(stub, tmp_path: Path) -> None:
    sample = items(30)
    out = tmp_path / "scores.jsonl"
    outcome = run_judge(sample, judge_for(stub.url), file_targets(out), settings(), progress=False)
    assert (outcome.judged, outcome.failed, outcome.skipped) == (30, 0, 0)
    assert stub.calls == 30 and set(stub.by_trace.values()) == {1}
    scores = {s.trace_id: s.value for s in scores_in(out, [i.trace_id for i in sample])}
    assert scores == {i.trace_id: i.record.status == "ok" for i in sample}
    assert outcome.tokens > 30  # the endpoint's usage, summed
    again = run_judge(sample, judge_for(stub.url), file_targets(out), settings(), progress=False)
    assert (again.judged, again.skipped, stub.calls) == (0, 30, 30)


def test_429_honours_retry_after_then_succeeds(stub, tmp_path: Path) -> None:
    stub.fault("429", count=2, retry_after=7)
    no_sleep.waits.clear()  # type: ignore[attr-defined]
    outcome = run_judge(items(1), judge_for(stub.url), file_targets(tmp_path / "s.jsonl"),
                        settings(retry=RetryPolicy(attempts=4, total_seconds=60, initial=0, jitter=0)),
                        progress=False, sleep=no_sleep)
    assert (outcome.judged, outcome.failed, outcome.calls, stub.calls) == (1, 0, 3, 3)
    assert no_sleep.waits == [7.0, 7.0]  # type: ignore[attr-defined]


def test_timeouts_are_retried_then_counted_as_failed(stub, tmp_path: Path) -> None:
    stub.fault("timeout", count=3, seconds=3)
    out = tmp_path / "s.jsonl"
    outcome = run_judge(items(1), judge_for(stub.url), file_targets(out), settings(timeout=0.3), progress=False,
                        sleep=no_sleep)
    assert (outcome.judged, outcome.failed, outcome.calls) == (0, 1, 3)
    assert "no answer within" in (outcome.first_error or "")
    assert not out.exists() or out.read_text() == ""  # never a half-written score


def test_slow_answers_within_the_timeout_are_fine(stub, tmp_path: Path) -> None:
    stub.fault("slow", count=2, seconds=0.3)
    outcome = run_judge(items(4), judge_for(stub.url), file_targets(tmp_path / "s.jsonl"), settings(), progress=False)
    assert (outcome.judged, outcome.failed, stub.calls) == (4, 0, 4)


def test_unparseable_answers_are_retried_then_failed_and_the_next_run_judges_them(stub, tmp_path: Path) -> None:
    sample = items(5)
    stub.fault("garbage", count=3)  # the first trace's three attempts, at concurrency 1
    out = tmp_path / "s.jsonl"
    first = run_judge(sample, judge_for(stub.url), file_targets(out), settings(concurrency=1), progress=False,
                      sleep=no_sleep)
    assert (first.judged, first.failed) == (4, 1)
    assert first.failed_ids == [sample[0].trace_id]
    assert "names none of" in (first.first_error or "")
    second = run_judge(sample, judge_for(stub.url), file_targets(out), settings(), progress=False)
    assert (second.judged, second.skipped, second.failed) == (1, 4, 0)
    assert len(scores_in(out, [i.trace_id for i in sample])) == 5


def test_server_errors_are_retried(stub, tmp_path: Path) -> None:
    stub.fault("500", count=1)
    outcome = run_judge(items(1), judge_for(stub.url), file_targets(tmp_path / "s.jsonl"), settings(), progress=False,
                        sleep=no_sleep)
    assert (outcome.judged, outcome.calls) == (1, 2)


def test_a_refused_call_fails_at_once_without_quoting_the_prompt(stub, tmp_path: Path) -> None:
    stub.fault("400")
    sample = items(1)
    outcome = run_judge(sample, judge_for(stub.url), file_targets(tmp_path / "s.jsonl"), settings(), progress=False,
                        sleep=no_sleep)
    assert (outcome.failed, outcome.calls) == (1, 1)
    assert "HTTP 400" in outcome.line() and sample[0].trace_id not in outcome.line()


def test_budget_per_run_leaves_the_rest_for_the_next_run(stub, tmp_path: Path) -> None:
    sample = items(10)
    out = tmp_path / "s.jsonl"
    first = run_judge(sample, judge_for(stub.url), file_targets(out), settings(max_calls_per_run=4), progress=False)
    assert (first.judged, first.deferred) == (4, 6)
    second = run_judge(sample, judge_for(stub.url), file_targets(out), settings(max_calls_per_run=100), progress=False)
    assert (second.judged, second.skipped, stub.calls) == (6, 4, 10)


def test_daily_budget_counts_across_runs(stub, tmp_path: Path) -> None:
    class Ledger:
        def __init__(self) -> None:
            self.days: dict[str, int] = {}
            self.marked: set[str] = set()

        def spent(self, day: str) -> int:
            return self.days.get(day, 0)

        def add(self, day: str, calls: int) -> None:
            self.days[day] = self.spent(day) + calls

        def judged(self, trace_ids: list[str]) -> set[str]:
            return self.marked & set(trace_ids)

        def mark_judged(self, trace_ids: list[str]) -> None:
            self.marked.update(trace_ids)

    ledger = Ledger()
    sample = items(10)
    out = tmp_path / "s.jsonl"
    run_judge(sample, judge_for(stub.url), file_targets(out), settings(max_calls_per_day=6), ledger=ledger, progress=False)
    second = run_judge(sample, judge_for(stub.url), file_targets(out), settings(max_calls_per_day=6), ledger=ledger,
                       progress=False)
    assert (second.judged, second.deferred, stub.calls) == (0, 4, 6)
    # a backend that does not show the scores yet (no existing-score source): the ledger still skips them
    blind = JudgeTargets(RecordBodies(), FilesScoreWriter(tmp_path / "other.jsonl"))
    third = run_judge(sample, judge_for(stub.url), blind, settings(max_calls_per_day=100), ledger=ledger, progress=False)
    assert (third.skipped, third.judged, stub.calls) == (6, 4, 10)


def test_the_key_comes_from_the_environment_and_is_never_in_an_error(stub, monkeypatch) -> None:
    monkeypatch.delenv("STUB_JUDGE_KEY")
    with pytest.raises(ConfigError, match="STUB_JUDGE_KEY is not set"):
        judge_for(stub.url)
    with pytest.raises(ConfigError, match="secrets do not belong in a file") as refused:
        parse_llm_config(llm_config(stub.url, api_key="-".join(("not", "here"))))
    assert "not-here" not in str(refused.value)


def test_prompt_template_and_answer_parsing() -> None:
    sample = items(1)[0]
    judge_input = JudgeInput(sample.trace_id, {"q": 1}, "an answer", {"intent": "refund"}, "refund", (), sample.record)
    text = render_prompt("t={trace_id} {input} -> {output} [{metadata.intent}] {metadata.none} {{x}}", judge_input)
    assert text == f't={sample.trace_id} {{"q": 1}} -> an answer [refund]  {{x}}'
    assert parse_answer("Correct. It matches.", {"correct": 1.0, "incorrect": 0.0}).value == 1.0
    verdict = parse_answer('{"label": "incorrect", "reason": "wrong total"}', {"correct": True, "incorrect": False})
    assert (verdict.value, verdict.label, verdict.reason) == (False, "incorrect", "wrong total")
    with pytest.raises(ConfigError, match="unknown placeholder"):
        parse_llm_config({"model": "m", "prompt": "{inptu}", "labels": {"a": 1}})


def test_the_key_is_hidden_in_every_line_whatever_its_variable_is_called(stub, monkeypatch) -> None:
    from tracestrata import redaction

    monkeypatch.setattr(redaction, "_values", set())
    value = "-".join(("zq", "judge", "value", "7731"))
    monkeypatch.setenv("JUDGE_VAR", value)  # a name that does not look secret
    assert value in redaction.redact(f"said {value}")
    LLMJudge(parse_llm_config(llm_config(stub.url, api_key_env="JUDGE_VAR")), timeout=5.0)
    assert value not in redaction.redact(f"said {value}")
