"""The population counts of a window per stratum: the value a counting source returns.

`StratumCounts` is what `plan` sizes strata from, whoever counted them: the sampling
sketch with zero targets, a backend's own counters, or an engine's `GROUP BY` (DuckDB,
through `tally_weighted` and `counts_from_tally`, which fold rare values as the sampler does).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tracestrata.design import ALL
from tracestrata.errors import InputError
from tracestrata.policy.model import Policy
from tracestrata.policy.strata import check_strata_count, fold, stratum_key, top_values

#: What a rate field's bad value is told.
RATE_VALUES = "expected a boolean or a number in [0, 1] to estimate a rate from"


@dataclass(frozen=True, slots=True)
class StratumCounts:
    """One stratum of a window, as `tracestrata plan` sees it (boost clusters ignored)."""

    stratum: str
    values: Mapping[str, str]
    population: int
    failures: int  # traces where any failure signal fires
    rate_trials: int = 0  # traces with a usable `rate_field` value
    rate_sum: float = 0.0  # the sum of those values (True = 1)


def count_fields(policy: Policy, rate_field: str | None = None) -> tuple[str, ...]:
    """The field paths a count reads: the policy's dimensions and signals, plus `rate_field`."""
    paths = [d.field for d in policy.strata] + [s.condition.field for s in policy.signals]
    if rate_field:
        paths.append(rate_field)
    return tuple(dict.fromkeys(paths))


Tally = dict[tuple[str, ...], list[float]]  # raw labels -> [population, failures, rate trials, rate sum]


def tally_weighted(
    columns: Mapping[str, Sequence[object]], weights: Sequence[int], policy: Policy, *, rate_field: str | None = None
) -> Tally:
    """Counts per combination of raw labels of rows that each stand for `weights[i]` traces: the groups of a
    `GROUP BY` over the fields `count_fields` names, counted by an engine (DuckDB)."""
    dims = policy.strata
    label_columns = [list(map(d.labeler(), columns[d.field])) for d in dims]
    n = len(weights)
    keys: list[tuple[str, ...]] = list(zip(*label_columns, strict=True)) if dims else [()] * n
    hits = [s.condition.evaluate(columns[s.condition.field]) for s in policy.signals]
    failed: Sequence[bool] = list(map(any, zip(*hits, strict=True))) if hits else [False] * n
    rates = columns[rate_field] if rate_field else None
    tally: Tally = {}
    for i, (labels, failure, weight) in enumerate(zip(keys, failed, weights, strict=True)):
        entry = tally.setdefault(labels, [0, 0, 0, 0.0])
        entry[0] += weight
        if failure:
            entry[1] += weight
        if rates is not None and rate_field and rates[i] is not None:
            entry[2] += weight
            entry[3] += weight * _rate_value(rates[i], rate_field)
    if len(tally) > policy.max_strata:
        distinct = [len({labels[i] for labels in tally}) for i in range(len(dims))]
        check_strata_count(dims, distinct, len(tally), policy.max_strata, source=policy.source)
    return tally


def counts_from_tally(tally: Tally, policy: Policy) -> list[StratumCounts]:
    """Fold rare values into `(other)` with the whole window's counts, as the sampler does."""
    dims = policy.strata
    label_counts: list[Counter[str]] = [Counter() for _ in dims]
    for labels, entry in tally.items():
        for i, label in enumerate(labels):
            label_counts[i][label] += int(entry[0])
    kept = [top_values(label_counts[i], d.top) if d.top is not None else None for i, d in enumerate(dims)]
    merged: dict[tuple[str, ...], list[float]] = {}
    for labels, entry in tally.items():
        folded = tuple(fold(label, k) if k is not None else label for label, k in zip(labels, kept, strict=True))
        into = merged.setdefault(folded, [0, 0, 0, 0.0])
        for i in range(4):
            into[i] += entry[i]
    return strata_counts(merged, policy)


def strata_counts(folded: Mapping[tuple[str, ...], Sequence[float]], policy: Policy) -> list[StratumCounts]:
    """`StratumCounts` from [population, failures, rate trials, rate sum] per folded label tuple, in key order."""
    return [
        StratumCounts(
            stratum=stratum_key(labels) if labels else ALL,
            values=dict(zip(policy.dimensions, labels, strict=True)),
            population=int(entry[0]),
            failures=int(entry[1]),
            rate_trials=int(entry[2]),
            rate_sum=float(entry[3]),
        )
        for labels, entry in sorted(folded.items())
    ]


def _rate_value(value: object, field: str) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)) and 0.0 <= value <= 1.0:
        return float(value)
    raise InputError(f"{RATE_VALUES}, got {value!r}", field=field)


__all__ = [
    "RATE_VALUES",
    "StratumCounts",
    "Tally",
    "count_fields",
    "counts_from_tally",
    "strata_counts",
    "tally_weighted",
]
