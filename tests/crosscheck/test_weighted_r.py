"""A weighted sample (`[sampling] weight`) estimated here and by R's `survey` on the same traces.

The sample is drawn by the real sampler (examples/policies/weighted.toml on synthetic
traffic with a heuristic) and judged by the simulated judge, 10% of the sampled traces
left unjudged. R gets each judged trace's pi as its probability weight and calibrates
to the cells' known sizes: `postStratify(svydesign(ids=~1, strata=~cell, probs=~pi), ~cell, N)`,
then `svymean` (with-replacement variance). Ours must give the same mean, and with the
finite-population factors c_i set to 1 the same SE, globally, per stratum and for the
residual judge − proxy (the difference estimator at λ = 1), to 1e-8; and with c_i = 1 − f_c
(what the report uses: judged / N of the cell) the SE equals R's with `fpc = ~N` to 1e-8;
both are printed (docs/report.md quotes them).
"""

from __future__ import annotations

import csv
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from rscript import require_rscript, run_r, values_by_case

from tracestrata.estimate.estimators import LonelyCell, ScoredFrame, UnequalFrame, domain_fit, stratified_variance
from tracestrata.policy.parse import load_policy
from tracestrata.sampling.samplers import sample_records
from tracestrata.synthetic import generate_traces, judge

pytestmark = pytest.mark.r
TOL = 1e-8
T0 = datetime(2026, 1, 1, tzinfo=UTC)
WEIGHTED = Path(__file__).resolve().parents[2] / "examples" / "policies" / "weighted.toml"


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    require_rscript()
    folder = tmp_path_factory.mktemp("weighted-r")
    records = list(generate_traces(20000, start=T0, end=T0 + timedelta(days=1), seed=4, heuristic=True))
    result = sample_records(records, load_policy(WEIGHTED))
    design = result.design()
    values = {s.record.id: float(judge(s.record)["correct"]) for i, s in enumerate(result.selected) if i % 10}
    proxy = {s.record.id: s.record.scores["heuristic"] for s in result.selected}
    stratum = {s.record.id: s.stratum for s in result.selected}
    drawn_certain: dict[str, int] = {}  # π = 1 traces drawn per cell, judged or not
    for s in result.selected:
        drawn_certain[s.cell] = drawn_certain.get(s.cell, 0) + (s.inclusion_probability >= 1.0)
    with open(folder / "sample.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["cell", "stratum", "pi", "y", "p", "drawn_certain"])
        for s in result.selected:
            if s.record.id in values:
                writer.writerow([s.cell, s.stratum, repr(s.inclusion_probability), values[s.record.id],
                                 repr(proxy[s.record.id]), drawn_certain[s.cell]])
    with open(folder / "cells.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["cell", "Freq"])
        for cell in result.cells:
            writer.writerow([cell.id, cell.population])
    r = values_by_case(run_r("weighted_check.R", folder))["weighted"]
    return design, values, proxy, stratum, r


def fit(frame, d, lonely=LonelyCell.CERTAINTY):
    est = domain_fit(frame, d)
    variance, _ = stratified_variance(frame, est.z, d, lonely)
    return est.mean, variance**0.5


def with_replacement(frame: ScoredFrame) -> ScoredFrame:
    assert isinstance(frame, UnequalFrame)
    return replace(frame, unit_fpc=np.ones(len(frame.y)), certain=np.zeros(len(frame.y), bool))


def test_mean_and_se_match_r_survey_with_pi_as_probability_weights(case):
    design, values, proxy, stratum, r = case
    frame = ScoredFrame.build(design, values)
    everything = np.ones(len(frame.y), bool)
    mean, se = fit(with_replacement(frame), everything)
    assert mean == pytest.approx(r["mean"], abs=TOL)
    assert se == pytest.approx(r["se"], rel=TOL)
    mean_fpc, se_fpc = fit(frame, everything)
    assert mean_fpc == mean and se_fpc < se
    # the report's SE (c_i = 1 − f of the cell) is R's with the cells' sizes as fpc
    assert mean_fpc == pytest.approx(r["fpc_mean"], abs=TOL)
    assert se_fpc == pytest.approx(r["fpc_se"], rel=TOL)
    print(f"\nR survey: mean {r['mean']:.6f} se {r['se']:.6f} (with fpc = N, {r['certain']:.0f} certainty traces "
          f"in strata of their own: {r['fpc_se']:.6f}); "
          f"ours with c=1: {mean:.6f} {se:.6f}; ours (report, c = 1 - f): se {se_fpc:.6f}")
    for s in sorted(set(stratum.values())):
        d = np.array([stratum[t] == s for t in frame.trace_ids])
        m_s, se_s = fit(with_replacement(frame), d)
        assert m_s == pytest.approx(r[f"stratum:{s}:mean"], abs=TOL)
        assert se_s == pytest.approx(r[f"stratum:{s}:se"], rel=1e-7, abs=TOL)


def test_the_difference_residual_matches_r(case):
    design, values, proxy, _, r = case
    frame = ScoredFrame.build(design, values)
    residual = replace(with_replacement(frame), y=frame.y - np.array([proxy[t] for t in frame.trace_ids]))
    mean, se = fit(residual, np.ones(len(frame.y), bool))
    assert mean == pytest.approx(r["residual_mean"], abs=TOL)
    assert se == pytest.approx(r["residual_se"], rel=TOL)
    _, se_fpc = fit(replace(frame, y=residual.y), np.ones(len(frame.y), bool))
    assert se_fpc == pytest.approx(r["fpc_residual_se"], rel=TOL)
