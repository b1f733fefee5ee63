from __future__ import annotations

import pytest

from tracestrata.design import Cell, CellKind, RawPart, Unit
from tracestrata.errors import StateError
from tracestrata.job.refold import refold, tops_of

F = "metadata.intent"
W1, W2 = "w1", "w2"


def cell(window: str, label: str, population: int, sampled: int, raw=()) -> Cell:
    return Cell(f"{window}#{label}#normal", label, {F: label}, CellKind.NORMAL, population, sampled, window, raw=raw)


def test_a_value_folded_in_one_window_is_one_row_over_the_period() -> None:
    other = cell(W2, "(other)", 150, 3, raw=(RawPart({F: "c"}, 100), RawPart({F: "d"}, 50)))
    cells = [cell(W1, "a", 500, 2), cell(W1, "c", 300, 2), cell(W1, "(other)", 100, 1, raw=(RawPart({F: "d"}, 100),)),
             cell(W2, "a", 500, 2), cell(W2, "b", 350, 2), other]
    units = [Unit(f"{c.id}/{i}", c.id, {"stratum": c.stratum, F: c.stratum}) for c in cells[:5] for i in range(c.sampled)]
    units += [Unit(f"w2-c{i}", other.id, {"stratum": "(other)", F: "(other)", "raw_values": {F: "c"}}) for i in range(3)]
    out_cells, out_units = refold(cells, units, {F: 2})
    by_stratum: dict[str, int] = {}
    for c in out_cells:
        by_stratum[c.stratum] = by_stratum.get(c.stratum, 0) + c.population
    assert by_stratum == {"a": 1000, "c": 400, "(other)": 500}
    split = {c.stratum: c for c in out_cells if c.window == W2 and c.id.startswith(other.id)}
    assert (split["c"].population, split["c"].sampled) == (100, 3)
    assert (split["(other)"].population, split["(other)"].sampled) == (50, 0)  # no sample: an empty cell, warned
    index = {c.id: c for c in out_cells}
    assert all(index[u.cell].stratum == u.attrs["stratum"] == u.attrs[F] for u in out_units)
    assert sum(c.sampled for c in out_cells) == len(out_units) == len(units)
    assert refold(cells, units, {}) == (cells, units)


def test_parts_that_do_not_add_up_or_stray_labels_are_a_state_error() -> None:
    bad = cell(W1, "(other)", 10, 0, raw=(RawPart({F: "d"}, 9),))
    with pytest.raises(StateError, match="add up"):
        refold([bad], [], {F: 1})
    ok = cell(W1, "(other)", 10, 1, raw=(RawPart({F: "d"}, 10),))
    stray = Unit("x", ok.id, {"raw_values": {F: "zzz"}})
    with pytest.raises(StateError, match="labels its population does not have"):
        refold([ok], [stray], {F: 5})


def test_tops_of_reads_the_policy_json() -> None:
    assert tops_of({"strata": [{"field": F, "top": 3}, {"field": "name"}, {"field": "x", "top": True}]}) == {F: 3}
    assert tops_of(None) == {} and tops_of({"strata": "x"}) == {}
