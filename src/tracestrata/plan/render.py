"""A plan as text: the terminal table, a `[targets]` block for the policy, or JSON (`plan.plan_json`)."""

from __future__ import annotations

import json
from collections import Counter

from tracestrata.plan.allocation import AllocationMethod, Plan
from tracestrata.plan.plan_json import PlanJson, plan_json, review_json, sampling_rate, spread_json
from tracestrata.plan.request import PlanResult
from tracestrata.plan.residual import ReviewPlan, SpreadPlan
from tracestrata.policy.model import Policy


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    return [line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def _num(x: float | None, digits: int = 4) -> str:
    return "-" if x is None or x != x else f"{x:.{digits}f}"


def render_table(plan: Plan) -> str:
    header = ("stratum", "population", "rate", "target", "sampled", "deff", "half-width", "share")
    rows = [
        (
            s.stratum + (" *" if s.trimmed else ""),
            f"{s.population:,}",
            f"{s.rate:.4f}",
            f"{s.target:,}",
            _percent(sampling_rate(s.target, s.population)),
            f"{s.design_effect:.2f}",
            "-" if s.half_width is None else f"{s.half_width:.4f}",
            f"{100 * s.share:.1f}%",
        )
        for s in plan.strata
    ]
    lines = _table(header, rows)
    goal = "each stratum" if plan.method is AllocationMethod.WILSON else "the global rate"
    lines.append("")
    lines.append(
        f"method {plan.method.value}: half-width <= {plan.half_width_goal:g} for {goal} at {100 * plan.confidence:g}% "
        f"confidence{'' if plan.fpc else ', no finite-population correction'}"
    )
    lines += _total_lines(plan, "" if plan.budget is None else f" (budget {plan.budget:,}, floor {plan.floor})")
    if any(s.design_effect != 1.0 for s in plan.strata):
        lines.append(
            "deff: design effect of the failure oversampling, if failures and non-failures are judged alike "
            "(--no-design-effect: size for simple random samples)"
        )
    if any(s.trimmed for s in plan.strata):
        lines.append("* trimmed below its Wilson target to fit the budget (smallest populations first)")
    return "\n".join(lines)


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.1f}%"


def _total_lines(plan: Plan | SpreadPlan, budget: str) -> list[str]:
    overall = _percent(sampling_rate(plan.total, plan.population))
    lines = [f"total: {plan.total:,} of {plan.population:,} traces, {overall} sampled{budget}"]
    if plan.global_half_width is not None:
        lines.append(f"expected global half-width: {plan.global_half_width:.4f}")
    return lines


def render_spread_table(plan: SpreadPlan, pooled: tuple[str, ...] = ()) -> str:
    """`plan --ledger --proxy FIELD`: Neyman allocation on the measured (residual) spread."""
    header = ("stratum", "population", "judged", "plain sd", "residual sd", "target", "sampled", "half-width", "share")
    rows = [
        (
            s.stratum + (" ~" if s.stratum in pooled else ""),
            f"{s.population:,}",
            f"{s.judged:,}",
            _num(s.plain_sd),
            _num(s.sd),
            f"{s.target:,}",
            _percent(sampling_rate(s.target, s.population)),
            _num(s.half_width),
            f"{100 * s.share:.1f}%",
        )
        for s in plan.strata
    ]
    lines = [*_table(header, rows), ""]
    budget = f" (budget {plan.budget:,}, floor {plan.floor})" if plan.budget is not None else f" (floor {plan.floor})"
    lines.append(f"neyman on the residual spread: n_h ∝ N_h · residual sd, at {100 * plan.confidence:g}% confidence")
    lines += _total_lines(plan, budget)
    if plan.plain_total is not None and plan.total:
        lines.append(f"without the proxy: {plan.plain_total:,} judged traces for the same half-width "
                     f"({plan.plain_total / plan.total:.2f}x)")
    if pooled:
        lines.append("~ not measurable (fewer than 2 judged, or judged in full): the pooled spread of the others")
    return "\n".join(lines)


def render_review_table(plan: ReviewPlan, pooled: tuple[str, ...] = ()) -> str:
    """`plan --ledger --proxy score:NAME`: reviews each stratum needs for its two-phase interval."""
    header = ("stratum", "population", "judged", "reviewed", "mean", "human sd", "residual sd", "reviews",
              "half-width")
    rows = [
        (
            s.stratum + (" ~" if s.stratum in pooled else "") + ("" if s.reachable else " !"),
            f"{s.population:,}",
            f"{s.judged:,}",
            f"{s.reviewed:,}",
            _num(s.mean, 3),
            _num(s.human_sd),
            _num(s.residual_sd),
            f"{s.reviews:,}",
            _num(s.half_width),
        )
        for s in plan.strata
    ]
    interval = "Korn–Graubard on the effective n" if plan.rate else "t"
    lines = [*_table(header, rows), ""]
    lines.append(f"reviews per window for a two-phase half-width <= {plan.half_width_goal:g} in every stratum "
                 f"({interval}, {100 * plan.confidence:g}%): [review] target = {plan.target}")
    if pooled:
        lines.append("~ not measurable (fewer than 2 reviews, or all judged traces reviewed): the pooled spreads")
    if any(not s.reachable for s in plan.strata):
        lines.append("! not reachable by reviews alone: the judged sample is too small (raise its target)")
    return "\n".join(lines)


def review_toml(plan: ReviewPlan) -> str:
    return (f"# tracestrata plan: reviews for a two-phase half-width {plan.half_width_goal:g} at "
            f"{100 * plan.confidence:g}% in every stratum\n[review]\ntarget = {plan.target}\n")


def targets_toml(plan: Plan | SpreadPlan, policy: Policy | None = None) -> str:
    """A `[targets]` block: the most common target as `default`, the rest as overrides."""
    common = Counter(s.target for s in plan.strata if s.population)
    fallback = policy.targets.default if policy is not None else 0
    default = max(common.items(), key=lambda item: (item[1], item[0]))[0] if common else fallback
    method = plan.method.value if isinstance(plan, Plan) else "neyman on the residual spread"
    lines = [
        f"# tracestrata plan: {method}, half-width {plan.half_width_goal:g} at {100 * plan.confidence:g}%"
        + (f", budget {plan.budget}" if plan.budget is not None else "")
        + f"; total {plan.total} of {plan.population} traces",
        "[targets]",
        f"default = {default}",
    ]
    overrides = [(s.stratum, s.target) for s in plan.strata if s.population and s.target != default]
    if any("*" in key for key, _ in overrides):
        # the policy reads `*` in an override key as a wildcard; exact keys win over patterns,
        # so list every stratum to keep a literal `*` from reaching strata at the default
        overrides = [(s.stratum, s.target) for s in plan.strata if s.population]
    if overrides:
        lines += ["", "[targets.overrides]"]
        lines += [f"{toml_string(key)} = {target}" for key, target in overrides]
    return "\n".join(lines) + "\n"


def toml_string(text: str) -> str:
    """A TOML basic string (JSON's escapes are all valid TOML escapes)."""
    return json.dumps(text, ensure_ascii=False)


def render_result(result: PlanResult, fmt: str) -> str:
    """A plan result as `--format` asks: `toml` (a block to paste into the policy), `json`, or `table`."""
    plan = result.plan
    if plan is None:
        return ""
    if fmt == "json":
        return json.dumps(_json(result), indent=2, ensure_ascii=False) + "\n"
    if isinstance(plan, ReviewPlan):
        return review_toml(plan) if fmt == "toml" else render_review_table(plan, result.pooled) + "\n"
    if isinstance(plan, SpreadPlan):
        return targets_toml(plan) if fmt == "toml" else render_spread_table(plan, result.pooled) + "\n"
    return targets_toml(plan, result.policy) if fmt == "toml" else render_table(plan) + "\n"


def _json(result: PlanResult) -> PlanJson:
    plan = result.plan
    if isinstance(plan, ReviewPlan):
        return review_json(plan, result.pooled)
    if isinstance(plan, SpreadPlan):
        return spread_json(plan, result.pooled)
    assert plan is not None
    return plan_json(plan, result.counts)


__all__ = [
    "render_result",
    "render_review_table",
    "render_spread_table",
    "render_table",
    "review_toml",
    "targets_toml",
    "toml_string",
]
