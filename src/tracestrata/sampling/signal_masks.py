"""Which signals fire on each row of a batch, and so which cell the row belongs to.

A `SignalEvaluator` is built once from the policy's `[[signals]]` and `[[boosts]]`. Per
batch it evaluates every condition over whole columns (numpy where the column is
numeric, once per distinct value of a dictionary column, in C for an equality to a
string) into one bit mask per row, and gives each row its cell code: the first matching
active boost, else failure when any signal fired, else normal (`CellCodes`).
"""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat

import numpy as np

from tracestrata.design import CellKind
from tracestrata.columns import Column, DictColumn, numeric_array
from tracestrata.policy.model import Policy
from tracestrata.policy.signals import Condition, Operator


@dataclass(frozen=True, slots=True)
class CellCodes:
    """Cell codes of a policy with `boosts` boosts: 0..boosts-1 the boosts, then failure, then normal."""

    boosts: int

    @property
    def failure(self) -> int:
        return self.boosts

    @property
    def normal(self) -> int:
        return self.boosts + 1

    @property
    def count(self) -> int:
        return self.boosts + 2

    def kind(self, cell: int) -> CellKind:
        if cell < self.boosts:
            return CellKind.BOOST
        return CellKind.FAILURE if cell == self.failure else CellKind.NORMAL


class SignalEvaluator:
    """The policy's signals and boosts, evaluated over a batch's columns."""

    def __init__(self, policy: Policy) -> None:
        self._signals = [s.condition for s in policy.signals]
        self._boosts = [b.condition for b in policy.boosts]
        self.codes = CellCodes(len(policy.boosts))

    def masks(self, columns: Mapping[str, Column], n: int) -> np.ndarray:
        """Bit `b` set when signal `b` fires (uint8 for up to 8 signals: less memory traffic)."""
        masks = np.zeros(n, dtype=np.uint8 if len(self._signals) <= 8 else np.int64)
        for bit, condition in enumerate(self._signals):
            hits = evaluate(condition, columns[condition.field])
            masks |= hits.astype(masks.dtype) << masks.dtype.type(bit)
        return masks

    def cells(self, masks: np.ndarray, columns: Mapping[str, Column], remaining: Sequence[int]) -> np.ndarray:
        """Cell code per row: the first matching boost with `remaining` collect, else failure, else normal."""
        codes = self.codes
        cells = np.where(masks != 0, codes.failure, codes.normal).astype(np.int64)
        for b in reversed(range(codes.boosts)):  # the first matching active boost wins
            if remaining[b] <= 0:
                continue
            condition = self._boosts[b]
            cells[evaluate(condition, columns[condition.field])] = b
        return cells


def evaluate(condition: Condition, column: Column) -> np.ndarray:
    """`condition` on every row of `column`, as a boolean array."""
    if isinstance(column, DictColumn):  # once per distinct value
        return column.take(np.asarray(condition.evaluate(list(column.values)), dtype=bool), condition.matches(None))
    if isinstance(column, np.ndarray):
        return condition.evaluate_array(column)
    if condition.operator is not Operator.NOT_EQUALS and condition.operator is not Operator.CONTAINS:
        nums = numeric_array(column)  # a numeric column (None = missing): evaluate in numpy
        if nums is not None:
            return condition.evaluate_array(nums)
    operand = condition.operand
    if condition.operator is Operator.EQUALS and isinstance(operand, (str, bool)):
        # what `Condition.evaluate` computes (`==` to a str operand, `is` to a bool one), in C
        test = operator.is_ if isinstance(operand, bool) else operator.eq
        with contextlib.suppress(TypeError, ValueError):  # an `==` that gave neither a bool nor a small int
            return np.frombuffer(bytearray(map(test, column, repeat(operand))), dtype=np.uint8) != 0
    return np.asarray(condition.evaluate(column), dtype=bool)


__all__ = ["CellCodes", "SignalEvaluator", "evaluate"]
