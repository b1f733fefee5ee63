"""`plan --ledger`: size strata from the spreads measured in the sync ledger's judged windows.

The populations are those of the ledger's latest window (a window like the next one);
the spreads come from the report over the selected windows (`estimate.spread`): with
`--proxy FIELD` the residual SD of metric − λ·proxy, so the plan is Neyman allocation on
the residual spread; with `--proxy score:NAME` the plan says how many human reviews each
stratum needs (`plan.residual`). A stratum whose spread could not be measured (fewer
than 2 judged traces, or judged in full) takes the population-weighted spread of the others.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from tracestrata.design import Design
from tracestrata.errors import InputError
from tracestrata.estimate.assisted import ProxyKind, parse_proxy, proxy_value
from tracestrata.estimate.estimators import ScoredFrame
from tracestrata.estimate.report import Report, build_report
from tracestrata.estimate.spread import StratumSpread, report_spreads
from tracestrata.estimate.weighted_difference import difference_unequal
from tracestrata.estimate.weighting_gain import weighting_gain
from tracestrata.job.ledger import design_from_ledger
from tracestrata.job.state_rows import RunStatus
from tracestrata.job.state import State
from tracestrata.job.windows import format_duration
from tracestrata.record import Score, parse_timestamp
from tracestrata.plan.rates import observed_rate
from tracestrata.plan.residual import (
    ReviewInput,
    ReviewPlan,
    SpreadInput,
    SpreadPlan,
    review_plan,
    residual_neyman,
)
from tracestrata.policy.weight_expression import ExpressionError
from tracestrata.sampling.weights import floor_choice
from tracestrata.policy.weight_spec import numbers, spec_from_table

__all__ = ["DAY", "LedgerPlan", "daily_targets", "finished_windows", "plan_from_design", "weighting_forecast"]


@dataclass(frozen=True)
class LedgerPlan:
    plan: SpreadPlan | ReviewPlan
    report: Report
    windows: int
    latest: str
    pooled: tuple[str, ...]  # strata that took the pooled spread


def _conservative(s: StratumSpread, rate: bool, confidence: float) -> StratumSpread:
    """A rate whose measured spread is ~0 (every judged or reviewed trace agrees) says nothing
    about the next window: plan at the end of its Wilson interval nearest 0.5, as
    `observed_rate` does for the Wilson plan (its mean and spreads all taken there)."""
    base = s.human_sd if math.isfinite(s.human_sd) else s.plain_sd
    if not rate or s.n < 1 or not math.isfinite(base) or base > 1e-9:
        return s
    q = observed_rate(s.n if s.mean >= 0.5 else 0, s.n, confidence=confidence)
    sd = math.sqrt(q * (1.0 - q))
    human = sd if math.isfinite(s.human_sd) else s.human_sd
    residual = sd if not math.isfinite(s.sd) or s.sd <= 1e-9 else s.sd
    return replace(s, mean=q, sd=residual, plain_sd=sd, human_sd=human)


def _pooled(spreads: Mapping[str, StratumSpread], populations: Mapping[str, int], attr: str) -> float:
    pairs = [(populations.get(k, 0), getattr(s, attr)) for k, s in spreads.items() if math.isfinite(getattr(s, attr))]
    weight = sum(w for w, _ in pairs)
    if not pairs or weight == 0:
        raise InputError("no stratum has 2 judged traces in the ledger's windows: nothing to measure a spread from",
                         field="ledger")
    return math.sqrt(sum(w * v * v for w, v in pairs) / weight)


def _measured(
    spreads: Mapping[str, StratumSpread], populations: Mapping[str, int], strata: list[str], attrs: tuple[str, ...]
) -> tuple[dict[str, dict[str, float]], list[str]]:
    """Each stratum's `attrs` of its measured spread, or all of them pooled over the strata when one is not
    measured (not finite); and the strata that took the pooled values."""
    pooled_values = {attr: _pooled(spreads, populations, attr) for attr in attrs}
    values, pooled = {}, []
    for k in strata:
        s = spreads.get(k)
        if s is not None and all(math.isfinite(getattr(s, attr)) for attr in attrs):
            values[k] = {attr: getattr(s, attr) for attr in attrs}
        else:
            values[k] = pooled_values
            pooled.append(k)
    return values, pooled


def finished_windows(path: str | Path, since: timedelta | None = None) -> tuple[Design, list[Score]]:
    """The design and scores of the ledger's finished windows (ending in the last `since`), to plan from."""
    design, scores = design_from_ledger(path, since=since)
    if not design.cells:
        raise InputError("no finished window in the ledger: nothing to plan from", path=str(path))
    return design, scores


DAY = timedelta(days=1)


def daily_targets(path: str | Path) -> bool:
    """Whether the latest finished run's policy has `[targets] per = "day"`: its targets (and
    `review.target`) are per day, so the plan sizes a day, the windows of the last day."""
    policy = _latest_policy(path)
    targets = policy.get("targets") if isinstance(policy, Mapping) else None
    return isinstance(targets, Mapping) and targets.get("per") == "day"


def _latest_policy(path: str | Path) -> object:
    """The policy (as stored, plain JSON) of the latest finished run; None without one."""
    with State(Path(path), create=False) as state:
        runs = state.runs(status=RunStatus.DONE)
        return state.policy(max(runs, key=lambda r: r.window_end).policy_digest) if runs else None


def _window_end(window: str | None) -> datetime | None:
    return parse_timestamp(window.split("/", 1)[1]) if window and "/" in window else None


def plan_from_design(
    design: Design,
    scores: Sequence[Score],
    metric: str,
    proxy: str | None,
    *,
    half_width: float = 0.05,
    confidence: float = 0.95,
    budget: int | None = None,
    floor: int = 30,
    fpc: bool = True,
    period: timedelta | None = None,
) -> LedgerPlan:
    """The plan from a (multi-window) design and its scores: populations of its latest window,
    or with `period` (daily targets: `DAY`) those of the windows ending in its last `period`, summed."""
    latest = max(str(c.window) for c in design.cells)
    planned = {latest}
    last_end = _window_end(latest)
    if period is not None and last_end is not None:
        planned = {str(c.window) for c in design.cells
                   if (end := _window_end(c.window)) is not None and end > last_end - period}
        if len(planned) > 1:
            latest = f"the {len(planned)} windows of the last {format_duration(period)} (daily targets)"
    populations: dict[str, int] = defaultdict(int)
    cells: Counter[str] = Counter()
    sampled: Counter[str] = Counter()
    latest_cells: dict[str, str] = {}
    for cell in design.cells:
        if str(cell.window) in planned:
            populations[cell.stratum] += cell.population
            sampled[cell.stratum] += cell.sampled
            cells[cell.stratum] += 1
            latest_cells[cell.id] = cell.stratum
    report = build_report(design, scores, metric, confidence=confidence, proxy=proxy)
    spec = parse_proxy(proxy) if proxy else None
    judged_all: Counter[str] = Counter()
    judged_latest: Counter[str] = Counter()
    if spec is not None and spec.kind is ProxyKind.JUDGE:
        judged_ids = {s.trace_id for s in scores if s.name == spec.name}
        stratum_of = {c.id: c.stratum for c in design.cells}
        for unit in design.units:
            if unit.trace_id in judged_ids:
                judged_all[stratum_of[unit.cell]] += 1
                if unit.cell in latest_cells:
                    judged_latest[latest_cells[unit.cell]] += 1
    rate = report.kind.value == "rate"
    spreads = {k: _conservative(s, rate, confidence) for k, s in report_spreads(report, judged_all).items()}
    strata = sorted(populations)
    windows = len({c.window for c in design.cells})
    if spec is not None and spec.kind is ProxyKind.JUDGE:
        values, pooled = _measured(spreads, populations, strata, ("human_sd", "sd"))
        inputs = []
        for k in strata:
            s = spreads.get(k)
            inputs.append(ReviewInput(
                k, populations[k], judged_latest.get(k, 0) or sampled[k],  # not judged yet: its sample
                s.mean if s is not None and math.isfinite(s.mean) else report.estimate.mean,
                values[k]["human_sd"], values[k]["sd"], cells[k], s.n if s is not None else 0,
            ))
        plan: SpreadPlan | ReviewPlan = review_plan(inputs, half_width=half_width, confidence=confidence,
                                                    rate=rate, floor=floor)
        return LedgerPlan(plan, report, windows, latest, tuple(pooled))
    values, pooled = _measured(spreads, populations, strata, ("sd", "plain_sd"))
    rows = [
        SpreadInput(k, populations[k], values[k]["sd"], values[k]["plain_sd"], s.n if s is not None else 0)
        for k, s in ((k, spreads.get(k)) for k in strata)
    ]
    plan = residual_neyman(rows, half_width=half_width, confidence=confidence, budget=budget, floor=floor, fpc=fpc)
    return LedgerPlan(plan, report, windows, latest, tuple(pooled))


def weighting_forecast(path: str | Path, design: Design, scores: Sequence[Score], metric: str,
                       proxy: str | None) -> str | None:
    """`plan --ledger --proxy FIELD`: one line saying what proxy-weighted sampling buys (or costs)
    for the judged traces of the ledger's windows (`estimate.weighting_gain`). The weight is the
    latest policy's `[sampling] weight`, else `proxy_uncertainty:FIELD`. None without a numeric
    metric or a proxy field."""
    spec = parse_proxy(proxy) if proxy else None
    if spec is None or spec.kind is not ProxyKind.FIELD:
        return None
    policy = _latest_policy(path)
    table = policy.get("sampling") if isinstance(policy, Mapping) else None
    try:
        weight = spec_from_table(table if isinstance(table, Mapping) else {}, spec.name)
    except ExpressionError as exc:  # a ledger written by a version whose expressions this one refuses
        return f"no weighting forecast: the ledger's policy has a weight this version does not read ({exc})"
    values = {s.trace_id: float(s.value) for s in scores
              if s.name == metric and isinstance(s.value, int | float) and math.isfinite(float(s.value))}
    frame = ScoredFrame.build(design, values)
    if len(frame.y) < 2:
        return None
    units = {u.trace_id: u for u in design.units}
    p = np.array([_nan(proxy_value(units[t], spec.name)) for t in frame.trace_ids], dtype=float)
    if np.isnan(p).all():
        return None
    p = np.where(np.isnan(p), float(np.nanmean(p)), p)
    raw = [units[t].proxy[weight.field] if weight.field in units[t].proxy else units[t].attr(weight.field)
           for t in frame.trace_ids]
    if not np.isfinite(numbers(raw)).any():  # every size would be the floor: a forecast of 1.00x says nothing
        return (f'no weighting forecast for weight = "{weight.text}": the ledger does not record {weight.field} '
                "on the judged traces (declare it as a [[proxy]] so the ledger keeps it)")
    everything = np.ones(len(frame.y), dtype=bool)
    lam = difference_unequal(frame, p, 0.0, everything).lam
    choice = floor_choice(weight, frame, frame.y - lam * p, raw)  # floor = "auto": the floor it would choose
    weight = weight if choice is None else weight.with_floor(choice.floor)
    gain = weighting_gain(frame, frame.y - lam * p, weight.sizes(raw))
    # against the same (Poisson) forecast at equal sizes, as `floor_choice` compares: `se_equal` is
    # the exact SRS variance, larger by N_c/(N_c − 1), so equal sizes read 0.99x, a gain that is not there
    equal = weighting_gain(frame, frame.y - lam * p, np.ones(len(frame.y))).se_weighted
    ratio = gain.se_weighted / equal if equal > 0 else math.nan
    if not math.isfinite(ratio):
        return None
    floor = f"floor {weight.floor:g}" + ("" if choice is None else f' (floor = "auto": {choice.reason})')
    return (f'with [sampling] weight = "{weight.text}", {floor}, the same {gain.judged:,} judged traces would give '
            f"an interval {ratio:.2f}x as wide for --proxy {spec.name} (SE {equal:.4f} -> "
            f"{gain.se_weighted:.4f}; a forecast from the judged windows)")


def _nan(x: float | None) -> float:
    return math.nan if x is None else x
