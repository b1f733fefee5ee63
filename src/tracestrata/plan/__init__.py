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
