"""Turn the run ledger of a state store into one `Design` spanning many windows.

Windows are just more strata: each window's sample was drawn independently, cell by
cell, so the union over windows is a stratified design with one cell per
(window, cell) — `cell_id(stratum, kind, window)` — and each cell keeps its own exact
inclusion probability. Nothing is approximated by combining windows.

Only runs of one *series* are combined: a series is a stretch of consecutive runs
under the same policy digest. A policy change starts a new series; mixing two
policies' designs in one estimate is refused by construction (the latest series
is used, or the one asked for).

`top` folds are made again over the whole period (`refold.py`), so a value folded
into `(other)` in some windows and not in others is one row with all its traces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tracestrata.design import Cell, Design, Unit, in_window
from tracestrata.errors import StateError
from tracestrata.job.refold import refold, tops_of
from tracestrata.job.state_rows import RunRow, RunStatus
from tracestrata.job.state import State
from tracestrata.record import Score


def design_from_ledger(
    state_path: str | Path,
    *,
    since: timedelta | None,
    until: datetime | None = None,
    source: str | None = None,
    series: int | None = None,
) -> tuple[Design, list[Score]]:
    """The multi-window design of the done runs whose window ends in `(until - since, until]`,
    and every stored score of their sampled traces.

    `until` defaults to now; `since=None` means all windows. Only the latest series
    (or `series`) of the source (or of the most recent run's source) is included.
    """
    path = Path(state_path)
    if not path.exists():
        raise StateError("no such state file", path=str(path))
    with State(path, create=False) as state:
        runs = select_runs(state.runs(status=RunStatus.DONE), since=since, until=until, source=source, series=series)
        design = design_from_runs(state, runs)
        scores = state.scores([unit.trace_id for unit in design.units])
    return design, scores


def select_runs(
    runs: Sequence[RunRow],
    *,
    since: timedelta | None,
    until: datetime | None = None,
    source: str | None = None,
    series: int | None = None,
) -> list[RunRow]:
    if not runs:
        return []
    until = until or datetime.now(UTC)
    if source is None:
        source = max(runs, key=lambda r: r.window_start).source
    runs = [r for r in runs if r.source == source]
    if series is None:
        series = max(runs, key=lambda r: (r.window_start, r.series)).series
    lower = until - since if since is not None else None
    return [
        r
        for r in runs
        if r.series == series and r.window_end <= until and (lower is None or r.window_end > lower)
    ]


def design_from_runs(state: State, runs: Sequence[RunRow]) -> Design:
    cells: list[Cell] = []
    for run in runs:
        window = run.window_key
        for data in run.cells:
            try:
                cell = Cell.from_json(data)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise StateError(f"run {run.run_id}: a cell cannot be read ({type(exc).__name__}: {exc})") from None
            cells.append(replace(cell, id=in_window(cell.id, window), window=window))
    windows = {run.run_id: run.window_key for run in runs}
    units: list[Unit] = []
    for run_id, trace_id, cell, attrs in state.sampled(list(windows)):
        pi = attrs.get("inclusion_probability")  # kept only for a weighted policy (`SampledTrace.unit_attrs`)
        probability = None if pi is None else float(pi)
        units.append(Unit(trace_id, in_window(cell, windows[run_id]), attrs, probability=probability))
    tops: dict[str, int] = {}
    for digest in sorted({run.policy_digest for run in runs}):
        tops.update(tops_of(state.policy(digest)))
    cells, units = refold(cells, units, tops)
    return Design(cells=tuple(cells), units=tuple(units))


__all__ = ["design_from_ledger", "design_from_runs", "select_runs"]
