"""Judges the tests name on the command line (`--judge stub_judges:...`)."""

from __future__ import annotations

import asyncio
import itertools
import os

from tracestrata.judging import JudgeInput, JudgeVerdict


def ok(judge_input: JudgeInput) -> bool:
    return judge_input.record.status == "ok"


async def ok_async(judge_input: JudgeInput) -> float:
    await asyncio.sleep(0)
    return 1.0 if judge_input.record.status == "ok" else 0.0


def rich(judge_input: JudgeInput) -> JudgeVerdict:
    good = judge_input.record.status == "ok"
    return JudgeVerdict(good, label="pass" if good else "fail", reason=f"status is {judge_input.record.status}")


def several(judge_input: JudgeInput) -> dict[str, object]:
    return {"correct": judge_input.record.status == "ok", "quality": {"value": 4.0, "reason": "fine"}}


def broken(judge_input: JudgeInput) -> bool:
    raise RuntimeError("bug in the judge")


def phoenix_classifier():  # noqa: ANN201 - built lazily: phoenix.evals is an optional extra
    from phoenix.evals import LLM, create_classifier

    llm = LLM(provider="openai", model="stub-judge", base_url=os.environ["STUB_JUDGE_URL"],
              api_key=os.environ["STUB_JUDGE_KEY"])
    return create_classifier(
        name="correct",
        prompt_template="trace={trace_id}\nIs the answer right?\n{input}\n{output}",
        llm=llm,
        choices={"correct": 1.0, "incorrect": 0.0},
    )


def __getattr__(name: str) -> object:
    """`classifier`: the evaluator, made when first asked for (the stub's URL is known by then)."""
    if name == "classifier":
        return phoenix_classifier()
    raise AttributeError(name)


def fails_on_errors(judge_input: JudgeInput) -> bool:
    if judge_input.record.status == "error":
        raise TimeoutError("the judge gave up on this one")
    return True


def reads_bodies(judge_input: JudgeInput) -> bool:
    return judge_input.input == f"q {judge_input.trace_id}" and judge_input.output == f"a {judge_input.trace_id}"


def leaky(judge_input: JudgeInput) -> bool:
    """A judge whose error quotes the trace, as a careless parser's would."""
    raise ValueError(f"could not parse output {judge_input.output!r}")


def refused(judge_input: JudgeInput) -> bool:
    """A judge whose endpoint refuses the key, as the LLM judge raises on a 401."""
    from tracestrata.errors import AuthError

    raise AuthError("the judge endpoint refused the key (HTTP 401): check STUB_JUDGE_KEY")


def several_fails_on_errors(judge_input: JudgeInput) -> dict[str, object]:
    if judge_input.record.status == "error":
        raise TimeoutError("the judge gave up on this one")
    return {"correct": True, "quality": 4.0}


_calls = itertools.count(1)  # a test resets it


def refuses_after_two(judge_input: JudgeInput) -> bool:
    """Scores the first two traces it is called on, then its endpoint refuses the key."""
    from tracestrata.errors import AuthError

    if next(_calls) > 2:
        raise AuthError("the judge endpoint refused the key (HTTP 401): check STUB_JUDGE_KEY")
    return True
