"""Signal operators, including missing values, and column evaluation == per-value predicate."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracestrata.policy.signals import Condition, Operator, Signal, fired

CASES = [
    (Operator.EQUALS, "error", [("error", True), ("ok", False), (None, False), (1, False)]),
    (Operator.EQUALS, True, [(True, True), (1, False), ("true", False), (None, False)]),
    (Operator.EQUALS, 0, [(0, True), (0.0, True), (False, False), (1, False), (None, False)]),
    (Operator.NOT_EQUALS, "ok", [("error", True), ("ok", False), (None, False)]),
    (Operator.LT, 0.5, [(0, True), (0.5, False), (1, False), (None, False), ("0", False), (True, False)]),
    (Operator.LE, 0.5, [(0.5, True), (0.6, False)]),
    (Operator.GT, 10000, [(10001, True), (10000, False), (None, False)]),
    (Operator.GE, 10000, [(10000, True), (9999.9, False)]),
    (Operator.IN, ("a", "b", 3), [("a", True), ("c", False), (3, True), (3.0, True), (None, False)]),
    (Operator.EXISTS, True, [(None, False), (0, True), ("", True)]),
    (Operator.EXISTS, False, [(None, True), (0, False)]),
]


@pytest.mark.parametrize(("op", "operand", "expected"), CASES)
def test_operators(op, operand, expected):
    condition = Condition("f", op, operand)
    for value, want in expected:
        assert condition.matches(value) is want, (op, operand, value)


def test_contains_is_member_or_substring():
    condition = Condition("tags", Operator.CONTAINS, "refund")
    assert condition.matches(["prod", "refund"]) and condition.matches(("refund",))
    assert condition.matches("a refund loop") and not condition.matches(["refunds"]) and not condition.matches(None)
    assert not condition.matches(5)


values = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(-3, 3)
    | st.text(max_size=3)
    | st.lists(st.text(max_size=2), max_size=2)
)
operands = {
    Operator.EQUALS: st.booleans() | st.integers(-3, 3) | st.text(max_size=2),
    Operator.NOT_EQUALS: st.booleans() | st.integers(-3, 3) | st.text(max_size=2),
    Operator.LT: st.integers(-3, 3) | st.floats(-3, 3),
    Operator.LE: st.integers(-3, 3),
    Operator.GT: st.floats(-3, 3),
    Operator.GE: st.integers(-3, 3),
    Operator.IN: st.lists(st.integers(-2, 2) | st.text(max_size=1), min_size=1).map(tuple),
    Operator.CONTAINS: st.text(max_size=2),
    Operator.EXISTS: st.booleans(),
}


@settings(deadline=None)
@given(
    st.sampled_from(list(Operator)).flatmap(lambda op: st.tuples(st.just(op), operands[op])),
    st.lists(values, max_size=20),
)
def test_column_evaluation_equals_predicate(op_operand, column):
    op, operand = op_operand
    condition = Condition("f", op, operand)
    assert condition.evaluate(column) == [condition.matches(v) for v in column]


def test_fired_names_every_signal_that_fires():
    signals = [
        Signal("error", Condition("status", Operator.EQUALS, "error")),
        Signal("slow", Condition("latency_ms", Operator.GE, 10)),
    ]
    assert fired(signals, ["error", 20]) == ("error", "slow")
    assert fired(signals, ["ok", None]) == ()
