"""`[sampling] weight` and `floor` as a spec, and the size w_i >= floor it gives each trace.

The sampling itself (priority sampling on the keyed hash, the ranks and the inclusion
probabilities) is in `tracestrata.sampling.weights`; this module is the policy's side: which
field or expression sizes a trace, and the floor.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from tracestrata.estimate.floor_choice import first_window_floor
from tracestrata.columns import DictColumn, StringColumn
from tracestrata.policy.weight_expression import PREFIX, WeightExpression, evaluate, is_expression, parse_expression


UNCERTAINTY = "proxy_uncertainty"
AUTO = "auto"  # `floor = "auto"`: chosen per window from the earlier windows' judged traces
MIN_FLOOR = 1e-12  # the smallest floor: ranks u/w <= 1e12
MAX_SIZE = 1e250  # the largest size: ranks u/w >= 2^-53 / 1e250, far above the subnormals
DEFAULT_FLOOR = 0.15  # a field's or an expression's first-window floor (docs/sampling.md "The floor")
Column = Sequence[object] | np.ndarray | StringColumn | DictColumn  # what the sketch hands `sizes`


@dataclass(frozen=True)
class WeightSpec:
    """`[sampling] weight = "FIELD" | "proxy_uncertainty:FIELD" | "expr: ..."`, and `floor`.

    `auto` (`floor = "auto"`, the default): `floor` is the one this window uses, chosen from
    the earlier windows' judged traces (`estimate.floor_choice`; `with_floor`), else the
    first-window rule; the policy (and its digest) still says "auto"."""

    field: str
    uncertainty: bool = False
    floor: float = DEFAULT_FLOOR
    auto: bool = False
    expression: WeightExpression | None = None

    @property
    def text(self) -> str:
        if self.expression is not None:
            return f"{PREFIX} {self.expression.text}"
        return f"{UNCERTAINTY}:{self.field}" if self.uncertainty else self.field

    def to_json(self) -> dict[str, str | float]:
        return {"weight": self.text, "floor": AUTO if self.auto else self.floor}

    def with_floor(self, floor: float) -> WeightSpec:
        """The same weight with this window's floor (an auto floor stays auto), kept in
        [`MIN_FLOOR`, `MAX_SIZE`] as a policy's floor is (a chosen floor is a quantile of the field)."""
        return replace(self, floor=min(max(float(floor), MIN_FLOOR), MAX_SIZE))

    def raw_sizes(self, column: Column) -> np.ndarray:
        """The size of every row before the floor: NaN where it is missing or not a number."""
        x = numbers(column)
        if self.expression is not None:
            return evaluate(self.expression, x)
        if self.uncertainty:
            with np.errstate(invalid="ignore"):
                x = np.sqrt(x * (1.0 - x))  # NaN outside [0, 1]
        return x

    def sizes(self, column: Column) -> np.ndarray:
        """The size w_i >= floor of every row of a column (a list, numpy array, Dict- or StringColumn)."""
        x = self.raw_sizes(column)
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(x) & (x > self.floor)
        return np.where(ok, np.minimum(x, MAX_SIZE), self.floor)


def numbers(column: Column) -> np.ndarray:
    """A column as floats: numbers (booleans as 0/1) as they are, anything else NaN."""
    if isinstance(column, DictColumn):
        return column.take(_floats(list(column.values)), math.nan)
    if isinstance(column, StringColumn):
        return np.full(len(column), math.nan)  # text is never a weight
    if isinstance(column, np.ndarray) and column.dtype.kind in "fiub":
        return column.astype(float)
    values = column.tolist() if isinstance(column, np.ndarray) else column
    return _floats(values)


def _floats(values: Sequence[object]) -> np.ndarray:
    out = np.full(len(values), math.nan)
    for i, v in enumerate(values):
        if type(v) in (float, int, bool):
            out[i] = float(v)
    return out


def parse_weight(text: str) -> tuple[str, bool]:
    """(field path, uncertainty?) of a `weight` value; the path is checked by the caller.
    An expression (`expr: ...`) gives the one field it reads (`ExpressionError` if it is not allowed)."""
    if is_expression(text):
        return parse_expression(text).field, False
    head, sep, rest = text.partition(":")
    if sep and head == UNCERTAINTY:
        return rest.strip(), True
    return text.strip(), False


def weight_spec(text: str, floor: float | str = AUTO) -> WeightSpec:
    """The spec of a `weight` value and `floor` (a number, or "auto": the first-window floor until
    a window's history chooses one); raises `ExpressionError` for an expression outside the whitelist."""
    expression = parse_expression(text) if is_expression(text) else None
    path, uncertainty = (expression.field, False) if expression is not None else parse_weight(text)
    if floor == AUTO:
        return WeightSpec(path, uncertainty, first_window_floor(uncertainty, DEFAULT_FLOOR), True, expression)
    return WeightSpec(path, uncertainty, float(floor), False, expression)


def spec_from_table(table: Mapping[str, object], field: str) -> WeightSpec:
    """A stored policy's `[sampling]` table as a spec (`proxy_uncertainty:field` without a weight)."""
    text = table.get("weight")
    floor = table.get("floor", AUTO)
    if not isinstance(text, str):
        return weight_spec(f"{UNCERTAINTY}:{field}")
    number = isinstance(floor, int | float) and not isinstance(floor, bool)
    return weight_spec(text, float(floor) if number else AUTO)
