"""`--judge phoenix-evals:module:evaluator`: a `phoenix.evals` evaluator (`create_classifier`,
`ClassificationEvaluator`, any `Evaluator`) as a judge, when `arize-phoenix-evals` is installed.

The evaluator gets `{"input", "output", "trace_id", "stratum", "metadata"}` (its prompt
template names what it uses) and its `Score`s become verdicts: the numeric `score` when it
has one, else the `label` (`"true"`/`"false"` as booleans); `explanation` is the reason.
A failure inside the evaluator (its LLM rate limited, an answer outside its choices) is
retried by the runner like any judge call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from tracestrata.errors import ConfigError, JudgeCallError
from tracestrata.judging.callable import import_object
from tracestrata.judging.model import JudgeAnswer, JudgeInput, JudgeVerdict
from tracestrata.record import JSONValue, ScoreValue

PREFIX = "phoenix-evals:"
_BOOLS = {"true": True, "false": False}


class EvalScore(Protocol):
    """One score a phoenix-evals evaluator returns (`phoenix.evals.Score`)."""

    name: str | None
    score: float | None
    label: str | None
    explanation: str | None


class Evaluator(Protocol):
    """A phoenix-evals evaluator (`phoenix.evals.Evaluator`): what this judge calls."""

    async def async_evaluate(self, eval_input: Mapping[str, JSONValue]) -> Sequence[EvalScore]: ...


class PhoenixEvalsJudge:
    def __init__(self, evaluator: Evaluator, *, name: str, version: str | None = None) -> None:
        self.evaluator = evaluator
        self.name = name
        self.version = version

    async def __call__(self, judge_input: JudgeInput) -> JudgeAnswer:
        eval_input = {
            "input": _text(judge_input.input),
            "output": _text(judge_input.output),
            "trace_id": judge_input.trace_id,
            "stratum": judge_input.stratum,
            "metadata": dict(judge_input.metadata),
        }
        try:
            scores = await self.evaluator.async_evaluate(eval_input)
        except Exception as exc:  # its LLM rate limited or timed out, an answer outside its choices
            # named by its type only: an evaluator's message may quote the trace, and bodies never reach a log
            raise JudgeCallError(f"the evaluator failed: {type(exc).__name__}") from None
        verdicts = []
        for score in scores:
            verdict = _verdict(score, several=len(scores) > 1)
            if verdict is not None:
                verdicts.append(verdict)
        if scores and not verdicts:
            raise JudgeCallError("the evaluator returned neither a score nor a label")
        return JudgeAnswer(tuple(verdicts))

    async def aclose(self) -> None:
        return None


def _verdict(score: EvalScore, *, several: bool) -> JudgeVerdict | None:
    label = score.label if isinstance(score.label, str) and score.label else None
    value: ScoreValue
    if label is not None and label.lower() in _BOOLS:
        value = _BOOLS[label.lower()]
    elif score.score is not None:
        value = float(score.score)
    elif label is not None:
        value = label
    else:
        return None
    reason = score.explanation or None
    return JudgeVerdict(value, label=label, reason=reason, name=score.name if several else None)


def _text(value: JSONValue) -> str:
    if value is None or isinstance(value, str):
        return value or ""
    import json

    return json.dumps(value, default=str, ensure_ascii=False)


def phoenix_evals_judge(spec: str, *, version: str | None = None, near: str | None = None) -> PhoenixEvalsJudge:
    """`phoenix-evals:module:evaluator` -> the evaluator object, checked to be one."""
    target = spec.removeprefix(PREFIX)
    try:
        from phoenix.evals import Evaluator
    except ImportError:
        raise ConfigError(
            "phoenix-evals judges need arize-phoenix-evals: pip install 'tracestrata[phoenix-evals]'", field="--judge"
        ) from None
    evaluator = import_object(target, near=near)
    if not isinstance(evaluator, Evaluator):
        raise ConfigError(
            f"{target!r} is a {type(evaluator).__name__}, not a phoenix.evals evaluator (create_classifier(...))",
            field="--judge",
        )
    return PhoenixEvalsJudge(evaluator, name=f"phoenix-evals:{evaluator.name}", version=version)


__all__ = ["PREFIX", "PhoenixEvalsJudge", "phoenix_evals_judge"]
