"""The sampling design as plain data: the contract between samplers and estimators.

The sampler draws a simple random sample without replacement of a fixed size inside
every *cell* (a stratum crossed with the kind of trace: boost cluster, failure,
non-failure), so the design is stratified SRSWOR with the cells as strata and the
inclusion probability of every trace in cell c is exactly `sampled_c / population_c`.
A report over many windows is the same design with one cell per (window, cell):
windows are just more strata.

`Design` is what `manifest.json` (one window) and the state ledger (many windows)
both turn into; estimators read nothing else about how the sample was drawn.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import NotRequired, TypedDict

from tracestrata.errors import TracestrataError
from tracestrata.record import JSONValue


class ProxyTotalsJSON(TypedDict):
    n: int
    sum: float
    sumsq: NotRequired[float]


class RawPartJSON(TypedDict):
    values: dict[str, str]
    population: int
    proxy: NotRequired[dict[str, ProxyTotalsJSON]]


class CellJSON(TypedDict):
    """One cell as `manifest.json` and the state's `runs.cells` hold it."""

    cell: str
    stratum: str
    values: dict[str, str]
    kind: str
    population: int
    sampled: int
    inclusion_probability: NotRequired[float]
    window: str | None
    proxy: NotRequired[dict[str, ProxyTotalsJSON]]
    raw: NotRequired[list[RawPartJSON]]


class CellKind(str, Enum):
    BOOST = "boost"
    FAILURE = "failure"
    NORMAL = "normal"


@dataclass(frozen=True, slots=True)
class ProxyTotals:
    """A proxy over *all* traces of a cell: how many have it, its sum and sum of squares."""

    n: int
    sum: float
    sumsq: float

    def to_json(self) -> ProxyTotalsJSON:
        return {"n": self.n, "sum": self.sum, "sumsq": self.sumsq}

    @classmethod
    def from_json(cls, data: ProxyTotalsJSON) -> ProxyTotals:
        return cls(int(data["n"]), float(data["sum"]), float(data.get("sumsq", 0.0)))


@dataclass(frozen=True, slots=True)
class RawPart:
    """The traces of a cell that shared one combination of labels before `top` folded them."""

    values: Mapping[str, str]
    population: int
    proxy: Mapping[str, ProxyTotals] = field(default_factory=dict)

    def to_json(self) -> RawPartJSON:
        out: RawPartJSON = {"values": dict(self.values), "population": self.population}
        if self.proxy:
            out["proxy"] = {k: v.to_json() for k, v in self.proxy.items()}
        return out

    @classmethod
    def from_json(cls, data: RawPartJSON) -> RawPart:
        return cls(
            {str(k): str(v) for k, v in (data.get("values") or {}).items()},
            int(data["population"]),
            {str(k): ProxyTotals.from_json(v) for k, v in (data.get("proxy") or {}).items()},
        )


@dataclass(frozen=True, slots=True)
class Cell:
    """One design stratum: `population` traces, of which `sampled` were drawn by SRSWOR.

    `raw` is set on a cell into which `top` folded other values: its population by the
    labels before the fold, so a report over many windows can fold again over the
    whole period (`tracestrata.job.refold`).
    """

    id: str
    stratum: str
    values: Mapping[str, str]
    kind: CellKind
    population: int
    sampled: int
    window: str | None = None
    proxy: Mapping[str, ProxyTotals] = field(default_factory=dict)  # by proxy field path
    raw: tuple[RawPart, ...] = ()

    @property
    def inclusion_probability(self) -> float:
        return self.sampled / self.population if self.population else 0.0

    def to_json(self) -> CellJSON:
        return {
            "cell": self.id,
            "stratum": self.stratum,
            "values": dict(self.values),
            "kind": self.kind.value,
            "population": self.population,
            "sampled": self.sampled,
            "inclusion_probability": self.inclusion_probability,
            "window": self.window,
            **({"proxy": {k: v.to_json() for k, v in self.proxy.items()}} if self.proxy else {}),
            **({"raw": [part.to_json() for part in self.raw]} if self.raw else {}),
        }

    @classmethod
    def from_json(cls, data: CellJSON) -> Cell:
        return cls(
            id=str(data["cell"]),
            stratum=str(data["stratum"]),
            values=dict(data.get("values") or {}),
            kind=CellKind(data["kind"]),
            population=int(data["population"]),
            sampled=int(data["sampled"]),
            window=data.get("window"),
            proxy={str(k): ProxyTotals.from_json(v) for k, v in (data.get("proxy") or {}).items()},
            raw=tuple(RawPart.from_json(part) for part in data.get("raw") or ()),
        )


@dataclass(frozen=True, slots=True)
class Unit:
    """A sampled trace: which cell it was drawn from, plus any attributes a report groups by."""

    trace_id: str
    cell: str
    attrs: Mapping[str, JSONValue] = field(default_factory=dict)
    proxy: Mapping[str, float | None] = field(default_factory=dict)  # by proxy field path, when the policy has one
    probability: float | None = None  # its own inclusion probability (`[sampling] weight`); None: the cell's k/N

    def attr(self, path: str) -> JSONValue:
        """An attribute by name, or by dotted path into nested mappings (`metadata.x`); None when absent."""
        if path in self.attrs:
            return self.attrs[path]
        node: JSONValue | Mapping[str, JSONValue] = self.attrs
        for part in path.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return None
            node = node[part]
        return node


@dataclass(frozen=True, slots=True)
class Design:
    cells: tuple[Cell, ...]
    units: tuple[Unit, ...]

    def cell_index(self) -> dict[str, Cell]:
        return {cell.id: cell for cell in self.cells}


ALL = "(all)"  # the stratum key when a policy has no dimensions
MISSING = "(missing)"  # the label of a missing value
OTHER = "(other)"  # the label of the values `top` or `values` fold away


def proxy_number(value: JSONValue, path: str, trace_id: str, error: type[TracestrataError]) -> float | None:
    """A proxy value as the estimators read it: a number, a boolean as 0/1, None when missing;
    `error` (naming `path`) for anything else."""
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(float(value)):
        return float(value)
    raise error(f"non-numeric proxy value {value!r} on trace {trace_id!r}", field=path)


def in_window(cell: str, window: str | None) -> str:
    """`<window>#<cell>`: a one-window cell id made unique across windows (unchanged without a window)."""
    return f"{window}#{cell}" if window else cell


def cell_id(stratum: str, kind: CellKind, window: str | None = None) -> str:
    """`<window>#<stratum>#<kind>`; the window part only in multi-window designs."""
    return in_window(f"{stratum}#{kind.value}", window)


__all__ = [
    "ALL",
    "MISSING",
    "OTHER",
    "Cell",
    "CellJSON",
    "CellKind",
    "Design",
    "ProxyTotals",
    "RawPart",
    "Unit",
    "cell_id",
    "in_window",
]
