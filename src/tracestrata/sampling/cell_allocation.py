"""How many traces each cell of a stratum takes: integers that sum to the target.

`allocate_stratum` splits a stratum's target between its failure and normal cells
(failures oversampled by the policy's multiplier), `allocate_boost` splits a boost's
remaining `collect` over its cells, and both round with `largest_remainder`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def largest_remainder(expected: Sequence[float], total: int, caps: Sequence[int]) -> list[int]:
    """Integers summing to `total` (if the caps allow), each <= its cap, closest to `expected`.

    Ties in the fractional part go to the earlier entry, so the result is deterministic.
    """
    counts = [min(cap, math.floor(e + 1e-9)) for e, cap in zip(expected, caps, strict=True)]
    left = total - sum(counts)
    order = sorted(range(len(expected)), key=lambda i: (-(expected[i] - math.floor(expected[i] + 1e-9)), i))
    while left > 0:
        progressed = False
        for i in order:
            if left and counts[i] < caps[i]:
                counts[i] += 1
                left -= 1
                progressed = True
        if not progressed:
            break
    return counts


def allocate_stratum(target: int, failures: int, normals: int, multiplier: float) -> tuple[int, int]:
    """(k_failure, k_normal) for one stratum.

    Take everything when the stratum has at most `target` traces. Otherwise solve
    `N_n p + N_f min(1, m p) = target` for the non-failure rate p, round to integers
    summing to the target (largest remainder), then give every non-empty cell at
    least min(N_c, 2) so each cell is represented and has a variance.
    """
    if failures + normals <= target:
        return failures, normals
    if normals == 0:
        return target, 0
    if failures == 0:
        return 0, target
    p = target / (normals + multiplier * failures)
    if multiplier * p >= 1.0:
        expected = [float(failures), float(target - failures)]
    else:
        expected = [multiplier * p * failures, p * normals]
    k_f, k_n = largest_remainder(expected, target, [failures, normals])
    floor_f, floor_n = min(failures, 2), min(normals, 2)
    while k_f < floor_f and k_n > floor_n:
        k_f, k_n = k_f + 1, k_n - 1
    while k_n < floor_n and k_f > floor_f:
        k_f, k_n = k_f - 1, k_n + 1
    return k_f, k_n


def allocate_boost(remaining: int, populations: Sequence[int]) -> list[int]:
    """Split a boost's remaining `collect` across its cells: everything if it fits, else in
    proportion to population, each non-empty cell getting min(N, 2) first when that fits."""
    if sum(populations) <= remaining:
        return list(populations)
    floors = [min(n, 2) for n in populations]
    if sum(floors) > remaining:
        floors = [0] * len(populations)
    rest = remaining - sum(floors)
    spare = [n - f for n, f in zip(populations, floors, strict=True)]
    total = sum(spare)
    expected = [rest * s / total if total else 0.0 for s in spare]
    extra = largest_remainder(expected, rest, spare)
    return [f + e for f, e in zip(floors, extra, strict=True)]


__all__ = ["allocate_boost", "allocate_stratum", "largest_remainder"]
