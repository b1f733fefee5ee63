"""A platform evaluator declared in the policy: `[[evaluator]]` name, rate, what it hashes, its filter.

A Langfuse evaluator with a sampling rate judges the traces its filter keeps with a
known probability (`tracestrata.evaluators.sampling_value`), so the scores it has
already written are a probability sample: `tracestrata.evaluators.design`
turns a window's traces and this declaration into a design the report reads.

The declaration lives in the policy because its filter is written in the policy's
condition language (the one failure signals and boosts use) over the same record
fields, and because the estimate is reported by the policy's strata. It is not part
of `Policy.digest`: declaring an evaluator changes no sample the policy draws.

    [[evaluator]]
    name = "correctness"          # the score name the evaluator writes
    rate = 0.05                   # its sampling rate in Langfuse, in (0, 1]
    hashes = "observation"        # "observation" (observation rules: the root observation's id,
                                  # `span_id`) or "trace" (legacy trace rules: the trace id)
    [[evaluator.filter]]          # every condition must hold (Langfuse ANDs its filter rows)
    field = "name"
    equals = "chat"
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from tracestrata.policy.signals import Condition


class HashTarget(str, Enum):
    """Which id Langfuse hashes to decide whether the evaluator judges a trace."""

    OBSERVATION = "observation"  # observation-level rules: the observation (span) id
    TRACE = "trace"  # legacy trace-level rules: the trace id

    @property
    def field(self) -> str:
        """The record field holding that id: the root observation's `span_id`, or the trace `id`."""
        return "span_id" if self is HashTarget.OBSERVATION else "id"


@dataclass(frozen=True, slots=True)
class Evaluator:
    name: str
    rate: float
    hashes: HashTarget
    filter: tuple[Condition, ...] = ()

    def fields(self) -> tuple[str, ...]:
        """The record fields the filter reads, in first-use order."""
        return tuple(dict.fromkeys(c.field for c in self.filter))

    def describe_filter(self) -> str:
        """The filter as one line (`name equals 'chat' and latency_ms lt 3000`), or `everything`."""
        if not self.filter:
            return "everything"
        return " and ".join(f"{c.field} {c.operator.value} {c.operand!r}" for c in self.filter)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rate": self.rate,
            "hashes": self.hashes.value,
            "filter": [c.to_json() for c in self.filter],
        }


__all__ = ["Evaluator", "HashTarget"]
