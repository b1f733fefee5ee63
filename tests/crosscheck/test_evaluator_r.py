"""An evaluator's sample against R's `survey`: the real hash picks the traces, R estimates the same design.

Synthetic traces, an evaluator at rate 5% whose filter leaves out `billing`, the judged
traces picked by Langfuse's sampling hash (`evaluator_design`). Conditional on the
realised n_h the design is stratified SRSWOR: the report's global mean, SE and
Korn–Graubard interval and every stratum's mean and SE equal R's
`svydesign(ids=~1, strata=~stratum, fpc=~N)` to 1e-8. The unconditional view, a
Bernoulli design (`probs = rate`) post-stratified to the strata's sizes
(`postStratify`), gives the same point estimate exactly and an SE within 3% (R treats
it as with replacement: no finite-population correction at 5%).
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta

import pytest
from rscript import require_rscript, run_r, values_by_case

from tracestrata.estimate.evaluator import evaluator_report
from tracestrata.record import Score
from tracestrata.evaluators.design import evaluator_design
from tracestrata.policy.parse import parse_policy
from tracestrata.synthetic import generate_traces, judge

pytestmark = pytest.mark.r

TOL = 1e-8
RATE = 0.05
POLICY = parse_policy(
    {
        "seed": "r",
        "strata": [{"field": "metadata.intent"}],
        "evaluator": [{"name": "correct", "rate": RATE, "hashes": "observation",
                       "filter": [{"field": "metadata.intent", "not_equals": "billing"}]}],
    },
    source="test",
)


def test_evaluator_design_matches_r(tmp_path):
    require_rscript()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    records = {r.id: r for r in generate_traces(30_000, start=start, end=start + timedelta(days=1), seed=11)}
    built = evaluator_design(records.values(), POLICY, POLICY.evaluators[0])
    scores = [Score(u.trace_id, "correct", judge(records[u.trace_id])["correct"]) for u in built.design.units]
    report = evaluator_report(built.design, built.scope, scores)

    cells = built.design.cell_index()
    with open(tmp_path / "sample.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["stratum", "N", "y", "prob"])
        for unit, score in zip(built.design.units, scores, strict=True):
            cell = cells[unit.cell]
            w.writerow([cell.stratum, cell.population, int(score.value), RATE])
    with open(tmp_path / "strata.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["stratum", "Freq"])
        for cell in built.design.cells:
            w.writerow([cell.stratum, cell.population])

    r = values_by_case(run_r("evaluator_check.R", tmp_path))["evaluator"]
    e = report.estimate
    assert e.mean == pytest.approx(r["mean"], abs=TOL)
    assert e.se == pytest.approx(r["se"], abs=TOL)
    assert (e.ci_low, e.ci_high) == pytest.approx((r["kg_low"], r["kg_high"]), abs=TOL)
    for row in report.strata:
        assert row.estimate.mean == pytest.approx(r[f"stratum:{row.stratum}:mean"], abs=TOL)
        assert row.estimate.se == pytest.approx(r[f"stratum:{row.stratum}:se"], abs=TOL)
    assert e.mean == pytest.approx(r["ps_mean"], abs=TOL)
    assert e.se == pytest.approx(r["ps_se"], rel=0.03)
    print(f"mean {e.mean:.6f} se {e.se:.6f}; R post-stratified Bernoulli se {r['ps_se']:.6f}")
