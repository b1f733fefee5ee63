"""What a sample is: the sampled traces with their design fields, and the cells they came from.

`SampleResult` is what every sampling path returns (`tracestrata.sampling.samplers`),
`SampledTrace` one line of `sample.jsonl`; `SampleResult.design()` is the plain-data
design the estimators read (`tracestrata.design`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tracestrata.design import Cell, CellKind, Design, Unit, cell_id, in_window
from tracestrata.record import TraceRecord, format_timestamp
from tracestrata.columns import JsonObject


@dataclass(frozen=True, slots=True)
class SampledTrace:
    record: TraceRecord
    stratum: str
    values: dict[str, str]
    cell: str
    kind: CellKind
    failure: bool
    signals: tuple[str, ...]
    boost: str | None
    inclusion_probability: float
    weight: float
    proxy: Mapping[str, float | None] = field(default_factory=dict)  # by proxy field path
    review: bool = False  # in the human-review subsample
    review_probability: float = 1.0  # of being reviewed, given sampled (1.0 without `[review]`)
    raw_values: Mapping[str, str] | None = None  # the labels before `top` folded them, when they differ
    size: float | None = None  # the trace's `[sampling] weight` (floored), when the policy has one

    def to_json(self) -> JsonObject:
        """One `sample.jsonl` line: the record's JSON plus the design fields."""
        out = self.record.to_json()
        out.update(
            stratum=self.stratum,
            values=dict(self.values),
            cell=self.cell,
            kind=self.kind.value,
            failure=self.failure,
            signals=list(self.signals),
            boost=self.boost,
            inclusion_probability=self.inclusion_probability,
            weight=self.weight,
        )
        if self.review or self.review_probability < 1.0:  # a policy with `[review]`: every row says
            out.update(review=self.review, review_probability=self.review_probability)
        if self.size is not None:  # a weighted policy: pi differs inside a cell
            out["size"] = self.size
        return out

    def unit_attrs(self) -> JsonObject:
        """What a report may group or compare by, kept with each sampled trace in the sync ledger."""
        record = self.record
        return {
            "stratum": self.stratum,
            **{str(k): v for k, v in self.values.items()},
            "failure": bool(self.failure),
            "boost": self.boost,
            "release": record.release,
            "version": record.version,
            "name": record.name,
            "tags": list(record.tags),
            "metadata": dict(record.metadata),  # so `report --ledger --compare metadata.x` finds its groups
            "timestamp": format_timestamp(record.timestamp),
            **{path: value for path, value in self.proxy.items()},  # by path: what `report --proxy` reads
            **(
                {"review": self.review, "review_probability": self.review_probability}
                if self.review or self.review_probability < 1.0
                else {}
            ),
            **({"raw_values": dict(self.raw_values)} if self.raw_values is not None else {}),
            **({"inclusion_probability": self.inclusion_probability} if self.size is not None else {}),
        }


@dataclass(frozen=True, slots=True)
class SampleResult:
    selected: list[SampledTrace]
    cells: list[Cell]
    boost_collected: dict[str, int]
    population: int = 0
    duplicates: int = 0  # repeated trace ids dropped (each trace counted once, its first occurrence kept)
    absent: tuple[str, ...] = ()  # signal and boost fields no trace had (`tracestrata.sampling.field_check`)

    def design(self, window: str | None = None) -> Design:
        """The design for estimators; `window` prefixes cell ids in multi-window designs."""
        cells = tuple(
            Cell(in_window(c.id, window), c.stratum, c.values, c.kind, c.population, c.sampled, window, c.proxy)
            for c in self.cells
        )
        units = tuple(
            Unit(s.record.id, in_window(s.cell, window), {"stratum": s.stratum, **s.values}, dict(s.proxy),
                 s.inclusion_probability if s.size is not None else None)
            for s in self.selected
        )
        return Design(cells, units)


def boost_cell_id(stratum: str, boost: str) -> str:
    """Boost cells carry the boost name: a stratum may hold several active boosts."""
    return f"{cell_id(stratum, CellKind.BOOST)}:{boost}"


__all__ = ["SampleResult", "SampledTrace", "boost_cell_id"]
