"""Fold `top` values again over a whole reporting period, so per-stratum rows are exact.

Each window folds its own rare values into `(other)`: a value can be in the top of
one window and folded in the next, and its traces would then split across two report
rows. The sampler keeps, for every cell something was folded into, its population by
the labels before the fold (`Cell.raw`), and each sampled trace its own labels
(`raw_values`). Here the period's counts decide the `top` values once, every cell is
relabelled, and a cell whose traces now belong to several rows is split into one cell
per row with its exact population: post-strata of the window's SRS (given how many of
its sampled traces fall in each, those are a simple random sample of it), so the
estimates stay design-based. A part with no sampled trace is an empty cell, which the
report counts as uncovered and warns about.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace

from tracestrata.design import Cell, ProxyTotals, RawPart, Unit
from tracestrata.errors import StateError
from tracestrata.policy.strata import fold, stratum_key, top_values


def refold(cells: Sequence[Cell], units: Sequence[Unit], tops: Mapping[str, int]) -> tuple[list[Cell], list[Unit]]:
    """`cells` and `units` with the `top` folds of `tops` (field -> N) made over all of them."""
    if not tops:
        return list(cells), list(units)
    counts: dict[str, Counter[str]] = {f: Counter() for f in tops}
    for cell in cells:
        _check(cell)
        for part in _parts(cell):
            for f in tops:
                counts[f][part.values.get(f, "")] += part.population
    kept = {f: top_values(counts[f], n) for f, n in tops.items()}

    def relabel(values: Mapping[str, str]) -> dict[str, str]:
        return {f: fold(v, kept[f]) if f in kept else v for f, v in values.items()}

    by_cell: dict[str, list[Unit]] = defaultdict(list)
    for unit in units:
        by_cell[unit.cell].append(unit)
    out_cells: list[Cell] = []
    out_units: list[Unit] = []
    for cell in cells:
        groups: dict[tuple[str, ...], list[RawPart]] = defaultdict(list)
        for part in _parts(cell):
            groups[tuple(relabel(part.values).values())].append(part)
        members: dict[tuple[str, ...], list[Unit]] = defaultdict(list)
        for unit in by_cell.pop(cell.id, []):
            raw = unit.attrs.get("raw_values")
            values = relabel(raw if isinstance(raw, Mapping) else cell.values)
            members[tuple(values.values())].append(unit)
        stray = set(members) - set(groups)
        if stray:
            raise StateError(f"cell {cell.id!r}: sampled traces with labels its population does not have")
        for labels, parts in sorted(groups.items()):
            values = dict(zip(cell.values, labels, strict=True))
            key = stratum_key(labels)
            cid = cell.id if len(groups) == 1 else f"{cell.id}[{key}]"
            mine = members.get(labels, [])
            out_cells.append(replace(
                cell, id=cid, stratum=key, values=values, population=sum(p.population for p in parts),
                sampled=len(mine) if len(groups) > 1 else cell.sampled,
                proxy=_proxy(parts) if len(groups) > 1 else cell.proxy, raw=(),
            ))
            out_units.extend(
                replace(u, cell=cid, attrs={**u.attrs, "stratum": key, **values}) for u in mine
            )
    for leftover in by_cell.values():  # units of cells not in scope: unchanged
        out_units.extend(leftover)
    return out_cells, out_units


def tops_of(policy: Mapping[str, object] | None) -> dict[str, int]:
    """field -> N of the policy JSON's dimensions that fold with `top`."""
    strata = (policy or {}).get("strata")
    if not isinstance(strata, list):
        return {}
    return {
        str(d["field"]): int(d["top"])
        for d in strata
        if isinstance(d, dict) and isinstance(d.get("top"), int) and not isinstance(d.get("top"), bool)
    }


def _parts(cell: Cell) -> tuple[RawPart, ...]:
    return cell.raw or (RawPart(cell.values, cell.population, cell.proxy),)


def _check(cell: Cell) -> None:
    if cell.raw and sum(p.population for p in cell.raw) != cell.population:
        raise StateError(f"cell {cell.id!r}: its parts before the fold do not add up to its population")


def _proxy(parts: Sequence[RawPart]) -> dict[str, ProxyTotals]:
    out: dict[str, ProxyTotals] = {}
    for part in parts:
        for path, t in part.proxy.items():
            prev = out.get(path)
            out[path] = t if prev is None else ProxyTotals(prev.n + t.n, prev.sum + t.sum, prev.sumsq + t.sumsq)
    return out


__all__ = ["refold", "tops_of"]
