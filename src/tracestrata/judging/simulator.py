"""The simulated LLM judge for synthetic traces (`tracestrata generate`), as one more judge.

It covers a share of the sample (`coverage`: the rest stays unscored, as in real life)
and gives `correct`, `quality` and `verdict` (`tracestrata.synthetic.judge`); with
`humans` it also plays the human reviewers on the traces the sample marks for review.
"""

from __future__ import annotations

from collections.abc import Collection

from tracestrata.judging.model import JudgeInput, JudgeVerdict
from tracestrata.synthetic import _uniforms, human_label, judge

SIMULATOR = "tracestrata-simulator"


class SimulatedJudge:
    """A sync callable (run through `FunctionJudge`): verdicts by name, or none when not covered."""

    def __init__(
        self, *, seed: int = 0, coverage: float = 1.0, humans: str | None = None, review: Collection[str] = ()
    ) -> None:
        self.seed = seed
        self.coverage = coverage
        self.humans = humans
        self.review = frozenset(review)

    def __call__(self, judge_input: JudgeInput) -> list[JudgeVerdict]:
        record = judge_input.record
        if _uniforms(record.id, self.seed + 7919)[1] >= self.coverage:
            return []
        out = [JudgeVerdict(value, name=name) for name, value in judge(record, seed=self.seed).items()]
        if self.humans and record.id in self.review:
            out.append(JudgeVerdict(human_label(record, seed=self.seed), name=self.humans))
        return out



_DEFAULT = SimulatedJudge(coverage=0.9)


def simulated_judge(judge_input: JudgeInput) -> list[JudgeVerdict]:
    """`--judge tracestrata.judging.simulator:simulated_judge`: the simulator as a plain function
    (90% coverage, seed 0), for the README's files job on synthetic traces."""
    return _DEFAULT(judge_input)


__all__ = ["SIMULATOR", "SimulatedJudge", "simulated_judge"]
