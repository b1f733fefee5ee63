"""The human-review subsample: which sampled traces a person reviews, and in what order.

`draw_review` marks `review.target` traces per stratum, drawn cell by cell on a second
keyed hash (so the probability of review given sampled is exact); `review_order` is the
order that draw reads, so a reviewer who stops anywhere leaves a random subsample.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from tracestrata.sampling.cell_allocation import largest_remainder
from tracestrata.sampling.hashing import hash_ids, hash_key
from tracestrata.policy.model import Policy
from tracestrata.sampling.sample_result import SampledTrace


def draw_review(selected: list[SampledTrace], policy: Policy, population: int = 0) -> list[SampledTrace]:
    """Mark the human-review subsample: `review.target` per stratum (a window's share of it
    under daily targets, of a window of `population` traces), drawn cell by cell.

    The stratum's target is split over its cells in proportion to their sample sizes
    (largest remainder), then each cell reviews the r_c of its k_c sampled traces with
    the smallest (second keyed hash, id): an SRSWOR of r_c from k_c, so the probability
    of review given sampled is exactly r_c / k_c. The second key comes from the seed and
    `review.seed_suffix`, independent of the sample's own hash order.
    """
    review = policy.review
    assert review is not None
    by_cell: dict[str, list[int]] = {}
    for i, s in enumerate(selected):
        by_cell.setdefault(s.cell, []).append(i)
    by_stratum: dict[str, list[str]] = {}
    for cid in sorted(by_cell):
        by_stratum.setdefault(selected[by_cell[cid][0]].stratum, []).append(cid)
    key = hash_key(review.key_seed(policy.seed))
    target = policy.targets.scaled(review.target, population)
    out = list(selected)
    for cids in by_stratum.values():
        sizes = [len(by_cell[c]) for c in cids]
        total = min(target, sum(sizes))
        shares = largest_remainder([total * k / sum(sizes) for k in sizes], total, sizes)
        for cid, k, r in zip(cids, sizes, shares, strict=True):
            rows = by_cell[cid]
            ids = [selected[i].record.id for i in rows]
            hashes = hash_ids(ids, key).tolist()
            chosen = set(sorted(range(k), key=lambda j: (hashes[j], ids[j]))[:r])
            for j, i in enumerate(rows):
                out[i] = replace(selected[i], review=j in chosen, review_probability=r / k)
    return out


def review_order(ids: Sequence[str], policy: Policy) -> list[str]:
    """`ids` in the order `draw_review` draws from (second keyed hash, then id): each cell's
    review subsample is a prefix of it, so a reviewer who works down this list and stops
    anywhere leaves a random subsample of every cell, never one they picked."""
    if policy.review is None or not ids:
        return list(ids)
    hashes = hash_ids(list(ids), hash_key(policy.review.key_seed(policy.seed))).tolist()
    return [i for _, i in sorted(zip(hashes, ids, strict=True))]


__all__ = ["draw_review", "review_order"]
