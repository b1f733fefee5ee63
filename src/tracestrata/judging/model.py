"""What a judge gets (`JudgeInput`) and what it gives back (`JudgeVerdict`), and the one rule
turning whatever a user's judge returns into verdicts (`verdicts_from`).

A judge may return:

    True / False / 0.83              the score's value
    "pass"                           a label, which is also the value (categorical)
    JudgeVerdict(value, label, reason)
    {"value": .., "label": .., "reason": ..}          one verdict (`score` and `explanation` accepted too)
    {"correct": True, "quality": 4.2}                 several scores, by name
    a list or tuple of any of these                   several verdicts
    [] / None-free empty mapping                      the judge abstains on this trace (nothing written)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeAlias, runtime_checkable

from tracestrata.errors import JudgeCallError
from tracestrata.record import JSONValue, ScoreValue, TraceRecord

_ONE_VERDICT_KEYS = frozenset({"value", "label", "score", "reason", "explanation"})


class OwnJudgeFailure(Exception):
    """One trace's judge call failed, with a message of ours that never quotes a body (the runner
    shows it; any other exception is shown by its type alone)."""


class VerdictError(OwnJudgeFailure, ValueError):
    """What a judge returned is not a verdict (see `verdicts_from`)."""


@dataclass(frozen=True, slots=True)
class JudgeInput:
    """One sampled trace as a judge sees it.

    `input`/`output` are the root span's (Langfuse: root observation's; files: the
    record's or the named fields); they live only in memory while the trace is judged.
    """

    trace_id: str
    input: JSONValue
    output: JSONValue
    metadata: Mapping[str, JSONValue]
    stratum: str
    signals: tuple[str, ...]
    record: TraceRecord
    inclusion_probability: float = 1.0
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class JudgeVerdict:
    """One score: `value` (bool, number or label), with an optional `label` and `reason`.

    `name` is the score's name; None means the name the run was given (`--name`)."""

    value: ScoreValue
    label: str | None = None
    reason: str | None = None
    name: str | None = None


Returned: TypeAlias = "JudgeVerdict | ScoreValue | None | Mapping[str, Returned] | Sequence[Returned]"
"""What a judge function may return: a verdict, a value, a verdict as a mapping (`value`/`score`,
`label`, `reason`), named verdicts (`{name: verdict}`), or a list of these (`verdicts_from`)."""


@dataclass(frozen=True, slots=True)
class JudgeAnswer:
    """What one judge call produced: its verdicts and the tokens it used (when the endpoint says)."""

    verdicts: tuple[JudgeVerdict, ...]
    tokens: int = 0


@runtime_checkable
class Judge(Protocol):
    """Every kind of judge, as the runner calls it: an async callable with a name and a version.

    `name` identifies the judge (the Phoenix annotation `identifier`, the Langfuse score
    metadata); `version` is recorded beside every score it gives."""

    name: str
    version: str | None

    async def __call__(self, judge_input: JudgeInput) -> JudgeAnswer: ...

    async def aclose(self) -> None:
        """Release threads or connections (the runner awaits it once, at the end, inside its loop)."""
        ...


def verdicts_from(returned: Returned, *, retriable: bool = False) -> tuple[JudgeVerdict, ...]:
    """The verdicts in what a judge returned (see the module docstring).

    Anything else raises `VerdictError` (a `ValueError`), or `JudgeCallError` (retried) when `retriable`,
    as for an LLM's answer that does not parse."""
    try:
        return tuple(_verdicts(returned, None))
    except VerdictError as exc:
        if retriable:
            raise JudgeCallError(str(exc)) from None
        raise


def _verdicts(returned: Returned, name: str | None) -> list[JudgeVerdict]:
    if isinstance(returned, JudgeVerdict):
        return [returned if name is None or returned.name else _named(returned, name)]
    if isinstance(returned, (bool, int, float, str)):
        return [JudgeVerdict(_value(returned), label=returned if isinstance(returned, str) else None, name=name)]
    if isinstance(returned, Mapping):
        if returned and set(returned) <= _ONE_VERDICT_KEYS:
            return [_from_mapping(returned, name)]
        out: list[JudgeVerdict] = []
        for key, sub in returned.items():
            if not isinstance(key, str) or not key:
                raise VerdictError(f"a score name must be a non-empty string, got a {type(key).__name__}")
            out.extend(_verdicts(sub, key))
        return out
    if isinstance(returned, Sequence):
        return [v for sub in returned for v in _verdicts(sub, name)]
    raise VerdictError(f"a judge must return a bool, a number, a label or a verdict, got {type(returned).__name__}")


def _from_mapping(data: Mapping[str, Returned], name: str | None) -> JudgeVerdict:
    label = data.get("label")
    value = data.get("value", data.get("score"))
    if value is None:
        value = label
    if value is None:
        raise VerdictError("a verdict needs a value, a score or a label")
    reason = data.get("reason", data.get("explanation"))
    return JudgeVerdict(
        _value(value), label=None if label is None else str(label), reason=None if reason is None else str(reason), name=name
    )


def _named(verdict: JudgeVerdict, name: str) -> JudgeVerdict:
    return JudgeVerdict(verdict.value, verdict.label, verdict.reason, name)


def _value(value: Returned) -> ScoreValue:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        number = float(value)
        if not math.isfinite(number):
            raise VerdictError(f"a score value must be finite, got {number}")
        return number
    if isinstance(value, str) and value.strip():
        return value
    raise VerdictError(
        f"a score value must be a bool, a number or a non-empty label, got {'an empty label' if isinstance(value, str) else type(value).__name__}"
    )


__all__ = ["Judge", "JudgeAnswer", "JudgeInput", "JudgeVerdict", "OwnJudgeFailure", "VerdictError", "verdicts_from"]
