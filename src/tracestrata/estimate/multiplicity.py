"""Many strata compared at once: p-values and the Benjamini–Hochberg false discovery rate.

`report --compare FIELD` tests one delta per stratum. At 95% each, 27 strata with no
effect flag at least one about three times in four (1 − 0.95²⁷), so a per-stratum
"moved" needs an adjusted test. Benjamini–Hochberg (1995) controls the expected share
of false discoveries among the flagged strata at q; when no stratum moved at all (the
situation a "masked effect" banner must not invent) that is the chance of flagging any,
so the banner shows in at most q of windows. It is chosen over Bonferroni/Holm (which
control that chance under every configuration) because a real move in a few strata
should still be found among many, and it holds for independent tests, which strata
are (disjoint cells, sampled independently).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from tracestrata.estimate.intervals import t_pvalue

__all__ = ["benjamini_hochberg", "t_pvalue"]


def benjamini_hochberg(pvalues: Sequence[float]) -> list[float]:
    """BH-adjusted p-values (R's `p.adjust(method = "BH")`); NaN stays NaN and is not counted.

    Flag a test when its adjusted p-value is at most q: that controls the false discovery
    rate at q over the tests with a p-value.
    """
    index = [i for i, p in enumerate(pvalues) if not math.isnan(p)]
    m = len(index)
    out = [math.nan] * len(pvalues)
    order = sorted(index, key=lambda i: pvalues[i], reverse=True)
    running = 1.0
    for rank_from_top, i in enumerate(order):
        rank = m - rank_from_top
        running = min(running, pvalues[i] * m / rank)
        out[i] = running
    return out
