"""Budget trimming: lowering Wilson targets to a budget, long tail first."""

from __future__ import annotations

from collections.abc import Mapping

from tracestrata.errors import ConfigError

DEFAULT_FLOOR = 30


def check_floors(floors: Mapping[str, int], budget: int | None, floor: int) -> None:
    """A `ConfigError` when `budget` cannot cover every stratum's floor."""
    minimum = sum(floors.values())
    if budget is not None and minimum > budget:
        raise ConfigError(
            f"{budget} is smaller than the floors: {len(floors)} strata need at least {minimum} "
            f"(floor {floor}, or the whole stratum when smaller); raise --budget or lower --floor",
            field="budget",
        )


def trim_to_budget(
    targets: Mapping[str, int], populations: Mapping[str, int], budget: int, *, floor: int = DEFAULT_FLOOR
) -> dict[str, int]:
    """Lower targets until they sum to `budget`, long tail first.

    Strata are taken from the smallest population up (ties by key); each is cut
    down to `min(floor, its target)` before the next is touched, so the big
    strata keep their precision and only the tail widens. Raises `ConfigError`
    when the budget cannot cover the floors.
    """
    if budget < 0:
        raise ConfigError(f"expected a budget >= 0, got {budget}", field="budget")
    if floor < 0:
        raise ConfigError(f"expected a floor >= 0, got {floor}", field="floor")
    out = dict(targets)
    excess = sum(out.values()) - budget
    if excess <= 0:
        return out
    floors = {key: min(floor, n) for key, n in out.items()}
    check_floors(floors, budget, floor)
    for key in sorted(out, key=lambda k: (populations.get(k, 0), k)):
        cut = min(excess, out[key] - floors[key])
        out[key] -= cut
        excess -= cut
        if excess == 0:
            break
    return out


__all__ = ["DEFAULT_FLOOR", "check_floors", "trim_to_budget"]
