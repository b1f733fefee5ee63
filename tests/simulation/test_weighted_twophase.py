"""Two-phase on a weighted sample (`estimate.weighted_twophase`), 2000 draws of a known population.

The population and the weighted phase 1 are those of test_weighted_coverage.py (20,000
traces, three strata, 360 judged per draw by priority sampling on sqrt(p(1 − p)) of the
proxy, floor 0.25: what `floor = "auto"` takes in its first window). The metric is a human
label H (the population's M); the judge J is a biased, noisy copy of it (it misses 30% of the
failures H = 0 and flags 8% of the good traces), known on all judged traces. Phase 2 is the
review subsample: one in three judged traces of every cell (an SRS inside the cell, as
`samplers.draw_review` draws it; 10 to 30 reviews a cell). The target is this population's
mean of H, so the numbers are descriptive (the finite-population factors in); the analytic
frame is simulated too, against the same target (it should over-cover a little: it adds the
variance of a population that is fixed here).

Each part of the variance is checked against what it estimates: the phase-1 term against the
variance over draws of Ŷ₁, the Hájek estimate had every judged trace been reviewed (V(E[Ŷ|s₁])),
the phase-2 term against the mean of (Ŷ − Ŷ₁)² (E[V(Ŷ|s₁)]). The interval is the report's for a
rate (Korn–Graubard on the effective n, the phase-1 floor: `estimate.assisted`); the t interval
is printed beside it. Run with `-s` to see the numbers (docs/report.md quotes them).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_weighted_coverage import N, allocation, draw, frame_of, population

from tracestrata.estimate.assisted import _phase1_floor
from tracestrata.estimate.estimators import domain_fit
from tracestrata.estimate.intervals import korn_graubard, t_interval
from tracestrata.estimate.weighted_twophase import twophase_unequal
from tracestrata.estimate.floor_choice import FIRST_WINDOW_FLOOR
from tracestrata.policy.weight_spec import WeightSpec

REPS = 2000
SPEC = WeightSpec("scores.heuristic", True, FIRST_WINDOW_FLOOR)
REVIEW = 3  # one judged trace in REVIEW is reviewed
KINDS = ("descriptive", "analytic")
DOMAINS = ("all", "rare")


def review_mask(code: np.ndarray, v: np.ndarray) -> np.ndarray:
    """An SRS of ceil(m_c / REVIEW) of the m_c judged traces of every cell: the smallest v inside each cell."""
    order = np.lexsort((v, code))
    m_c = np.bincount(code)
    first = np.concatenate(([0], np.cumsum(m_c)[:-1]))
    rank = np.empty(len(code), dtype=np.intp)
    rank[order] = np.arange(len(code)) - first[code[order]]
    return rank < np.ceil(m_c / REVIEW)[code]


def simulate(reps: int = REPS):
    cell, p, y, _ = population()
    counts, k = allocation(cell)
    members = [np.flatnonzero(cell == c) for c in range(6)]
    rng = np.random.default_rng(99)
    judge = np.where(y == 1, (rng.random(N) < 0.92).astype(float), (rng.random(N) < 0.30).astype(float))
    sizes = SPEC.sizes(p)
    truth = {"all": y.mean(), "rare": y[cell >= 4].mean()}
    out: dict[tuple[str, str], list] = {(dom, kind): [] for dom in DOMAINS for kind in KINDS}
    for _ in range(reps):
        u = ((rng.integers(0, 2**53, size=N, dtype=np.uint64) + np.uint64(1)).astype(float)) * 2.0**-53
        rows, pi = draw(cell, members, counts, k, u, sizes)
        frame = frame_of(rows, pi, cell, y, counts, k, True)
        human = np.where(review_mask(frame.code, rng.random(len(rows))), y[rows], np.nan)
        j = judge[rows]
        for kind, f in (("descriptive", frame), ("analytic", frame.analytic())):
            lam = None
            for dom in DOMAINS:  # "all" first: the rare stratum reuses its λ, as the report does
                d = np.ones(len(rows), bool) if dom == "all" else frame.code >= 4
                two = twophase_unequal(f, j, human, d, lam=lam)
                lam = two.fit.lambdas["(all)"] if lam is None else lam
                df = two.fit.n - two.fit.cells - two.fit.slopes
                covered = float(f.population[np.bincount(f.code[d], minlength=6) > 0].sum())
                floored = _phase1_floor(two.fit.mean, two.variance, int(d.sum()), covered if f.fpc else math.inf)
                out[(dom, kind)].append((two.fit.mean, math.sqrt(two.variance),
                                         *korn_graubard(two.fit.mean, floored, two.fit.n, df),
                                         *t_interval(two.fit.mean, math.sqrt(two.variance), df),
                                         two.phase1_variance, two.phase2_variance, domain_fit(frame, d).mean))
    return {key: summarize(np.array(rows_), truth[key[0]]) for key, rows_ in out.items()}


def summarize(rows: np.ndarray, target: float) -> dict[str, float]:
    mean, se, low, high, t_low, t_high, v1, v2, full = rows.T
    sd = mean.std(ddof=1)
    return {
        "bias": float(mean.mean() - target),
        "bias_se": float((mean.mean() - target) / (sd / math.sqrt(len(mean)))),
        "coverage": float(((low <= target) & (target <= high)).mean()),
        "miss_low": float((high < target).mean()),  # the interval lies below the truth
        "miss_high": float((low > target).mean()),
        "coverage_t": float(((t_low <= target) & (target <= t_high)).mean()),
        "width": float((high - low).mean()),
        "sd": float(sd),
        "se_sd": float(se.mean() / sd),
        "phase1": float(v1.mean() / full.var(ddof=1)),  # V̂₁ against V(Ŷ₁)
        "phase2": float(v2.mean() / ((mean - full) ** 2).mean()),  # V̂₂ against E(Ŷ − Ŷ₁)²
    }


@pytest.fixture(scope="module")
def runs():
    return simulate()


def test_print(runs):
    for key, s in runs.items():
        print(f"{'/'.join(key):18s} bias {s['bias']:+.5f} ({s['bias_se']:+.2f} MCSE)  coverage {s['coverage']:.3f} "
              f"(below {s['miss_low']:.3f}, above {s['miss_high']:.3f}; t {s['coverage_t']:.3f})  "
              f"mean se/sd {s['se_sd']:.3f}  phase 1 {s['phase1']:.3f}  phase 2 {s['phase2']:.3f}  "
              f"width/(3.92 sd) {s['width'] / (3.92 * s['sd']):.3f}")


@pytest.mark.parametrize("domain", DOMAINS)
def test_weighted_twophase_is_unbiased_covers_and_its_se_is_honest(runs, domain):
    s = runs[(domain, "descriptive")]
    assert abs(s["bias_se"]) < 2.0 and abs(s["bias"]) < 0.05 * s["sd"]
    assert 0.94 <= s["coverage"] <= 0.96
    assert 0.97 <= s["se_sd"] <= 1.03
    assert 0.92 <= s["phase1"] <= 1.08 and 0.92 <= s["phase2"] <= 1.08


@pytest.mark.parametrize("domain", DOMAINS)
def test_the_analytic_interval_is_no_narrower(runs, domain):
    analytic, descriptive = runs[(domain, "analytic")], runs[(domain, "descriptive")]
    assert analytic["width"] >= descriptive["width"] and analytic["coverage"] >= 0.94
