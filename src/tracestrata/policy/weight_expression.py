"""`[sampling] weight = "expr: ..."`: a trace's size as a small arithmetic expression of a field.

    weight = "expr: sqrt(scores.heuristic * (1 - scores.heuristic)) + 0.1"

The language is parsed with Python's `ast` and only a whitelist is accepted: numbers,
one field path (dotted names, e.g. `scores.heuristic`; it may appear several times),
`+ - * / **`, unary `-`/`+`, parentheses and the functions sqrt, abs, min, max
(elementwise, two or more arguments) and clip(x, low, high). Anything else (another
function, a string, an attribute of a call, a comparison, a subscript, keywords...) is
refused when the policy is read, and so is an expression longer than `MAX_LENGTH`
characters or nested deeper than `MAX_DEPTH` (a policy is read by people; the limits keep
parsing and evaluation far from Python's recursion limit on every path). One field, because every path hands the weight one
column (`WeightSpec.sizes`); an expression of the proxy needs no more.

It is evaluated vectorised with numpy over the float column (`weights.numbers`: a
missing or non-numeric value is NaN), in float64 with the operations IEEE-754 rounds
correctly, so every path that reads the same floats gets the same sizes bit for bit. A
result that is NaN, infinite or at most the floor (sqrt of a negative, 0/0...) gets the
floor, as any weight.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

PREFIX = "expr:"
FUNCTIONS = ("sqrt", "abs", "min", "max", "clip")
MAX_LENGTH = 1000  # characters of an expression
MAX_DEPTH = 32  # operations nested in one another
_SHOWN = 60  # characters of an expression quoted in a message

Evaluator = Callable[[np.ndarray], np.ndarray]


class ExpressionError(ValueError):
    """An expression outside the whitelist (the message says what and where)."""


@dataclass(frozen=True)
class WeightExpression:
    """A parsed, checked expression: its text, the one field it reads, and its evaluator."""

    text: str
    field: str
    evaluate: Evaluator = field(compare=False, repr=False)

    def __reduce__(self) -> tuple[Callable[[str], WeightExpression], tuple[str]]:
        """Pickled as its text (parsed again): worker processes need no closure pickling."""
        return parse_expression, (f"{PREFIX} {self.text}",)


def is_expression(text: str) -> bool:
    return text.lstrip().startswith(PREFIX)


def parse_expression(text: str) -> WeightExpression:
    """The expression after `expr:`; `ExpressionError` naming what is not allowed."""
    source = text.strip()[len(PREFIX):] if is_expression(text) else text
    source = " ".join(source.split())  # one line (a TOML multi-line string too): messages and logs stay one line
    if not source:
        raise ExpressionError("an empty expression (e.g. \"expr: sqrt(scores.heuristic * (1 - scores.heuristic))\")")
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"an expression of at most {MAX_LENGTH:,} characters, not {len(source):,}: {_show(source)}")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"not an expression: {_show(source)} ({exc.msg})") from None
    except (RecursionError, MemoryError):
        raise ExpressionError(f"nested deeper than {MAX_DEPTH} operations: {_show(source)}") from None
    fields: set[str] = set()
    try:
        evaluate = _compile(tree.body, fields, 0)
    except RecursionError:  # a long dotted path (its depth is not counted): still one line
        raise ExpressionError(f"nested deeper than {MAX_DEPTH} operations: {_show(source)}") from None
    if len(fields) != 1:
        named = ", ".join(sorted(fields)) or "none"
        raise ExpressionError(f"an expression names exactly one field (the proxy); {_show(source)} names {named}")
    path = fields.pop()
    if path.replace(".", "") not in source.replace(" ", "").replace(".", ""):  # NFKC: 'ﬁ' reads as 'fi'
        raise ExpressionError(f"a field path as Python reads it differs from its text ({path!r}: identifiers are "
                              f"NFKC-normalised); name the field in plain letters, or weight = \"FIELD\"")
    return WeightExpression(source, path, evaluate)


def _show(text: str) -> str:
    """An expression quoted in a one-line message, cut after `_SHOWN` characters."""
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")


def _unparse(node: ast.expr) -> str:
    return _show(ast.unparse(node))


_BINARY: dict[type[ast.operator], Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.true_divide, ast.Pow: np.power,
}


def _path(node: ast.expr) -> str | None:
    """`a.b.c` as a field path, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _path(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


def _compile(node: ast.expr, fields: set[str], depth: int) -> Evaluator:
    if depth > MAX_DEPTH:
        raise RecursionError  # the message names the whole expression (`parse_expression`)
    depth += 1
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        try:
            value = float(node.value)
        except OverflowError:  # an integer past 1.8e308: as 1e400 would be
            value = math.inf
        return lambda x: np.full(len(x), value)
    if isinstance(node, ast.Name | ast.Attribute):
        path = _path(node)
        if path is None or path in FUNCTIONS or "__" in path:
            raise ExpressionError(f"not a field path: {_unparse(node)}")
        fields.add(path)
        return lambda x: x
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        op = _BINARY[type(node.op)]
        left, right = _compile(node.left, fields, depth), _compile(node.right, fields, depth)
        return lambda x: op(left(x), right(x))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _compile(node.operand, fields, depth)
        return (lambda x: np.negative(inner(x))) if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.Call):
        return _call(node, fields, depth)
    raise ExpressionError(f"not allowed in a weight expression: {_unparse(node)} (numbers, one field, "
                          f"+ - * / **, {', '.join(FUNCTIONS)})")


def _call(node: ast.Call, fields: set[str], depth: int) -> Evaluator:
    name = node.func.id if isinstance(node.func, ast.Name) else None
    if name not in FUNCTIONS or node.keywords:
        raise ExpressionError(f"not an allowed function call: {_unparse(node)} (only {', '.join(FUNCTIONS)})")
    args = [_compile(a, fields, depth) for a in node.args]
    wanted = {"sqrt": (1, 1), "abs": (1, 1), "clip": (3, 3)}.get(name, (2, 99))
    if not wanted[0] <= len(args) <= wanted[1]:
        raise ExpressionError(f"{name} takes {wanted[0] if wanted[0] == wanted[1] else 'two or more'} "
                              f"arguments: {_unparse(node)}")
    if name == "sqrt":
        return lambda x: np.sqrt(args[0](x))
    if name == "abs":
        return lambda x: np.abs(args[0](x))
    if name == "clip":
        return lambda x: np.minimum(np.maximum(args[0](x), args[1](x)), args[2](x))
    reduce = np.minimum if name == "min" else np.maximum

    def extreme(x: np.ndarray) -> np.ndarray:
        out = args[0](x)
        for arg in args[1:]:
            out = reduce(out, arg(x))
        return out

    return extreme


def evaluate(expression: WeightExpression, x: np.ndarray) -> np.ndarray:
    """The expression over a float column (NaN where the field is missing); NaN/inf where undefined."""
    with np.errstate(all="ignore"):
        return np.asarray(expression.evaluate(np.asarray(x, dtype=np.float64)), dtype=np.float64)


__all__ = ["FUNCTIONS", "MAX_DEPTH", "MAX_LENGTH", "PREFIX", "ExpressionError", "WeightExpression", "evaluate", "is_expression",
           "parse_expression"]
