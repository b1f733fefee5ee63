"""Population counts per stratum pushed down to the backend, so `plan` pulls no traces.

A backend can count traces matching equality filters (`StratumCounter.count`, Phoenix
through GraphQL `recordCount`, Langfuse through the metrics API), some in one round trip
(`CountsMany`, Phoenix), and some can group by a field in one query (`CountsByField`,
Langfuse for name/release/version/environment/status).
That is enough to count strata when every dimension's values are known up front:

- a dimension with `values = [...]` is counted value by value;
- a dimension the backend can group by is counted in one grouped query; `top` folds
  the grouped counts exactly as the sampler folds a window's values;
- a numeric `edges` dimension, or a field the backend can neither filter nor group,
  cannot be pushed down: `CountUnavailable` says why, and the caller pulls the
  window's metadata instead (what `tracestrata plan` does).

Traces outside the listed values (other values, or the field missing) are counted
together, by difference from the window's total, under the all-`(other)` key: a plan
needs their size, not their split. Failures are not counted here (a failure is an OR
of signals); the expected rate then comes from `--rate`.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

from tracestrata.design import ALL
from tracestrata.protocols import CountRequest, CountsByField, CountsMany, FieldCountRequest, StratumCounter, Window
from tracestrata.sampling.counts import StratumCounts
from tracestrata.policy.model import Policy
from tracestrata.policy.strata import MISSING, OTHER, Dimension

DEFAULT_MAX_QUERIES = 200


class CountUnavailable(Exception):
    """These strata cannot be counted without pulling traces; the message says why."""


def count_strata_pushdown(
    counter: StratumCounter,
    window: Window,
    policy: Policy,
    *,
    max_queries: int = DEFAULT_MAX_QUERIES,
) -> list[StratumCounts]:
    """Counts per stratum from the backend's counters, or `CountUnavailable`.

    A `NotImplementedError` from the counter (a filter the backend cannot express)
    becomes `CountUnavailable` as well.
    """
    try:
        return _count(counter, window, policy, max_queries)
    except NotImplementedError as exc:
        raise CountUnavailable(str(exc) or "the backend cannot count this filter") from exc


def _count(counter: StratumCounter, window: Window, policy: Policy, max_queries: int) -> list[StratumCounts]:
    dims = list(policy.strata)
    total = counter.count(window, {})
    if not dims:
        return [StratumCounts(ALL, {}, total, 0)] if total else []
    for dim in dims:
        if dim.edges is not None:
            raise CountUnavailable(f"{dim.field} is cut into numeric buckets (edges); counting needs the values")
    grouped = [_grouped_values(counter, window, dim) if dim.values is None else None for dim in dims]
    if len(dims) == 1 and grouped[0] is not None:
        return _single_grouped(dims[0].field, grouped[0], dims[0].top, total)
    value_lists = [
        list(dim.values) if dim.values is not None else _kept(group or {}, dim.top)
        for dim, group in zip(dims, grouped, strict=True)
    ]
    combos = list(itertools.product(*value_lists))
    if len(combos) + 1 > max_queries:
        raise CountUnavailable(f"{len(combos)} value combinations would take more than {max_queries} count queries")
    fields = [dim.field for dim in dims]
    wheres = [dict(zip(fields, combo, strict=True)) for combo in combos]
    counts = _count_many(counter, window, wheres)
    out = [
        StratumCounts(" | ".join(combo), dict(zip(fields, combo, strict=True)), n, 0)
        for combo, n in zip(combos, counts, strict=True)
        if n
    ]
    rest = total - sum(counts)
    if rest > 0:
        out.append(StratumCounts(" | ".join([OTHER] * len(dims)), {f: OTHER for f in fields}, rest, 0))
    return sorted(out, key=lambda c: c.stratum)


def _grouped_values(counter: StratumCounter, window: Window, dim: Dimension) -> dict[str, int]:
    if not isinstance(counter, CountsByField):
        raise CountUnavailable(
            f"{dim.field} has no `values` list and this backend cannot group by it; list the values in the policy"
        )
    try:
        grouped = counter.count_by(FieldCountRequest(window, dim.field))
    except NotImplementedError as exc:
        raise CountUnavailable(
            f"{exc}; list the values of {dim.field} in the policy (`values = [...]`) to count without pulling"
        ) from exc
    return {str(value): int(n) for value, n in grouped.items()}


def _kept(grouped: Mapping[str, int], top: int | None) -> list[str]:
    """The values that keep their own stratum: all, or the `top` most frequent (ties by value)."""
    values = [v for v in grouped if v != MISSING]
    if top is None:
        return sorted(values)
    ranked = sorted(values, key=lambda v: (-grouped[v], v))
    return sorted(ranked[:top])


def _single_grouped(field: str, grouped: Mapping[str, int], top: int | None, total: int) -> list[StratumCounts]:
    kept = set(_kept(grouped, top))
    out: dict[str, int] = {}
    for value, n in grouped.items():
        key = value if value in kept or value == MISSING else OTHER
        out[key] = out.get(key, 0) + n
    rest = total - sum(grouped.values())
    if rest > 0:
        out[MISSING] = out.get(MISSING, 0) + rest
    return [StratumCounts(key, {field: key}, n, 0) for key, n in sorted(out.items()) if n]


def _count_many(counter: StratumCounter, window: Window, wheres: Sequence[Mapping[str, str]]) -> list[int]:
    if isinstance(counter, CountsMany):
        return [int(n) for n in counter.count_many([CountRequest(window, where) for where in wheres])]
    return [int(counter.count(window, where)) for where in wheres]


__all__ = ["CountUnavailable", "count_strata_pushdown"]
