"""The pure half of planning a sync window: a drawn sample -> the run row, its items and counts.

`sync` draws the sample (a pull from the backend), hands it here, and writes what comes back
to the state store in one transaction; nothing here reads or writes the state, so what a
window's plan holds is decided in one place and can be checked without a store.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from tracestrata.estimate.floor_choice import judged_history
from tracestrata.job.ledger import design_from_runs, select_runs
from tracestrata.job.state_rows import PlannedItem, RunRow, RunStatus
from tracestrata.job.state import State
from tracestrata.protocols import SampleItem, SinkKind, Window, item_id_for
from tracestrata.policy.model import Policy, WindowShare
from tracestrata.sampling.sample_result import SampleResult
from tracestrata.sampling.review_draw import review_order
from tracestrata.sampling.weights import chosen_floor

AUTO_HISTORY = timedelta(days=7)  # the judged windows `floor = "auto"` reads before a window


@dataclass(frozen=True)
class WindowPlan:
    """What a window's plan writes: the run row (status `writing`), the sampled traces with their
    design attributes, the items for every sink, and the boost counts after the window."""

    row: RunRow
    sampled: list[tuple[str, str, Mapping[str, object]]]
    items: list[PlannedItem]
    boost_collected: dict[str, int]

    @property
    def population(self) -> int:
        return int(self.row.counts["traces"])


def run_id_for(source: str, window: Window, policy_digest: str) -> str:
    """The run's id: the same source, window and policy always mint the same one."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"tracestrata:{source}:{window.key}:{policy_digest}"))


def plan_window(
    result: SampleResult,
    window: Window,
    policy: Policy,
    *,
    source: str,
    series: int,
    new_series: bool,
    sinks: Sequence[tuple[SinkKind, str]],
    share: WindowShare | None,
) -> WindowPlan:
    """The plan of `window` from its drawn sample: ids minted, one item per sampled trace and
    sink (with `[review]`, the queue gets the review subsample in the order it is drawn in), counts."""
    digest = policy.digest
    run_id = run_id_for(source, window, digest)
    items: list[PlannedItem] = []
    sampled: list[tuple[str, str, Mapping[str, object]]] = []
    for picked in result.selected:
        sampled.append((picked.record.id, picked.cell, picked.unit_attrs()))
        for kind, name in sinks:
            if kind is SinkKind.QUEUE and policy.review is not None and not picked.review:
                continue  # with `[review]`, humans see the review subsample; the judge the whole sample
            item = SampleItem(
                item_id=item_id_for(f"{kind.value}:{name}", window, picked.record.id),
                record=picked.record,
                stratum=picked.stratum,
                values=dict(picked.values),
                failure=picked.failure,
                signals=tuple(picked.signals),
                inclusion_probability=picked.inclusion_probability,
                weight=picked.weight,
                window=window,
                run=run_id,
                boost=picked.boost,
            )
            items.append(PlannedItem(item.item_id, kind.value, name, picked.record.id, item.to_json()))
    if policy.review is not None:  # the queue lists the review subsample in the order it is drawn in
        rank = {t: n for n, t in enumerate(review_order([p.record.id for p in result.selected], policy))}
        items.sort(key=lambda i: (0, rank.get(i.trace_id, 0)) if i.sink_kind == SinkKind.QUEUE.value else (1, 0))
    population = result.population
    counts = {
        **({"day_share": round(share.of(population), 6)} if share is not None else {}),
        **({"weight_floor": policy.weight.floor} if policy.weight is not None and policy.weight.auto else {}),
        "traces": population,
        "selected": len(result.selected),
        "failures": sum(1 for p in result.selected if p.failure),
        "boosted": sum(1 for p in result.selected if p.boost),
        "new_series": new_series,
    }
    cells = [cell.to_json() for cell in result.cells]
    row = RunRow(run_id, source, window.start, window.end, digest, series, RunStatus.WRITING, cells, counts)
    return WindowPlan(row, sampled, items, dict(result.boost_collected))


def auto_floor(policy: Policy, state: State, source: str, window: Window, metric: str | None) -> Policy:
    """The policy with this window's floor when `[sampling] floor = "auto"`: chosen from the
    judged traces (`metric`) of the source's done windows in the 7 days before it
    (`estimate.floor_choice`); without them (the first window, or no metric) the first-window
    floor the policy already holds. A pure function of the stored ledger, so a rerun of a
    window draws the same sample; the digest is unchanged (the policy still says "auto")."""
    weight = policy.weight
    if weight is None or not weight.auto or metric is None:
        return policy
    runs = select_runs(state.runs(status=RunStatus.DONE), since=AUTO_HISTORY, until=window.start, source=source)
    design = design_from_runs(state, runs)
    history = judged_history(design, state.scores([u.trace_id for u in design.units]), metric, weight.field)
    if history is None:
        return policy
    return replace(policy, weight=chosen_floor(weight, history.frame, history.residual, history.raw))


__all__ = ["AUTO_HISTORY", "WindowPlan", "auto_floor", "plan_window", "run_id_for"]
