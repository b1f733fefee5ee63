"""A plan as text: the terminal table, a `[targets]` block for the policy, and JSON."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from typing import Any

from tracestrata.sampling.allocation import AllocationMethod, Plan, StratumCounts
from tracestrata.sampling.policy import Policy


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
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = [
        "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths, strict=True)))
    ]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append(
            "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        )
    goal = "each stratum" if plan.method is AllocationMethod.WILSON else "the global rate"
    lines.append("")
    lines.append(
        f"method {plan.method.value}: half-width <= {plan.half_width_goal:g} for {goal} at {100 * plan.confidence:g}% "
        f"confidence{'' if plan.fpc else ', no finite-population correction'}"
    )
    budget = "" if plan.budget is None else f" (budget {plan.budget:,}, floor {plan.floor})"
    overall = _percent(sampling_rate(plan.total, plan.population))
    lines.append(f"total: {plan.total:,} of {plan.population:,} traces, {overall} sampled{budget}")
    if plan.global_half_width is not None:
        lines.append(f"expected global half-width: {plan.global_half_width:.4f}")
    if any(s.design_effect != 1.0 for s in plan.strata):
        lines.append(
            "deff: design effect of the failure oversampling, if failures and non-failures are judged alike "
            "(--no-design-effect: size for simple random samples)"
        )
    if any(s.trimmed for s in plan.strata):
        lines.append("* trimmed below its Wilson target to fit the budget (smallest populations first)")
    return "\n".join(lines)


def sampling_rate(sampled: int, population: int) -> float | None:
    """The share of the traces sampled (None for an empty stratum)."""
    return sampled / population if population else None


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.1f}%"


def targets_toml(plan: Plan, policy: Policy) -> str:
    """A `[targets]` block: the most common target as `default`, the rest as overrides."""
    common = Counter(s.target for s in plan.strata if s.population)
    default = max(common.items(), key=lambda item: (item[1], item[0]))[0] if common else policy.targets.default
    lines = [
        f"# tracestrata plan: {plan.method.value}, half-width {plan.half_width_goal:g} at {100 * plan.confidence:g}%"
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


def plan_json(plan: Plan, counts: list[StratumCounts]) -> dict[str, Any]:
    values: Mapping[str, Mapping[str, str]] = {c.stratum: c.values for c in counts}
    failures = {c.stratum: c.failures for c in counts}
    return {
        "method": plan.method.value,
        "confidence": plan.confidence,
        "half_width": plan.half_width_goal,
        "budget": plan.budget,
        "floor": plan.floor,
        "fpc": plan.fpc,
        "total": plan.total,
        "population": plan.population,
        "sampling_rate": sampling_rate(plan.total, plan.population),
        "global_half_width": plan.global_half_width,
        "strata": [
            {
                "stratum": s.stratum,
                "values": dict(values.get(s.stratum, {})),
                "population": s.population,
                "failures": failures.get(s.stratum, 0),
                "rate": s.rate,
                "target": s.target,
                "sampling_rate": sampling_rate(s.target, s.population),
                "half_width": s.half_width,
                "design_effect": s.design_effect,
                "share": s.share,
                "trimmed": s.trimmed,
            }
            for s in plan.strata
        ],
    }


__all__ = ["plan_json", "render_table", "sampling_rate", "targets_toml"]
