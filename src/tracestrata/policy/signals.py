"""Conditions on a record field: failure signals and boost clusters.

A condition is one field, one operator and one operand. A missing field never
fires, except under `exists = false`. Order comparisons fire only on numbers;
`equals` compares numbers numerically (`1 == 1.0`) and everything else exactly;
`contains` is list membership for a list field (e.g. `tags`) and a substring test
for a string field.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np

from tracestrata.columns import Column, FieldValue, JsonObject


class Operator(str, Enum):
    EQUALS = "equals"
    NOT_EQUALS = "not_equals"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    IN = "in"
    CONTAINS = "contains"
    EXISTS = "exists"


OPERATORS: tuple[str, ...] = tuple(op.value for op in Operator)
_ORDER = frozenset({Operator.LT, Operator.LE, Operator.GT, Operator.GE})
_NUMBER_TYPES = frozenset({int, float})


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same(a: object, b: object) -> bool:
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    return type(a) is type(b) and bool(a == b)


@dataclass(frozen=True, slots=True)
class Condition:
    field: str
    operator: Operator
    operand: FieldValue

    def predicate(self) -> Callable[[FieldValue], bool]:
        """A fast value -> fired function (the operand is bound once)."""
        op, operand = self.operator, self.operand
        if op is Operator.EXISTS:
            want = bool(operand)
            return lambda v: (v is not None) is want
        if op is Operator.EQUALS:
            if isinstance(operand, str):
                return lambda v: v == operand if isinstance(v, str) else False
            return lambda v: v is not None and _same(v, operand)
        if op is Operator.NOT_EQUALS:
            return lambda v: v is not None and not _same(v, operand)
        if op is Operator.IN:
            options: Sequence[FieldValue] = tuple(operand)
            return lambda v: v is not None and any(_same(v, option) for option in options)
        if op is Operator.CONTAINS:

            def contains(v: FieldValue) -> bool:
                if isinstance(v, (list, tuple)):
                    return any(_same(item, operand) for item in v)
                if isinstance(v, str) and isinstance(operand, str):
                    return operand in v
                return False

            return contains
        bound = float(operand)
        compare: Callable[[float], bool] = {
            Operator.LT: lambda x: x < bound,
            Operator.LE: lambda x: x <= bound,
            Operator.GT: lambda x: x > bound,
            Operator.GE: lambda x: x >= bound,
        }[op]
        return lambda v: _is_number(v) and compare(v)

    def matches(self, value: FieldValue) -> bool:
        return self.predicate()(value)

    def evaluate(self, column: Sequence[FieldValue]) -> list[bool]:
        """`predicate` over a whole column, with inline fast cases for the common operators."""
        op, operand = self.operator, self.operand
        if op is Operator.EQUALS and isinstance(operand, str):
            return [v == operand for v in column]  # only a str can equal a str
        if op is Operator.EQUALS and isinstance(operand, bool):
            return [v is operand for v in column]
        if op is Operator.EQUALS and isinstance(operand, (int, float)):
            num = _NUMBER_TYPES
            return [type(v) in num and v == operand for v in column]
        if op is Operator.EXISTS:
            return [v is not None for v in column] if operand else [v is None for v in column]
        if op in _ORDER and not isinstance(operand, bool):
            bound = float(operand)
            num = _NUMBER_TYPES
            if op is Operator.LT:
                return [type(v) in num and v < bound for v in column]
            if op is Operator.LE:
                return [type(v) in num and v <= bound for v in column]
            if op is Operator.GT:
                return [type(v) in num and v > bound for v in column]
            return [type(v) in num and v >= bound for v in column]
        pred = self.predicate()
        return [pred(v) for v in column]

    def evaluate_array(self, column: np.ndarray) -> np.ndarray:
        """`evaluate` over a numpy column, vectorized where the dtype allows; NaN means missing."""
        op, operand, kind = self.operator, self.operand, column.dtype.kind
        numeric = kind in "fiu"
        is_number = isinstance(operand, (int, float)) and not isinstance(operand, bool)
        if op is Operator.EQUALS:
            if (kind == "U" and isinstance(operand, str)) or (kind == "b" and isinstance(operand, bool)):
                return np.asarray(column == operand)
            if numeric and is_number:
                return np.asarray(column == operand)
            if kind in "fiubU":
                return np.zeros(len(column), dtype=bool)
        if op in _ORDER and kind in "fiubU":
            if not numeric:
                return np.zeros(len(column), dtype=bool)
            bound = float(operand)
            with np.errstate(invalid="ignore"):
                return {
                    Operator.LT: np.less,
                    Operator.LE: np.less_equal,
                    Operator.GT: np.greater,
                    Operator.GE: np.greater_equal,
                }[op](column, bound)
        if op is Operator.EQUALS and kind == "O" and isinstance(operand, str):
            # Python `==` per element, in C: exactly what `evaluate` computes for a str operand
            return np.equal(column, operand, dtype=bool)
        if op is Operator.EXISTS and kind in "fiubU":
            present = ~np.isnan(column) if kind == "f" else np.ones(len(column), dtype=bool)
            return present if operand else ~present
        return np.asarray(self.evaluate(column_values(column)), dtype=bool)

    def to_json(self) -> JsonObject:
        return {"field": self.field, self.operator.value: self.operand}


@dataclass(frozen=True, slots=True)
class Signal:
    """A named failure signal: a trace is a failure when any signal fires."""

    name: str
    condition: Condition

    def to_json(self) -> JsonObject:
        return {"name": self.name, **self.condition.to_json()}


@dataclass(frozen=True, slots=True)
class Boost:
    """A cluster under investigation: taken at 100% until `collect` traces are gathered over runs."""

    name: str
    condition: Condition
    collect: int

    def to_json(self) -> JsonObject:
        return {"name": self.name, **self.condition.to_json(), "collect": self.collect}


def column_values(column: Column) -> Sequence[FieldValue]:
    """A numpy column as Python values (NaN in a float column becomes None, i.e. missing)."""
    if not isinstance(column, np.ndarray):
        return column
    values = column.tolist()
    if column.dtype.kind == "f":
        return [None if v != v else v for v in values]
    return values


def fired(signals: Sequence[Signal], values: Sequence[FieldValue]) -> tuple[str, ...]:
    """Names of the signals that fire, given each signal's field value (same order)."""
    return tuple(s.name for s, v in zip(signals, values, strict=True) if s.condition.matches(v))


__all__ = ["OPERATORS", "Boost", "Condition", "Operator", "Signal", "column_values", "fired"]
