"""The stratified estimator against R's `survey` package (the reference implementation).

On fixed samples (a lonely cell, a census cell, a rare rate near 0, a rate of exactly
0) the global mean, its SE, the design df, the Korn–Graubard interval
(`svyciprop(method="beta")`), per-stratum domain means (`subset`) and a two-group
contrast (`svyby` + `svycontrast`) must match to 1e-8. One Rscript run for all cases.
These are the descriptive numbers (with the fpc). The analytic ones (no fpc) are R's
`svydesign` without `fpc`: stratum SEs and the contrast's SE to 1e-8, and a stratum's
analytic rate interval follows its documented rule, Wilson on the effective n
p̂(1 − p̂)/v̂ (R's v̂; Kish's n at p̂ = 0 or 1) capped at n (n itself when the stratum's
weights are equal).
"""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from rscript import require_rscript, run_r, values_by_case

from tracestrata.design import Cell, CellKind, Design, Unit
from tracestrata.estimate.estimators import LonelyCell, ScoredFrame, StratifiedEstimator
from tracestrata.estimate.intervals import IntervalMethod, wilson

pytestmark = pytest.mark.r

TOL = 1e-8

# cell spec: (stratum, kind, N, m)
CELLS_MAIN = [
    ("billing", CellKind.NORMAL, 900, 40),
    ("billing", CellKind.FAILURE, 30, 12),
    ("tech", CellKind.NORMAL, 400, 25),
    ("tech", CellKind.FAILURE, 35, 1),  # lonely: one score
    ("compliance", CellKind.NORMAL, 60, 8),
    ("compliance", CellKind.FAILURE, 4, 4),  # census
]
CELLS_RARE = [
    ("a", CellKind.NORMAL, 5000, 150),
    ("a", CellKind.FAILURE, 120, 60),
    ("b", CellKind.NORMAL, 2000, 90),
    ("b", CellKind.FAILURE, 40, 1),  # lonely
    ("c", CellKind.NORMAL, 45, 20),
]


def make_case(spec, kind: str, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    rows = []
    for stratum, cell_kind, big_n, m in spec:
        cid = f"{stratum}#{cell_kind.value}"
        for j in range(m):
            if kind == "mean":
                y = float(np.round(rng.normal(3.5 if cell_kind is CellKind.NORMAL else 2.0, 1.0), 6))
            elif kind == "rate":
                y = float(rng.random() < (0.2 if cell_kind is CellKind.NORMAL else 0.6))
            elif kind == "zero":
                y = 0.0
            else:  # rare
                y = 0.0
            rows.append({"trace_id": f"{cid}/{j}", "cell": cid, "N": big_n, "y": y, "stratum": stratum,
                         "group": "v41" if rng.random() < 0.5 else "v42"})
    if kind == "rare":  # two ones among hundreds: a rate near 0
        rows[3]["y"] = 1.0
        rows[200]["y"] = 1.0
    cells = tuple(
        Cell(f"{s}#{k.value}", s, {"intent": s}, k, big_n, m) for s, k, big_n, m in spec
    )
    units = tuple(Unit(r["trace_id"], r["cell"], {"release": r["group"]}) for r in rows)
    # one unscored sampled trace per first cell: must be ignored (missing at random)
    first = cells[0]
    cells = (Cell(first.id, first.stratum, first.values, first.kind, first.population, first.sampled + 1),
             *cells[1:])
    units = units + (Unit("unscored-1", first.id),)
    return {"rows": rows, "design": Design(cells, units), "values": {r["trace_id"]: r["y"] for r in rows}}


CASES = {
    "mean_adjust": (CELLS_MAIN, "mean", 1, LonelyCell.ADJUST, "adjust"),
    "mean_certainty": (CELLS_MAIN, "mean", 1, LonelyCell.CERTAINTY, "certainty"),
    "rate_adjust": (CELLS_MAIN, "rate", 2, LonelyCell.ADJUST, "adjust"),
    "rare_adjust": (CELLS_RARE, "rare", 3, LonelyCell.ADJUST, "adjust"),
    "rare_certainty": (CELLS_RARE, "rare", 3, LonelyCell.CERTAINTY, "certainty"),
}


@pytest.fixture(scope="module")
def r_values(tmp_path_factory) -> dict[str, dict[str, float]]:
    require_rscript()
    folder = tmp_path_factory.mktemp("cases")
    for name, (spec, kind, seed, _, r_opt) in CASES.items():
        case = make_case(spec, kind, seed)
        with (folder / f"{name}.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["cell", "N", "y", "stratum", "group"])
            writer.writeheader()
            for row in case["rows"]:
                writer.writerow({k: (repr(row[k]) if k == "y" else row[k]) for k in writer.fieldnames})
        (folder / f"{name}.opt").write_text(r_opt + "\n")
    return values_by_case(run_r("survey_check.R", folder))


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=TOL, abs_tol=TOL)


@pytest.mark.parametrize("name", list(CASES))
def test_global_mean_se_df_match_svymean(r_values, name):
    spec, kind, seed, lonely, _ = CASES[name]
    case = make_case(spec, kind, seed)
    est = StratifiedEstimator(lonely=lonely).estimate(case["design"], case["values"])
    ref = r_values[name]
    assert close(est.mean, ref["mean"]), (est.mean, ref["mean"])
    assert close(est.se, ref["se"]), (est.se, ref["se"])
    assert est.df == ref["df"]
    assert est.n_scored == len(case["rows"])


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c[1] != "mean"])
def test_korn_graubard_matches_svyciprop_beta(r_values, name):
    spec, kind, seed, lonely, _ = CASES[name]
    case = make_case(spec, kind, seed)
    est = StratifiedEstimator(lonely=lonely).estimate(case["design"], case["values"])
    assert est.method is IntervalMethod.KORN_GRAUBARD
    ref = r_values[name]
    assert close(est.ci_low, ref["kg_low"]), (est.ci_low, ref["kg_low"])
    assert close(est.ci_high, ref["kg_high"]), (est.ci_high, ref["kg_high"])


@pytest.mark.parametrize("name", ["mean_adjust", "mean_certainty"])
def test_t_interval_matches_confint(r_values, name):
    spec, kind, seed, lonely, _ = CASES[name]
    case = make_case(spec, kind, seed)
    est = StratifiedEstimator(lonely=lonely).estimate(case["design"], case["values"])
    assert close(est.ci_low, r_values[name]["t_low"]) and close(est.ci_high, r_values[name]["t_high"])


@pytest.mark.parametrize("name", list(CASES))
def test_domains_and_contrast_match_subset_and_svycontrast(r_values, name):
    spec, kind, seed, lonely, _ = CASES[name]
    case = make_case(spec, kind, seed)
    design, values = case["design"], case["values"]
    ref = r_values[name]
    estimator = StratifiedEstimator(lonely=lonely)
    frame = ScoredFrame.build(design, values)
    for stratum in {c.stratum for c in design.cells}:
        cells = {c.id for c in design.cells if c.stratum == stratum}
        est = estimator.estimate_frame(frame, design, cells=cells)
        assert close(est.mean, ref[f"stratum:{stratum}:mean"])
        assert close(est.se, ref[f"stratum:{stratum}:se"]), (stratum, est.se, ref[f"stratum:{stratum}:se"])
    groups = {g: {r["trace_id"] for r in case["rows"] if r["group"] == g} for g in ("v41", "v42")}
    checked_kg_domains: list[str] = []
    for g, ids in groups.items():
        est = estimator.estimate_frame(frame, design, domain=ids)
        assert close(est.mean, ref[f"group:{g}:mean"])
        assert close(est.se, ref[f"group:{g}:se"]), (g, est.se, ref[f"group:{g}:se"])
        if f"group:{g}:kg_low" in ref:  # Korn–Graubard on a domain: svyciprop on subset()
            assert est.method is IntervalMethod.KORN_GRAUBARD
            assert close(est.ci_low, ref[f"group:{g}:kg_low"]) and close(est.ci_high, ref[f"group:{g}:kg_high"])
            checked_kg_domains.append(g)
    if kind in ("rate", "rare"):
        assert checked_kg_domains, "no domain Korn–Graubard interval was compared"
    delta, se, *_ = estimator.contrast(frame, groups["v41"], groups["v42"])
    assert close(delta, ref["delta"]) and close(se, ref["delta_se"]), (delta, se, ref["delta"], ref["delta_se"])


def test_lonely_error_policy_refuses_like_r_fail():
    from tracestrata.errors import EstimationError

    spec, kind, seed, *_ = CASES["mean_adjust"]
    case = make_case(spec, kind, seed)
    with pytest.raises(EstimationError, match="single score"):
        StratifiedEstimator(lonely=LonelyCell.ERROR).estimate(case["design"], case["values"])


@pytest.mark.parametrize("name", list(CASES))
def test_analytic_strata_and_contrast_match_r_without_fpc(r_values, name):
    spec, kind, seed, lonely, _ = CASES[name]
    case = make_case(spec, kind, seed)
    design, values = case["design"], case["values"]
    ref = r_values[name]
    estimator = StratifiedEstimator(lonely=lonely)
    frame = ScoredFrame.build(design, values).analytic()
    rate = kind != "mean"
    for stratum in {c.stratum for c in design.cells}:
        cells = {c.id for c in design.cells if c.stratum == stratum}
        method = IntervalMethod.WILSON_EFFECTIVE if rate else IntervalMethod.T
        est = estimator.estimate_frame(frame, design, cells=cells, interval=method)
        r_se = ref[f"stratum:{stratum}:se0"]
        assert close(est.mean, ref[f"stratum:{stratum}:mean"])
        assert close(est.se, r_se), (stratum, est.se, r_se)
        if rate:
            p, n = est.mean, est.n_scored
            if est.method is IntervalMethod.WILSON:  # equal weights: the count
                n_eff = float(n)
            else:
                w = frame.weight[frame.mask(None, cells)]
                kish = w.sum() ** 2 / (w**2).sum()  # the fallback when p̂ is 0 or 1
                n_eff = min(p * (1 - p) / r_se**2 if 0 < p < 1 and r_se > 0 else kish, n)
            low, high = wilson(p, n_eff)
            assert close(est.ci_low, low) and close(est.ci_high, high), (stratum, est.ci_low, low)
    groups = {g: {r["trace_id"] for r in case["rows"] if r["group"] == g} for g in ("v41", "v42")}
    _, se, *_ = estimator.contrast(frame, groups["v41"], groups["v42"])
    assert close(se, ref["delta_se0"]), (se, ref["delta_se0"])
