"""What `plan` counts, by the sketch that sampling uses, with nothing to pick.

A counting pass is a sampling pass whose targets are zero: the same labels, `top`
folds on the whole input's counts, failure cells and repeated-id handling, with no
candidates kept (memory bounded by the number of label combinations). A `rate_field`
rides along as the sketch's only proxy, so its per-cell count and sum merge across
parts exactly as proxy totals do. Boosts are left out: `plan` sizes the strata.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import cast

from tracestrata.errors import InputError
from tracestrata.protocols import iter_chunks
from tracestrata.record import TraceRecord
from tracestrata.sampling.counts import RATE_VALUES, StratumCounts, strata_counts
from tracestrata.policy.model import Policy
from tracestrata.sampling.record_batches import BATCH_SIZE
from tracestrata.sampling.sketch import Sketch
from tracestrata.sampling.samplers import gc_paused

def counting_policy(policy: Policy, rate_field: str | None = None) -> Policy:
    """`policy` as a counting pass reads it: zero targets, no boosts or review, `rate_field` as the proxy."""
    return replace(
        policy,
        targets=replace(policy.targets, default=0, overrides=()),
        boosts=(),
        review=None,
        proxies=(rate_field,) if rate_field else (),
    )


def counting_sketch(policy: Policy, rate_field: str | None = None) -> Sketch:
    return Sketch(counting_policy(policy, rate_field))


def stratum_counts(sketch: Sketch, rate_field: str | None = None) -> list[StratumCounts]:
    """Population, failures and `rate_field` totals per stratum of a counting sketch, as the sampler keys them."""
    policy = sketch.policy
    strata: dict[tuple[str, ...], list[float]] = {}
    folded = sketch.folded()
    for (labels, cell), group in folded.groups.items():
        entry = strata.setdefault(labels, [0, 0, 0, 0.0])
        entry[0] += group.count
        if sketch.is_failure_cell(cell):
            entry[1] += group.count
        if rate_field:
            totals = sketch.cell_proxy(group)[rate_field]
            if totals.n and (totals.sum < -1e-9 or totals.sumsq > totals.sum + 1e-9 * totals.n):
                raise InputError(RATE_VALUES, field=rate_field)  # a value outside [0, 1] (v*v <= v holds inside)
            entry[2] += totals.n
            entry[3] += totals.sum
    return strata_counts(strata, policy)


def count_strata(
    rows: Iterable[Mapping[str, object]] | Iterable[TraceRecord],
    policy: Policy,
    *,
    rate_field: str | None = None,
    raw: bool = True,
) -> list[StratumCounts]:
    """Population and failure counts per stratum of `rows`: decoded trace JSON objects
    (`raw=True`) or `TraceRecord`s. A repeated trace id counts once, as in sampling."""
    sketch = counting_sketch(policy, rate_field)
    with gc_paused(), rate_errors(rate_field):
        if raw:
            for batch in iter_chunks(rows, BATCH_SIZE):
                sketch.add_raw(batch)
        else:
            sketch.add_records(cast("Iterable[TraceRecord]", rows))
    return stratum_counts(sketch, rate_field)


@contextmanager
def rate_errors(rate_field: str | None) -> Iterator[None]:
    """A rate field's bad value said in the rate's words, not the proxy's."""
    try:
        yield
    except InputError as exc:
        if rate_field and exc.field == rate_field:
            exc.message = RATE_VALUES
            exc.args = (RATE_VALUES,)
        raise


__all__ = ["count_strata", "counting_policy", "counting_sketch", "rate_errors", "stratum_counts"]
