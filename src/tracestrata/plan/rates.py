"""The rate a stratum is planned for, with degenerate rates made conservative.

A rate of exactly 0 or 1 carries no information about the spread (the judge has
not seen the stratum yet, or the window had no failures), so it is replaced by
`CONSERVATIVE_RATE` = 0.5, the worst case. Callers that know how the rate was
observed use `observed_rate`, which replaces 0/N and N/N by the end of the Wilson
interval nearest 0.5: conservative but not wasteful.
"""

from __future__ import annotations

import math

from tracestrata.errors import ConfigError
from tracestrata.estimate.intervals import wilson
from tracestrata.sampling.counts import StratumCounts

CONSERVATIVE_RATE = 0.5


def check_rate(p: float) -> None:
    """A `ConfigError` unless `p` is a rate in [0, 1]."""
    if not 0.0 <= p <= 1.0 or math.isnan(p):
        raise ConfigError(f"expected a rate in [0, 1], got {p!r}", field="rate")


def usable_rate(p: float) -> float:
    """`p` itself when strictly inside (0, 1); the conservative worst case otherwise."""
    check_rate(p)
    return p if 0.0 < p < 1.0 else CONSERVATIVE_RATE


def observed_rate(successes: int, trials: int, *, confidence: float = 0.95) -> float:
    """A rate observed as `successes / trials`, with 0/N and N/N made conservative.

    For 0 or N successes the point estimate is degenerate; we use the end of the
    Wilson interval for that count that lies nearest 0.5 (its largest plausible
    variance). No trials at all gives `CONSERVATIVE_RATE`.
    """
    if trials < 0 or not 0 <= successes <= max(trials, 0):
        raise ValueError(f"bad counts: {successes} of {trials}")
    if trials == 0:
        return CONSERVATIVE_RATE
    if 0 < successes < trials:
        return successes / trials
    low, high = wilson(successes / trials, trials, confidence=confidence)
    return high if successes == 0 else low


def failure_rate(counts: StratumCounts, confidence: float = 0.95) -> float:
    """The stratum's observed failure-signal rate, conservative at 0 and all."""
    return observed_rate(counts.failures, counts.population, confidence=confidence)


def field_rate(counts: StratumCounts, confidence: float = 0.95) -> float:
    """The mean of `rate_field`; conservative when it is 0, 1 or never seen."""
    if counts.rate_trials == 0:
        return CONSERVATIVE_RATE
    mean = counts.rate_sum / counts.rate_trials
    if 0.0 < mean < 1.0:
        return mean
    return observed_rate(round(counts.rate_sum), counts.rate_trials, confidence=confidence)


def expected_rate(counts: StratumCounts, rate: float | None, rate_field: str | None, confidence: float) -> float:
    """The rate a stratum's target is sized for: given, a field's observed mean, or the observed failure rate."""
    if rate is not None:
        return rate
    if rate_field is not None:
        return field_rate(counts, confidence)
    return failure_rate(counts, confidence)


__all__ = [
    "CONSERVATIVE_RATE",
    "check_rate",
    "expected_rate",
    "failure_rate",
    "field_rate",
    "observed_rate",
    "usable_rate",
]
