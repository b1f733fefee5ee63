"""Proxy-weighted sampling inside a cell: priority sampling on the keyed hash (`[sampling] weight`).

Without a weight every cell is a simple random sample: bottom-k on the keyed hash
(`tracestrata.sampling.hashing`). With a *size* w_i > 0 per trace (how informative
it is expected to be, e.g. how unsure a cheap proxy is about it), each cell keeps
instead the k traces with the smallest *rank*

    r_i = u_i / w_i,   u_i = ((h_i >> 11) + 1) · 2^-53  in (0, 1]

(h_i the 64-bit keyed hash). This is priority sampling (Duffield, Lund & Thorup,
"Priority sampling for estimation of arbitrary subset sums", J. ACM 54(6), 2007:
priority q_i = w_i / u_i, keep the k largest), equivalently sequential Poisson
sampling (Ohlsson 1998) with target probabilities proportional to w. Given the
cell's threshold tau = the (k+1)-th smallest rank, trace i is in the sample with
probability

    pi_i = min(1, w_i · tau)

conditionally on the other traces' ranks, which is exactly the probability
Horvitz-Thompson needs: DLT prove y_i·1[i in S]/pi_i is unbiased for y_i and that
these terms are uncorrelated, so Σ (1 − pi_i) y_i²/pi_i² estimates the variance of
a cell total without bias. A cell that takes all of its traces has pi_i = 1.

It is still bottom-k, only on another key: one pass, memory bounded by k + 1
candidates per cell, mergeable across partitions, and a pure function of
(seed, id, w): `rank_keys` maps r_i to a uint64 whose order is the order of r_i
(the IEEE-754 bits of a positive double), so the sketch keeps candidates exactly as
it keeps hashes, with ties broken by id. u_i is an exact integer -> float
conversion (53 bits) and r_i one correctly rounded division, so every path that
reads the same float weight gets the same ranks bit for bit.

A weight that is missing, zero, negative, not a number or not finite falls back to
the floor, never to probability 0, and one above `MAX_SIZE` counts as `MAX_SIZE` (the
floor lies in [`MIN_FLOOR`, `MAX_SIZE`]): with u_i in [2^-53, 1] every rank is then a
normal double, so no rank overflows to inf or underflows to 0 (an inf threshold made
every sampled trace's π 1); for `proxy_uncertainty:FIELD` the size is
sqrt(p (1 − p)) of a proxy score p in [0, 1], floored (a score outside [0, 1] gets
the floor); for `expr: ...` an arithmetic expression of one field
(`sampling.weight_expression`), floored the same way.

The floor is a number, or `"auto"` (the default): chosen before each window from the
judged traces of the windows before it (`estimate.floor_choice`, `chosen_floor`;
`job.window_plan.auto_floor` for `sync`), the first-window floor without them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tracestrata.estimate.estimators import ScoredFrame
from tracestrata.estimate.floor_choice import FloorChoice, choose_floor, first_window_floor
from tracestrata.policy.weight_spec import Column, DEFAULT_FLOOR, WeightSpec


_U_SCALE = 2.0**-53


def uniforms(hashes: np.ndarray) -> np.ndarray:
    """u_i = ((h_i >> 11) + 1) · 2^-53 in (0, 1]: exact in float64 (53 bits)."""
    top = (hashes >> np.uint64(11)) + np.uint64(1)
    return top.astype(np.float64) * _U_SCALE


def rank_keys(hashes: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """uint64 keys ordered as the ranks u_i / w_i (the bits of a positive double keep its order)."""
    ranks = uniforms(hashes) / sizes
    return np.ascontiguousarray(ranks, dtype=np.float64).view(np.uint64)


def key_rank(key: int | np.uint64) -> float:
    """The rank a key stands for."""
    return float(np.array([key], dtype=np.uint64).view(np.float64)[0])


def inclusion_probabilities(sizes: Sequence[float], threshold_key: int | None) -> list[float]:
    """pi_i = min(1, w_i · tau) given the key of the (k+1)-th smallest rank; all 1 without one
    (the cell took every trace)."""
    if threshold_key is None:
        return [1.0] * len(sizes)
    tau = key_rank(threshold_key)
    return [min(1.0, w * tau) for w in sizes]


FLOORED_SHARE = 0.9  # a cell whose sampled traces are floored beyond this share is drawn ~ with equal π
FLOORED_MIN = 10  # sampled traces a cell needs before its share is read


def floor_warning(spec: WeightSpec, sizes: Sequence[tuple[str, float | None]]) -> str | None:
    """One line when the floor, not the weight, sized most of a window's draw, else None.

    `sizes` are the (cell, size) of the sampled traces. The floor is an absolute size: a
    field on another scale (`weight = "cost"` in dollars, nearly always < 0.15) gets the
    floor on every trace, and the draw silently becomes equal-probability. A floored trace
    has the smallest π of its cell, so the share floored among a cell's sampled traces is
    about a lower bound of its share among the cell's traces. Read from the sample alone,
    the warning is the same on every path (files, --jobs, DuckDB, Spark). Not for
    `proxy_uncertainty:`: its sizes are on the floor's fixed scale [0, 0.5], and a proxy sure of
    most traces floors most of them by design (the unsure ones are still drawn more often);
    only when *every* sampled trace of every cell read was floored (below the 0.5 of equal
    probability): then no trace was unsure, most likely a field that is not a probability
    (`proxy_uncertainty:latency_ms`: every size NaN), and the weighting did nothing."""
    if spec.auto and spec.floor != first_window_floor(spec.uncertainty, DEFAULT_FLOOR):
        return None  # a floor `auto` chose from judged windows: floored traces are its choice, not a scale mistake
    if spec.uncertainty:
        return _uncertainty_warning(spec, sizes)
    counts: dict[str, list[int]] = {}
    for cell, size in sizes:
        if size is None:
            continue
        c = counts.setdefault(cell, [0, 0])
        c[0] += size <= spec.floor
        c[1] += 1
    read = {cell: c for cell, c in counts.items() if c[1] >= FLOORED_MIN}
    flagged = {cell: c for cell, c in read.items() if c[0] > FLOORED_SHARE * c[1]}
    if not flagged:
        return None
    floored, sampled = sum(c[0] for c in flagged.values()), sum(c[1] for c in flagged.values())
    share = math.floor(1000 * floored / sampled) / 10
    return (f"weight '{spec.text}': {share:g}% of the sampled traces of {len(flagged)} of {len(read)} cells "
            f"were sized by the floor {spec.floor:g}, not by the field (missing, not a finite number, or at most the "
            f"floor), so their "
            f"draw is close to equal-probability; the floor is an absolute size: set `floor` in [sampling] "
            f"below the field's typical value{_AUTO_HINT if spec.auto else ''} (docs/sampling.md \"The floor\")")


_AUTO_HINT = ' (or keep floor = "auto": windows after judged ones choose their floor from them)'


def _uncertainty_warning(spec: WeightSpec, sizes: Sequence[tuple[str, float | None]]) -> str | None:
    if spec.floor >= 0.5:  # equal probability on purpose (an auto floor at the top)
        return None
    per_cell: dict[str, list[float]] = {}
    for cell, size in sizes:
        if size is not None:
            per_cell.setdefault(cell, []).append(size)
    read = [v for v in per_cell.values() if len(v) >= FLOORED_MIN]
    if not read or any(size > spec.floor for v in read for size in v):
        return None
    return (f"weight '{spec.text}': every sampled trace of {len(read)} cells was sized by the floor "
            f"{spec.floor:g}: none was unsure enough to be sized above it (a field that is not a probability in "
            f"[0, 1], or a proxy sure of every trace), so the draw is equal-probability; "
            f"proxy_uncertainty: needs a probability in [0, 1] (for another scale: weight = \"FIELD\" or "
            f"\"expr: ...\"; docs/sampling.md \"The floor\")")


def floor_choice(spec: WeightSpec, frame: ScoredFrame, residual: np.ndarray, column: Column) -> FloorChoice | None:
    """The floor an auto floor would take after these judged traces (their design `frame`,
    residuals against the proxy, weight column) and why (`estimate.floor_choice`); None for a fixed floor."""
    if not spec.auto:
        return None
    return choose_floor(frame, residual, spec.raw_sizes(column), uncertainty=spec.uncertainty, default=DEFAULT_FLOOR)


def chosen_floor(spec: WeightSpec, frame: ScoredFrame, residual: np.ndarray, column: Column) -> WeightSpec:
    """The spec with the floor an auto floor would take after these judged traces (`floor_choice`);
    a fixed floor as it is."""
    choice = floor_choice(spec, frame, residual, column)
    return spec if choice is None else spec.with_floor(choice.floor)


__all__ = [
    "FIRST_WINDOW_FLOOR",
    "FLOORED_MIN",
    "FLOORED_SHARE",
    "chosen_floor",
    "floor_choice",
    "floor_warning",
    "inclusion_probabilities",
    "key_rank",
    "rank_keys",
    "uniforms",
]
