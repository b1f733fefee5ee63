"""The judge in the loop: judge exactly the sampled traces with the team's own judge and write the
scores back where `sync` reads them (see docs/judge.md).

    from tracestrata.judging import JudgeInput, JudgeVerdict, run_judge, load_judge
"""

from tracestrata.judging.model import Judge, JudgeAnswer, JudgeInput, JudgeVerdict, verdicts_from
from tracestrata.judging.runner import JudgeOutcome, JudgeTargets, RunnerSettings, run_judge
from tracestrata.judging.spec import load_judge

__all__ = [
    "Judge",
    "JudgeAnswer",
    "JudgeInput",
    "JudgeOutcome",
    "JudgeTargets",
    "JudgeVerdict",
    "RunnerSettings",
    "load_judge",
    "run_judge",
    "verdicts_from",
]
