"""The judge runner on the Langfuse contract fake: bodies from the root observation (`fields=io`),
scores written with comment, metadata and a deterministic id (a rewrite upserts), and traces an
evaluator already scored under the same name are skipped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tracestrata.judging import JudgeInput, JudgeTargets, JudgeVerdict, RunnerSettings, run_judge
from tracestrata.judging.callable import FunctionJudge
from tracestrata.protocols import SampleItem, Window, item_id_for
from tracestrata.record import Score
from tracestrata.synthetic import generate_traces

T0 = datetime(2026, 11, 23, tzinfo=UTC)
seen_inputs: dict[str, object] = {}


def judge(judge_input: JudgeInput) -> JudgeVerdict:
    seen_inputs[judge_input.trace_id] = (judge_input.input, judge_input.output)
    return JudgeVerdict(judge_input.record.status == "ok", reason="looked at it")


def test_judging_on_the_fake(fake, connect) -> None:
    records = list(generate_traces(12, start=T0, end=T0 + timedelta(hours=1), seed=4))
    fake.add_traces(records)
    conn = connect()
    pulled = list(conn.trace_source().iter_traces(Window(T0, T0 + timedelta(hours=1))))
    items = [SampleItem(item_id_for("t", None, r.id), r, "s", {}, False, (), 0.25, 4.0, run="run-9") for r in pulled]
    fake.add_scores([Score(items[0].trace_id, "correct", True)])  # an evaluator got there first
    targets = JudgeTargets(conn.body_fetcher(), conn.score_writer(), conn.score_source())
    settings = RunnerSettings(name="correct", concurrency=3)
    outcome = run_judge(items, FunctionJudge(judge, name="rules", version="v2"), targets, settings, progress=False)
    assert (outcome.judged, outcome.skipped, outcome.failed) == (11, 1, 0)
    assert seen_inputs[items[1].trace_id] == (f"question for {items[1].trace_id}", f"answer for {items[1].trace_id}")
    rows = [s for s in fake._scores if s["name"] == "correct" and s["_trace"] != items[0].trace_id]
    assert len(rows) == 11 and all(r["comment"] == "looked at it" for r in rows)
    assert rows[0]["metadata"] == {"tracestrata": True, "stratum": "s", "inclusion_probability": 0.25, "weight": 4.0,
                                   "run": "run-9", "judge": "rules", "judge_version": "v2"}
    # the same score written again (a retried write) upserts on its id
    before = len(fake._scores)
    again = run_judge(items, FunctionJudge(judge, name="rules"), JudgeTargets(conn.body_fetcher(), conn.score_writer()),
                      settings, progress=False)
    assert again.judged == 12 and len(fake._scores) == before + 1  # only the evaluator's trace got a second score
    assert not fake.violations
