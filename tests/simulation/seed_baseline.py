"""The seed's estimator, re-implemented here so the tests run from a fresh clone.

`reweighted_mean` is the baseline tracestrata replaces: it post-stratifies *plain*
per-stratum sample means to each stratum's population share. Inside a stratum it
treats the sample as if every trace had the same chance of selection, so when
failures are oversampled (and judged worse) every stratum mean, and so the global
mean, is biased towards the failures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

T = TypeVar("T")


def reweighted_mean(
    sampled: Iterable[T],
    metric: Callable[[T], float],
    population_share: Mapping[str, float],
    strata_fn: Callable[[T], str],
) -> float:
    """Σ_s share_s · (plain mean of the sampled values in s), over strata with a sample."""
    by_stratum: dict[str, list[float]] = defaultdict(list)
    for item in sampled:
        by_stratum[strata_fn(item)].append(metric(item))
    return sum(population_share[s] * (sum(v) / len(v)) for s, v in by_stratum.items() if v)
