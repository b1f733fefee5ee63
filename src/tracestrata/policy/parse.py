"""The sampling policy: a TOML file, validated strictly into plain frozen data.

Every key is documented in `docs/policy.md`. A mistake raises one `ConfigError`
naming the file, the line (found by searching the key in the file text), the key
path (`strata[1].edges`) and what was expected.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import field
from pathlib import Path

from tracestrata.errors import ConfigError
from tracestrata.io.tomlfile import key_line, read_toml
from tracestrata.policy.model import DEFAULT_MAX_STRATA, DEFAULT_TARGET, Period, Policy, REVIEW_SUFFIX, Review, Targets
from tracestrata.policy.evaluators import Evaluator, HashTarget
from tracestrata.policy.signals import OPERATORS, Boost, Condition, Operator, Signal
from tracestrata.policy.strata import Dimension, check_path
from tracestrata.policy.weight_expression import ExpressionError
from tracestrata.policy.weight_spec import AUTO, MAX_SIZE, MIN_FLOOR, UNCERTAINTY, WeightSpec, parse_weight, weight_spec


TOP_KEYS = (
    "seed", "description", "strata", "targets", "failure", "boost", "max_strata", "proxy", "review", "evaluator",
    "sampling",
)
STRATA_KEYS = ("field", "top", "edges", "values", "label")
TARGET_KEYS = ("default", "overrides", "floor", "per")
MAX_COUNT = 1_000_000_000
"""The largest target, floor or count a policy may name (numbers past 2**63 overflow every engine)."""
FAILURE_KEYS = ("multiplier", "signals")
SIGNAL_KEYS = ("name", "field", *OPERATORS)
BOOST_KEYS = ("name", "field", "collect", *OPERATORS)
PROXY_KEYS = ("field",)
TomlValue = object  # a value as read from the policy's TOML, checked (isinstance) before use
TomlTable = Mapping[str, TomlValue]

SAMPLING_KEYS = ("weight", "floor")
REVIEW_KEYS = ("target", "seed_suffix")
EVALUATOR_KEYS = ("name", "rate", "hashes", "filter")
FILTER_KEYS = ("field", *OPERATORS)


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy TOML file."""
    data, text = read_toml(path, what="policy file")
    return _Parser(str(path), text).policy(data)


def parse_policy(data: TomlTable, *, source: str) -> Policy:
    """Validate an already decoded policy table (e.g. `[policy]` inline in a sync config)."""
    return _Parser(source, None).policy(data)


class _Parser:
    def __init__(self, source: str, text: str | None) -> None:
        self.source = source
        self.lines = text.splitlines() if text is not None else None

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(message, path=self.source, line=self.find_line(key), field=key)

    def find_line(self, key: str) -> int | None:
        return None if self.lines is None else key_line(self.lines, key)

    def check_keys(self, table: TomlTable, allowed: Sequence[str], where: str) -> None:
        for key in table:
            if key not in allowed:
                prefix = f"{where}." if where else ""
                raise self.error(f"{prefix}{key}", f"unknown key (expected one of: {', '.join(allowed)})")

    def table(self, value: TomlValue, key: str) -> TomlTable:
        if not isinstance(value, Mapping):
            raise self.error(key, f"expected a table, got {_kind(value)}")
        return value

    def integer(self, value: TomlValue, key: str, *, minimum: int = 0, maximum: int = MAX_COUNT) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected an integer >= {minimum}, got {_kind(value)}")
        if value < minimum:
            raise self.error(key, f"expected an integer >= {minimum}, got {value}")
        if value > maximum:
            raise self.error(key, f"expected an integer of at most {maximum:,}, got {str(value)[:40]}")
        return value

    def string(self, value: TomlValue, key: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.error(key, f"expected a non-empty string, got {_kind(value)}")
        return value

    def policy(self, data: TomlTable) -> Policy:
        data = self.table(data, "policy")
        self.check_keys(data, TOP_KEYS, "")
        if "seed" not in data:
            raise self.error("seed", 'missing: every policy needs a seed string, e.g. seed = "nightly"')
        seed = self.string(data["seed"], "seed")
        description = data.get("description")
        if description is not None and not isinstance(description, str):
            raise self.error("description", f"expected a string, got {_kind(description)}")
        strata = self.strata(data.get("strata", []))
        targets = self.targets(data.get("targets", {}))
        multiplier, signals = self.failure(data.get("failure", {}))
        boosts = self.boosts(data.get("boost", []))
        max_strata = self.integer(data.get("max_strata", DEFAULT_MAX_STRATA), "max_strata", minimum=1)
        proxies = self.proxies(data.get("proxy", []))
        review = self.review(data["review"]) if "review" in data else None
        evaluators = self.evaluators(data.get("evaluator", []))
        weight = self.sampling(data["sampling"]) if "sampling" in data else None
        return Policy(
            seed=seed,
            strata=strata,
            targets=targets,
            multiplier=multiplier,
            signals=signals,
            boosts=boosts,
            description=description,
            source=self.source,
            max_strata=max_strata,
            proxies=proxies,
            review=review,
            evaluators=evaluators,
            weight=weight,
        )

    def evaluators(self, value: TomlValue) -> tuple[Evaluator, ...]:
        out = []
        for where, entry, name in self.named_tables(value, "evaluator", EVALUATOR_KEYS, "evaluator"):
            rate = entry.get("rate")
            if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate <= 1:
                raise self.error(
                    f"{where}.rate", f"expected the evaluator's sampling rate, a number in (0, 1], got {_kind(rate)}"
                )
            hashes = entry.get("hashes")
            if hashes not in {t.value for t in HashTarget}:
                raise self.error(
                    f"{where}.hashes",
                    f'expected "observation" (observation rules) or "trace" (legacy trace rules), got {_kind(hashes)}',
                )
            conditions = tuple(
                self.condition(table, fwhere)
                for fwhere, table in self.tables(entry.get("filter", []), f"{where}.filter", FILTER_KEYS)
            )
            out.append(Evaluator(name, float(rate), HashTarget(hashes), conditions))
        return tuple(out)

    def proxies(self, value: TomlValue) -> tuple[str, ...]:
        fields: list[str] = []
        for where, table in self.tables(value, "proxy", PROXY_KEYS):
            path = self.required_path(table, where, "a numeric or boolean field path like 'scores.heuristic'")
            if path in fields:
                raise self.error(f"{where}.field", f"'{path}' is already a proxy")
            fields.append(path)
        return tuple(fields)

    def sampling(self, value: TomlValue) -> WeightSpec | None:
        """`[sampling] weight = "FIELD" | "proxy_uncertainty:FIELD"`, `floor = 0.15 | "auto"` (the default; see `sampling.weights`)."""
        table = self.table(value, "sampling")
        self.check_keys(table, SAMPLING_KEYS, "sampling")
        if "weight" not in table:
            if "floor" in table:
                example = 'weight = "proxy_uncertainty:scores.heuristic"'
                raise self.error("sampling.floor", f"a floor needs a weight (e.g. {example})")
            return None
        text = self.string(table["weight"], "sampling.weight")
        try:
            path, _ = parse_weight(text)
        except ExpressionError as exc:
            raise self.error("sampling.weight", f"{exc}") from None
        problem = check_path(path)
        if problem:
            raise self.error("sampling.weight", f"{problem} (or '{UNCERTAINTY}:FIELD' for a proxy score in [0, 1])")
        floor = table.get("floor", AUTO)
        if floor != AUTO and (isinstance(floor, bool) or not isinstance(floor, (int, float))
                              or not MIN_FLOOR <= floor <= MAX_SIZE):
            raise self.error(
                "sampling.floor",
                f"expected a number > 0 (the size of a trace without a weight; from {MIN_FLOOR:g} to {MAX_SIZE:g}, "
                f'so every rank u/w is a normal double) or "auto", got {floor!r}',
            )
        return weight_spec(text, floor)

    def review(self, value: TomlValue) -> Review:
        table = self.table(value, "review")
        self.check_keys(table, REVIEW_KEYS, "review")
        if "target" not in table:
            raise self.error("review", "missing 'target' (traces to review per stratum, e.g. target = 30)")
        target = self.integer(table["target"], "review.target", minimum=1)
        suffix = self.string(table.get("seed_suffix", REVIEW_SUFFIX), "review.seed_suffix")
        return Review(target, suffix)

    def tables(self, value: TomlValue, key: str, allowed: Sequence[str]) -> Iterator[tuple[str, TomlTable]]:
        """(key path, table) of each `[[key]]` table, its keys checked."""
        if not isinstance(value, list):
            raise self.error(key, f"expected [[{key}]] tables, got {_kind(value)}")
        for i, item in enumerate(value):
            where = f"{key}[{i}]"
            table = self.table(item, where)
            self.check_keys(table, allowed, where)
            yield where, table

    def required_path(self, table: TomlTable, where: str, example: str) -> str:
        """The table's `field`, a checked field path (`example` says what one looks like when missing)."""
        if "field" not in table:
            raise self.error(where, f"missing 'field' ({example})")
        return self.field_path(table["field"], f"{where}.field")

    def field_path(self, value: TomlValue, key: str) -> str:
        path = self.string(value, key)
        problem = check_path(path)
        if problem:
            raise self.error(key, problem)
        return path

    def strata(self, value: TomlValue) -> tuple[Dimension, ...]:
        dims: list[Dimension] = []
        seen: set[str] = set()
        for where, table in self.tables(value, "strata", STRATA_KEYS):
            path = self.required_path(table, where, "a dotted path like 'metadata.intent'")
            if path in seen:
                raise self.error(f"{where}.field", f"'{path}' is already a dimension")
            seen.add(path)
            chosen = [k for k in ("top", "edges", "values") if k in table]
            if len(chosen) > 1:
                raise self.error(
                    f"{where}.{chosen[1]}", f"use only one of top, edges, values (got {', '.join(chosen)})"
                )
            top = self.integer(table["top"], f"{where}.top", minimum=1) if "top" in table else None
            edges = self.edges(table["edges"], f"{where}.edges") if "edges" in table else None
            values = None
            if "values" in table:
                values = table["values"]
                if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
                    raise self.error(f"{where}.values", "expected a non-empty list of non-empty strings")
                values = tuple(values)
            label = table.get("label")
            if label is not None:
                label = self.string(label, f"{where}.label")
            dims.append(Dimension(path, top=top, edges=edges, values=values, label=label))
        return tuple(dims)

    def edges(self, value: TomlValue, key: str) -> tuple[float, ...]:
        if not isinstance(value, list) or not value:
            raise self.error(key, f"expected a non-empty list of numbers in increasing order, got {_kind(value)}")
        for item in value:
            if isinstance(item, bool) or not isinstance(item, (int, float)) or not _finite(item):
                raise self.error(key, f"expected finite numbers in increasing order, got {item!r}")
        if any(b <= a for a, b in zip(value, value[1:], strict=False)):
            raise self.error(key, f"expected numbers in strictly increasing order, got {value}")
        return tuple(float(v) for v in value)

    def targets(self, value: TomlValue) -> Targets:
        table = self.table(value, "targets")
        self.check_keys(table, TARGET_KEYS, "targets")
        default = self.integer(table.get("default", DEFAULT_TARGET), "targets.default")
        overrides_raw = table.get("overrides", {})
        if not isinstance(overrides_raw, Mapping):
            raise self.error(
                "targets.overrides", f"expected a table of stratum key = target, got {_kind(overrides_raw)}"
            )
        overrides = []
        for key, target in overrides_raw.items():
            if not key.strip():
                raise self.error("targets.overrides", "expected non-empty stratum keys")
            overrides.append((key, self.integer(target, f"targets.overrides.{key}")))
        floor = None
        if "floor" in table:
            floor = self.integer(table["floor"], "targets.floor")
        per = table.get("per", Period.WINDOW.value)
        if per not in {p.value for p in Period}:
            raise self.error("targets.per", f"expected \"window\" or \"day\", got {_kind(per)}")
        return Targets(default=default, overrides=tuple(overrides), floor=floor, per=Period(per))

    def failure(self, value: TomlValue) -> tuple[float, tuple[Signal, ...]]:
        table = self.table(value, "failure")
        self.check_keys(table, FAILURE_KEYS, "failure")
        multiplier = table.get("multiplier", 1.0)
        if isinstance(multiplier, bool) or not isinstance(multiplier, (int, float)) or not _finite(multiplier):
            raise self.error("failure.multiplier", f"expected a number >= 1, got {_kind(multiplier)}")
        if multiplier < 1:
            raise self.error("failure.multiplier", f"expected a number >= 1, got {multiplier}")
        signals = tuple(
            Signal(name, self.condition(entry, where))
            for where, entry, name in self.named_tables(table.get("signals", []), "failure.signals", SIGNAL_KEYS, "signal")
        )
        return float(multiplier), signals

    def named_tables(
        self, value: TomlValue, key: str, allowed: Sequence[str], kind: str
    ) -> Iterator[tuple[str, TomlTable, str]]:
        """(key path, table, name) of each `[[key]]` table, checked: known keys, a unique name."""
        names: set[str] = set()
        for where, entry in self.tables(value, key, allowed):
            name = self.string(entry.get("name"), f"{where}.name")
            if name in names:
                raise self.error(f"{where}.name", f"{kind} '{name}' is defined twice")
            names.add(name)
            yield where, entry, name

    def boosts(self, value: TomlValue) -> tuple[Boost, ...]:
        boosts = []
        for where, entry, name in self.named_tables(value, "boost", BOOST_KEYS, "boost"):
            if "collect" not in entry:
                raise self.error(where, "missing 'collect' (how many traces to gather before the boost ends)")
            collect = self.integer(entry["collect"], f"{where}.collect", minimum=1)
            boosts.append(Boost(name, self.condition(entry, where), collect))
        return tuple(boosts)

    def condition(self, entry: TomlTable, where: str) -> Condition:
        path = self.required_path(entry, where, "a dotted path like 'status'")
        ops = [k for k in entry if k in OPERATORS]
        if len(ops) != 1:
            got = ", ".join(ops) if ops else "none"
            raise self.error(where, f"expected exactly one operator of {', '.join(OPERATORS)} (got {got})")
        op = Operator(ops[0])
        operand = entry[op.value]
        key = f"{where}.{op.value}"
        if op in (Operator.LT, Operator.LE, Operator.GT, Operator.GE):
            if isinstance(operand, bool) or not isinstance(operand, (int, float)):
                raise self.error(key, f"expected a number, got {_kind(operand)}")
            if isinstance(operand, float) and not math.isfinite(operand) or isinstance(operand, int) and abs(operand) > 2**53:
                raise self.error(key, f"expected a finite number (a comparison with {operand!r} never fires)")
        elif op is Operator.EXISTS:
            if not isinstance(operand, bool):
                raise self.error(key, f"expected true or false, got {_kind(operand)}")
        elif op is Operator.IN:
            if not isinstance(operand, list) or not operand or any(isinstance(v, (list, dict)) for v in operand):
                raise self.error(key, "expected a non-empty list of strings, numbers or booleans")
            operand = tuple(operand)
        elif isinstance(operand, (list, dict)):
            raise self.error(key, f"expected a string, number or boolean, got {_kind(operand)}")
        return Condition(path, op, operand)


def _finite(value: float) -> bool:
    """A finite float, an integer a float can hold (a 400-digit integer is not)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _kind(value: TomlValue) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a table"
    return type(value).__name__


__all__ = [
    "load_policy",
    "parse_policy",
]
