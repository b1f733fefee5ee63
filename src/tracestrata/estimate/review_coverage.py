"""How much of the human-review subsample has a label, overall and per stratum.

The two-phase estimate treats the reviewed traces of a cell as a random subsample of
its judged ones: true when reviewers label the whole `[review]` subsample, doubtful
when they pick. Reviewers who label one stratum fully and leave another untouched
pick by stratum, so the report says how many of the subsample are labelled and warns
when the share labelled differs much between strata (`uneven`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from tracestrata.design import Design

UNEVEN_SPREAD = 0.5  # labelled share: max - min over strata with a review subsample


@dataclass(frozen=True)
class ReviewCoverage:
    reviewed: int  # traces in the review subsample
    labelled: int  # of them, with a value of the metric
    by_stratum: dict[str, tuple[int, int]]  # stratum -> (labelled, reviewed)

    @property
    def share(self) -> float:
        return self.labelled / self.reviewed if self.reviewed else 0.0

    @property
    def uneven(self) -> bool:
        """Labels cover some strata's subsample far more than others' (and not all of it)."""
        shares = [lab / rev for lab, rev in self.by_stratum.values() if rev]
        return 0 < self.labelled < self.reviewed and len(shares) > 1 and max(shares) - min(shares) >= UNEVEN_SPREAD

    def to_json(self) -> dict[str, Any]:
        return {
            "reviewed": self.reviewed,
            "labelled": self.labelled,
            "by_stratum": {k: {"labelled": lab, "reviewed": rev} for k, (lab, rev) in sorted(self.by_stratum.items())},
            "uneven": self.uneven,
        }


def review_coverage(design: Design, labelled: Collection[str]) -> ReviewCoverage | None:
    """The coverage of the design's review subsample (units with `review = true`) by `labelled`
    trace ids; None when the design has no review subsample."""
    by_stratum: dict[str, list[int]] = {}
    for unit in design.units:
        if unit.attrs.get("review") is not True:
            continue
        row = by_stratum.setdefault(str(unit.attrs.get("stratum", "(all)")), [0, 0])
        row[1] += 1
        row[0] += unit.trace_id in labelled
    if not by_stratum:
        return None
    return ReviewCoverage(
        reviewed=sum(r for _, r in by_stratum.values()),
        labelled=sum(lab for lab, _ in by_stratum.values()),
        by_stratum={k: (lab, rev) for k, (lab, rev) in by_stratum.items()},
    )


__all__ = ["ReviewCoverage", "review_coverage"]
