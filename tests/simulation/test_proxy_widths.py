"""Proxy-assisted intervals as wide as the estimate's real spread, through the report's path.

The `sim_design` population (7 strata, compliance at 0.44%, failures oversampled 4x,
10% of sampled traces unjudged), 1000 draws. Every draw goes through `assisted.assist`
(what `report --proxy FIELD` runs) for the whole population and the compliance row.
Proxies sit on a 1-5 scale (level 3, as a heuristic score would), so a residual that
is not centred at the proxy's known mean shows up as width:

    cell-scaled-0.9/0.6/0.0  P = ρ·(M − M̄_c)/s_c + √(1 − ρ²)·ε + 3: within-cell correlation ρ,
                             a slope that differs by cell (ρ·s_c)
    noisy-0.9                P = M − M̄_c + s_c·√(1/ρ² − 1)·ε + 3: the metric measured with noise,
                             one slope (ρ²) in every cell
    flip-in-compliance       correlation 0.8, −0.8 in the compliance stratum
    biased-by-stratum        correlation 0.8, a level that grows by 0.3 per stratum

Measured per proxy and metric (`correct`, a rate at 0.85, and `quality`, a 1-5 mean):
bias in Monte Carlo SEs, coverage of the 95% interval globally and for compliance,
the mean width against 2 × 1.96 × the empirical SD of the estimate, and the width
against the plain estimate's on the same draws. Run with `-s` to see the numbers.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from sim_design import make_population, plan_cells

from tracestrata.design import Cell, Design
from tracestrata.estimate.assisted import ProxyKind, ProxySpec, assist_difference
from tracestrata.estimate.estimators import LonelyCell, ScoredFrame, StratifiedEstimator
from tracestrata.estimate.intervals import IntervalMethod
from tracestrata.estimate.proxy import ProxyData, Tuning, lambda_groups

REPS = 1000
TARGET = 60
SMALL = "compliance"
LEVEL = 3.0
# name: (within-cell correlation, kind, stratum where it flips sign, bias by stratum)
PROXIES = {
    "cell-scaled-0.9": (0.9, "scaled", None, False),
    "cell-scaled-0.6": (0.6, "scaled", None, False),
    "cell-scaled-0.0": (0.0, "scaled", None, False),
    "noisy-0.9": (0.9, "noisy", None, False),
    "flip-in-compliance": (0.8, "scaled", SMALL, False),
    "biased-by-stratum": (0.8, "scaled", None, True),
    "missing-where-worse": (0.9, "scaled", None, False),
}
MISSING = "missing-where-worse"  # missing on ~20% of traces, more often where the metric is low
# bounds on the global width / the plain width: the 0.45x at 0.9 for a proxy with one
# slope, 1.03x for a useless one; a slope that differs by cell costs a pooled λ a little (0.47x)
RATIO = {"noisy-0.9": 0.45, "cell-scaled-0.9": 0.48, "cell-scaled-0.6": 0.83, "cell-scaled-0.0": 1.03}


def make_proxy(y, plans, strata, rho, kind, flip, biased, rng):
    p = np.zeros(len(y))
    for pl in plans:
        yy = y[pl.members]
        s = yy.std()
        sign = -1.0 if pl.stratum == flip else 1.0
        level = LEVEL + (0.3 * strata.index(pl.stratum) if biased else 0.0)
        noise = rng.standard_normal(len(yy))
        if kind == "noisy":
            p[pl.members] = yy - yy.mean() + s * math.sqrt(1 / rho**2 - 1) * noise + level
        else:
            p[pl.members] = sign * rho * (yy - yy.mean()) / (s or 1.0) + math.sqrt(1 - rho * rho) * noise + level
    return p


def draws(pop, plans, reps, rng):
    """Scored population indices per draw and cell (SRSWOR, then 10% never judged), all at once."""
    per_cell = []
    for pl in plans:
        keys = rng.random((reps, len(pl.members)))
        picked = np.argsort(keys, axis=1)[:, : pl.k]
        judged = rng.random((reps, pl.k)) >= 0.1
        per_cell.append((pl.members[picked], judged))
    return [[members[r][judged[r]] for members, judged in per_cell] for r in range(reps)]


@pytest.fixture(scope="module")
def measured():
    pop = make_population()
    plans = plan_cells(pop, TARGET)
    strata = sorted({pl.stratum for pl in plans})
    by_metric = {metric: {name: make_proxy(getattr(pop, metric), plans, strata, rho, kind, flip, biased,
                                           np.random.default_rng(11))
                          for name, (rho, kind, flip, biased) in PROXIES.items()}
                 for metric in ("correct", "quality")}
    cells = tuple(Cell(pl.id, pl.stratum, {"metadata.intent": pl.stratum}, pl.kind, len(pl.members), pl.k)
                  for pl in plans)
    design = Design(cells, ())  # the plain estimates read only the cells
    cell_ids = tuple(c.id for c in cells)
    population = np.array([c.population for c in cells], dtype=float)
    groups, names = lambda_groups(cell_ids, [c.stratum for c in cells], Tuning.POOLED)
    small_cells = {c.id for c in cells if c.stratum == SMALL}
    for metric, proxies in by_metric.items():
        y = getattr(pop, metric)
        u = np.random.default_rng(12).random(len(y))
        proxies[MISSING][u < np.where(y < np.median(y), 0.3, 0.1)] = np.nan
    known = {(metric, name): (np.array([np.sum(~np.isnan(p[pl.members])) for pl in plans], dtype=float),
                              np.array([np.nansum(p[pl.members]) for pl in plans]))
             for metric, proxies in by_metric.items() for name, p in proxies.items()}
    estimator = StratifiedEstimator()
    out: dict[tuple[str, str], list[tuple[float, ...]]] = {}
    for scored in draws(pop, plans, REPS, np.random.default_rng(2026)):
        idx = np.concatenate(scored)
        code = np.repeat(np.arange(len(plans)), [len(s) for s in scored])
        m = np.array([len(s) for s in scored], dtype=float)
        weight = (population / m)[code]
        for metric, proxies in by_metric.items():
            rate = metric == "correct"
            frame = ScoredFrame(tuple(pop.ids[idx].tolist()), cell_ids, code, getattr(pop, metric)[idx], population,
                                m, weight)
            small = frame.mask(None, small_cells)
            method = IntervalMethod.KORN_GRAUBARD if rate else IntervalMethod.T
            row_method = IntervalMethod.WILSON_EFFECTIVE if rate else IntervalMethod.T
            plain = estimator.estimate_frame(frame, design, interval=method)
            plain_small = estimator.estimate_frame(frame, design, cells=small_cells, interval=row_method)
            for name, p in proxies.items():
                data = ProxyData(p[idx], *known[(metric, name)])
                whole, rows = assist_difference(frame, data, ProxySpec(ProxyKind.FIELD, name), {SMALL: small}, plain,
                                                {SMALL: plain_small}, groups, names, rate=rate, confidence=0.95,
                                                lonely=LonelyCell.ADJUST, rate_interval=IntervalMethod.KORN_GRAUBARD)
                e, s = whole.estimate, rows[SMALL].estimate
                out.setdefault((metric, name), []).append(
                    (e.mean, e.ci_low, e.ci_high, plain.ci_low, plain.ci_high, plain.mean,
                     s.mean, s.ci_low, s.ci_high, plain_small.ci_low, plain_small.ci_high))
    truths = {m: (pop.truth(m), pop.stratum_truth(m, SMALL)) for m in by_metric}
    return truths, {k: np.array(v) for k, v in out.items()}


def summarise(est, low, high, truth):
    sd = est.std(ddof=1)
    width = float((high - low).mean())
    return ((est.mean() - truth) / (sd / math.sqrt(len(est))), float(np.mean((low <= truth) & (truth <= high))),
            width / (2 * 1.96 * sd), width)


@pytest.mark.parametrize("metric", ["correct", "quality"])
@pytest.mark.parametrize("name", list(PROXIES))
def test_proxy_interval_matches_its_spread(measured, metric, name):
    truths, out = measured
    a = out[(metric, name)]
    truth, small_truth = truths[metric]
    bias, cover, spread, width = summarise(a[:, 0], a[:, 1], a[:, 2], truth)
    p_bias, p_cover, p_spread, p_width = summarise(a[:, 5], a[:, 3], a[:, 4], truth)
    s_bias, s_cover, s_spread, s_width = summarise(a[:, 6], a[:, 7], a[:, 8], small_truth)
    s_plain = float((a[:, 10] - a[:, 9]).mean())
    print(f"\n{metric:8s} {name:19s} global: bias {bias:+.2f} MC se, coverage {cover:.3f}, width/empirical "
          f"{spread:.3f}, width vs plain {width / p_width:.3f} (plain: bias {p_bias:+.2f}, coverage {p_cover:.3f}, "
          f"width/empirical {p_spread:.3f}); {SMALL}: bias {s_bias:+.2f}, coverage {s_cover:.3f}, width/empirical "
          f"{s_spread:.3f}, vs plain {s_width / s_plain:.3f}")
    assert abs(bias) < 2.0
    assert 0.93 <= cover <= 0.97
    assert 0.93 <= s_cover <= 0.97
    assert abs(spread - 1.0) <= 0.05
    if name in RATIO:
        assert width / p_width <= RATIO[name]
