"""`tracestrata plan`: how many traces to judge per stratum.

Counting a window (`plan.pushdown` through a backend's counters, `plan.config_counts`
for a sync config; `sampling.counting` and `sampling.sources.count_source` by sketch),
the rates a stratum is planned for (`plan.rates`), Wilson targets (`plan.wilson`),
budget trimming (`plan.budget`), Neyman allocation (`plan.neyman`), plan building
(`plan.allocation`), plans from the sync ledger's measured spreads (`plan.residual`,
`plan.ledger`), rendering (`plan.render`), and the one library call the CLI parses
for (`plan.run.plan`, with its request in `plan.request`).

This package sits above `job` and `sampling` in the import layers: nothing below it imports it.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "plan": "tracestrata.plan.run",
    "PlanHooks": "tracestrata.plan.request",
    "PlanMode": "tracestrata.plan.request",
    "PlanRequest": "tracestrata.plan.request",
    "PlanResult": "tracestrata.plan.request",
}


def __getattr__(name: str) -> object:
    """`from tracestrata.plan import plan, PlanRequest`: loaded on first use, so the pure modules
    of this package (`wilson`, `neyman`, ...) import without the job layer behind `run`."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)


__all__ = sorted(_LAZY)
