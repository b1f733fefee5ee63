"""`[sampling] floor = "auto"` over a sequence of windows, as the job runs it (1000 windows).

The population, proxy, allocation and estimators are those of test_weighted_coverage.py
(20,000 traces, three strata, 360 judged traces per window, the difference estimator with
the proxy, descriptive: with the fpc). Each window takes fresh uniforms; its floor is
chosen by `estimate.floor_choice.choose_floor` from the *previous* window's judged sample
(its design weights, residuals M − λP and raw weights), the first window by the
first-window rule, exactly as `job.window_plan.auto_floor` does from the ledger. Three
weights run side by side:

    informative   sqrt(p(1 − p)) of the proxy (where the judge disagrees with it)
    unrelated     sqrt(p(1 − p)) of another trace's proxy (same spread, no information)
    srs           today's stratified, failure-oversampled design (equal π inside cells)

Run with `-s` to see the numbers (docs/sampling.md quotes them).
"""

from __future__ import annotations


import numpy as np
import pytest
from test_weighted_coverage import N, allocation, draw, estimates, frame_of, honest, population, summarize

from tracestrata.estimate.floor_choice import choose_floor, first_window_floor
from tracestrata.policy.weight_spec import DEFAULT_FLOOR, WeightSpec

WINDOWS = 1000
SPEC = WeightSpec("scores.heuristic", True)


def raw_sizes(p):
    return SPEC.raw_sizes(p)


def simulate(windows: int = WINDOWS):
    cell, p, y, unrelated = population()
    counts, k = allocation(cell)
    members = [np.flatnonzero(cell == c) for c in range(6)]
    raw = {"informative": raw_sizes(p), "unrelated": raw_sizes(unrelated), "srs": None}
    truth = {"all": y.mean(), "rare": y[cell >= 4].mean()}
    known = {"all": p.mean(), "rare": p[cell >= 4].mean()}
    floors = {name: first_window_floor(True, DEFAULT_FLOOR) for name in raw}
    chosen = {name: [] for name in raw}
    out = {(name, dom): [] for name in raw for dom in truth}
    rng = np.random.default_rng(2025)
    for _ in range(windows):
        u = ((rng.integers(0, 2**53, size=N, dtype=np.uint64) + np.uint64(1)).astype(float)) * 2.0**-53
        for name, w in raw.items():
            sizes = None if w is None else np.where(np.isfinite(w) & (w > floors[name]), w, floors[name])
            rows, pi = draw(cell, members, counts, k, u, sizes)
            frame = frame_of(rows, pi, cell, y, counts, k, sizes is not None)
            pooled = None
            for dom in truth:
                d = np.ones(len(rows), bool) if dom == "all" else frame.code >= 4
                _, diff, fitted = estimates(frame, p[rows], known[dom], d, 6 if dom == "all" else 2, pooled)
                pooled = fitted if pooled is None else pooled
                out[(name, dom)].append(diff)
            if w is not None:  # the next window's floor, from this window's judged sample
                chosen[name].append(floors[name])
                choice = choose_floor(frame, frame.y - pooled * p[rows], w[rows], uncertainty=True,
                                      default=DEFAULT_FLOOR)
                floors[name] = choice.floor
    summary: dict = {key: summarize(rows_, truth[key[1]]) for key, rows_ in out.items()}
    summary["floors"] = {name: np.array(v) for name, v in chosen.items() if v}
    return summary


@pytest.fixture(scope="module")
def runs():
    return simulate()


def test_print(runs):
    for key, s in runs.items():
        if key == "floors":
            continue
        print(f"{'/'.join(key):18s} bias {s['bias_se']:+.2f} MCSE  coverage {s['coverage']:.3f}  "
              f"width {s['width']:.4f}  sd {s['sd']:.4f}  width/empirical {honest(s):.3f}")
    for name, f in runs["floors"].items():
        values, counts = np.unique(f, return_counts=True)
        print(name, "floors:", dict(zip(values.round(3).tolist(), counts.tolist(), strict=True)))
    for dom in ("all", "rare"):
        base = runs[("srs", dom)]["width"]
        print(f"{dom}: informative/srs {runs[('informative', dom)]['width'] / base:.3f}, "
              f"unrelated/srs {runs[('unrelated', dom)]['width'] / base:.3f}")


@pytest.mark.parametrize("domain", ["all", "rare"])
def test_auto_floor_with_an_informative_weight_is_unbiased_covers_and_is_narrower(runs, domain):
    s = runs[("informative", domain)]
    assert abs(s["bias_se"]) < 2.0
    assert 0.93 <= s["coverage"] <= 0.97
    assert s["width"] <= 0.75 * runs[("srs", domain)]["width"]
    assert 0.90 <= honest(s) <= 1.10


@pytest.mark.parametrize("domain", ["all", "rare"])
def test_auto_floor_with_an_unrelated_weight_costs_at_most_three_percent(runs, domain):
    s = runs[("unrelated", domain)]
    assert s["width"] <= 1.03 * runs[("srs", domain)]["width"]
    assert abs(s["bias_se"]) < 2.0
    assert 0.93 <= s["coverage"] <= 0.97
    assert 0.90 <= honest(s) <= 1.10
