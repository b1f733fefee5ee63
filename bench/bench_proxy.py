"""What a proxy is worth: the judging budget a uniform sample would need to match the proxy-assisted interval.

On the simulation population of tests/simulation (7 strata, compliance at 0.44%,
failures oversampled 4x, ~420 judged per draw) with a proxy of within-cell
correlation RHO with the judge's `quality`, REPS draws of the design give the mean
width of the proxy-assisted interval. A uniform simple random sample (plain
Horvitz–Thompson, t interval) of n traces has half-width t·S·√(1/n − 1/N); the budget
n* that reaches the same width, over the judged count, is the printed ratio. The
baseline is the plain stratified estimate of the same draws, measured the same way;
proxy/plain − 1 is what the proxy is worth ("x% more judgements").

    python bench/bench_proxy.py [--reps 200] [--rho 0.9 0.6 0.0]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from scipy import special

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "simulation"))
from sim_design import draw, make_population, plan_cells  # noqa: E402

from tracestrata.estimate.estimators import LonelyCell, ScoredFrame, StratifiedEstimator, stratified_variance  # noqa: E402
from tracestrata.estimate.proxy import ProxyData, Tuning, difference_fit, lambda_groups  # noqa: E402


def budget_for(width: float, s: float, big_n: int) -> float:
    """n with 2 · z · S · √(1/n − 1/N) = width (uniform SRS, normal quantile)."""
    z = float(special.ndtri(0.975))
    return 1.0 / ((width / (2 * z * s)) ** 2 + 1.0 / big_n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--rho", type=float, nargs="+", default=[0.9, 0.6, 0.0])
    parser.add_argument("--target", type=int, default=60)
    args = parser.parse_args()
    pop = make_population()
    plans = plan_cells(pop, args.target)
    y = pop.quality
    big_n, s = len(y), float(y.std(ddof=1))
    position = {tid: i for i, tid in enumerate(pop.ids.tolist())}
    estimator = StratifiedEstimator()
    z = float(special.ndtri(0.975))
    print(f"population {big_n:,} traces, metric quality (S = {s:.3f}), {args.reps} draws, target {args.target}/stratum")
    for rho in args.rho:
        rng = np.random.default_rng(11)
        p = np.zeros(big_n)
        for pl in plans:
            yy = y[pl.members]
            p[pl.members] = rho * (yy - yy.mean()) / (yy.std() or 1.0) + math.sqrt(1 - rho**2) * rng.standard_normal(
                len(yy))
        widths, plain_widths, judged = [], [], []
        for rep in range(args.reps):
            d = draw(pop, plans, np.random.default_rng([2026, rep]))
            frame = ScoredFrame.build(d.design, {str(pop.ids[i]): float(y[i]) for i in d.scored})
            index = {c.id: i for i, c in enumerate(d.design.cells)}
            known_n, known_sum = np.zeros(len(index)), np.zeros(len(index))
            for pl in plans:
                known_n[index[pl.id]], known_sum[index[pl.id]] = len(pl.members), p[pl.members].sum()
            pv = np.array([p[position[t]] for t in frame.trace_ids])
            groups, names = lambda_groups(frame.cell_ids, [c.stratum for c in d.design.cells], Tuning.POOLED)
            mask = np.ones(len(pv), bool)
            fit = difference_fit(frame, ProxyData(pv, known_n, known_sum), mask, groups, names, folds=2)
            variance, _ = stratified_variance(frame, fit.z, mask, LonelyCell.ADJUST)
            widths.append(2 * z * math.sqrt(variance))
            plain_widths.append(2 * z * estimator.estimate_frame(frame, d.design).se)
            judged.append(fit.n)
        n = float(np.mean(judged))
        proxy_budget = budget_for(float(np.mean(widths)), s, big_n)
        plain_budget = budget_for(float(np.mean(plain_widths)), s, big_n)
        print(f"rho {rho:.1f}: judged {n:.0f}; a uniform sample needs {proxy_budget:,.0f} judgements to match the "
              f"proxy-assisted width: {proxy_budget / n:.2f}x the budget; baseline, the plain stratified estimate: "
              f"{plain_budget / n:.2f}x; proxy/plain = {proxy_budget / plain_budget:.2f}x (the proxy is worth "
              f"{proxy_budget / plain_budget - 1:+.0%} judgements)")


if __name__ == "__main__":
    main()
