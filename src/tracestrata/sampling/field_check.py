"""Policy field paths a window does not have: a typo in a path is warned about, never silent.

A strata or proxy field missing on more than `MISSING_SHARE` of a window's traces, or a
signal or boost field that no trace of the window has, is almost always a typo
(`metadata.intnet`). The counts come from what sampling or counting already keeps
(stratum labels, proxy totals, and `FieldPresence`, which stops watching a field at its
first value), so finding a gap costs no extra pass. Each warning names the closest field
paths seen on the window's sampled (or first) traces.

A signal or boost field is flagged only when no trace has it: a field set on failing
traces only (`error`) is missing on most traces by design.
"""

from __future__ import annotations

import difflib
import math
import operator
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from itertools import repeat
from typing import Protocol

import numpy as np

from tracestrata.design import MISSING, Cell
from tracestrata.record import TraceRecord
from tracestrata.columns import Column, DictColumn, StringColumn
from tracestrata.policy.model import Policy
from tracestrata.sampling.sample_result import SampledTrace
from tracestrata.policy.strata import SCALAR_FIELDS, Getter, record_getter
from tracestrata.sampling.weights import floor_warning

MISSING_SHARE = 0.99  # a strata or proxy field missing on more than this share of a window is flagged
SEEN_LIMIT = 1000  # traces whose field paths are read for suggestions


class _Sampled(Protocol):  # a `SampleResult`
    @property
    def cells(self) -> Sequence[Cell]: ...
    @property
    def selected(self) -> Sequence[SampledTrace]: ...
    @property
    def absent(self) -> tuple[str, ...]: ...


class _Counted(Protocol):  # a `StratumCounts`
    @property
    def values(self) -> Mapping[str, str]: ...
    @property
    def population(self) -> int: ...


class FieldRole(str, Enum):
    STRATA = "strata"
    SIGNAL = "signal"
    BOOST = "boost"
    PROXY = "proxy"


@dataclass(frozen=True, slots=True)
class FieldGap:
    """`missing` of the window's `population` traces have no value for `path`."""

    path: str
    role: FieldRole
    missing: int
    population: int

    def message(self, seen: Collection[str]) -> str:
        """The warning; `seen` are the field paths some of the window's traces have (empty: unknown)."""
        if self.missing >= self.population:
            where = f"missing on every trace of the window ({self.population:,})"
        else:
            share = math.floor(1000 * self.missing / self.population) / 10
            where = f"missing on {share:g}% of the window's {self.population:,} traces"
        value = " (or not a number)" if self.role is FieldRole.PROXY else ""
        close = closest(self.path, seen)
        hint = f"; closest field paths seen: {', '.join(close)}" if close else ""
        if not close and seen:
            hint = "; no similar field path seen"
        return f"{self.role.value} field '{self.path}' is {where}{value}{hint}"


class FieldPresence:
    """Which of some field paths no row has had a value for yet.

    A field leaves the watch at its first value, so after the first batch there is
    usually nothing left to look at.
    """

    __slots__ = ("observed", "unseen")

    def __init__(self, paths: Iterable[str]) -> None:
        self.unseen: dict[str, None] = dict.fromkeys(paths)
        self.observed = False

    def observe(self, columns: Mapping[str, Column], n: int) -> None:
        if n == 0:
            return
        self.observed = True
        if self.unseen:
            for path in [p for p in self.unseen if has_value(columns[p])]:
                del self.unseen[path]

    def merge(self, other: FieldPresence) -> None:
        """The presence of the union of the two inputs (into `self`)."""
        if not other.observed:
            return
        self.unseen = dict.fromkeys(p for p in self.unseen if p in other.unseen) if self.observed else dict(other.unseen)
        self.observed = True

    @property
    def absent(self) -> tuple[str, ...]:
        """The watched paths no row had (nothing before any row was seen)."""
        return tuple(self.unseen) if self.observed else ()


class FieldWatch:
    """What a counting pass learns for `count_gaps`: which signal fields no trace had
    (`start` names the policy, the pass calls `presence.observe` or reads through
    `records`), and the paths the first `SEEN_LIMIT` records read through `records` have."""

    def __init__(self) -> None:
        self.presence = FieldPresence(())
        self.seen: set[str] = set()
        self._getters: dict[str, Getter[TraceRecord]] = {}
        self._read = 0

    def start(self, policy: Policy) -> None:
        """Watch the signal fields of `policy` (what counting reads besides the strata)."""
        self.presence = FieldPresence(watched_fields(policy, boosts=False))
        self._getters = {path: record_getter(path) for path in self.presence.unseen}

    def records(self, records: Iterable[TraceRecord]) -> Iterator[TraceRecord]:
        """`records`, unchanged, watched on the way."""
        presence, getters = self.presence, self._getters
        for record in records:
            if self._read < SEEN_LIMIT:
                self.seen |= seen_paths((record,))
                self._read += 1
            presence.observe({path: [getters[path](record)] for path in presence.unseen}, 1)
            yield record


def watched_fields(policy: Policy, *, boosts: bool = True) -> tuple[str, ...]:
    """The signal (and boost) fields `FieldPresence` watches: strata and proxies are counted anyway."""
    counted = {*policy.dimensions, *policy.proxies}
    paths = [s.condition.field for s in policy.signals]
    if boosts:
        paths += [b.condition.field for b in policy.boosts]
    return tuple(p for p in dict.fromkeys(paths) if p not in counted)


def has_value(column: Column) -> bool:
    """Whether any row of a column (a list, numpy array, `StringColumn` or `DictColumn`) is not missing."""
    if isinstance(column, DictColumn):  # missing: code -1, or a code whose value is None (a null, encoded)
        present = np.array([v is not None for v in column.values] + [False])
        return bool(len(column)) and bool(present[column.codes].any())
    if isinstance(column, StringColumn):
        return bool(len(column)) and (column.valid is None or bool(column.valid.any()))
    if isinstance(column, np.ndarray):
        if column.dtype.kind == "f":
            return not bool(np.isnan(column).all())
        if column.dtype.kind != "O":
            return bool(len(column))
        column = column.tolist()
    if isinstance(column, list):  # in C: a present value near the top, else count the Nones
        return any(map(operator.is_not, column[:64], repeat(None))) or column.count(None) < len(column)
    return any(v is not None for v in column)


def sample_gaps(result: _Sampled, policy: Policy) -> list[FieldGap]:
    """The gaps of a sampled window, from its cells and `result.absent`."""
    population = sum(c.population for c in result.cells)
    missing = {d: sum(c.population for c in result.cells if c.values.get(d) == MISSING) for d in policy.dimensions}
    for path in policy.proxies:
        missing.setdefault(path, population - sum(c.proxy[path].n for c in result.cells if path in c.proxy))
    return _gaps(policy, population, missing, result.absent)


def count_gaps(counts: Sequence[_Counted], policy: Policy, absent: Sequence[str] = ()) -> list[FieldGap]:
    """The gaps of a counted window (strata and signals: what `plan` reads)."""
    population = sum(c.population for c in counts)
    missing = {d: sum(c.population for c in counts if c.values.get(d) == MISSING) for d in policy.dimensions}
    return _gaps(policy, population, missing, absent)


def _gaps(policy: Policy, population: int, missing: Mapping[str, int], absent: Sequence[str]) -> list[FieldGap]:
    if population == 0:
        return []
    roles = {p: FieldRole.BOOST for p in (b.condition.field for b in policy.boosts)}
    roles.update({p: FieldRole.SIGNAL for p in (s.condition.field for s in policy.signals)})
    roles.update({p: FieldRole.PROXY for p in policy.proxies})
    roles.update({p: FieldRole.STRATA for p in policy.dimensions})
    gaps = [
        FieldGap(path, roles[path], n, population) for path, n in missing.items() if n > MISSING_SHARE * population
    ]
    gaps += [FieldGap(path, roles[path], population, population) for path in absent if path not in missing]
    return gaps


def seen_paths(records: Iterable[TraceRecord], limit: int = SEEN_LIMIT) -> set[str]:
    """The field paths with a value on the first `limit` records (mapping keys one level deep)."""
    seen: set[str] = set()
    for i, record in enumerate(records):
        if i >= limit:
            break
        for head, mapping in (("metadata", record.metadata), ("scores", record.scores)):
            for key, value in mapping.items():
                seen.add(f"{head}.{key}")
                if isinstance(value, Mapping):
                    seen.update(f"{head}.{key}.{sub}" for sub in value)
        seen.update(head for head in SCALAR_FIELDS if getattr(record, head, None) not in (None, "", [], ()))
    return seen


def closest(path: str, seen: Iterable[str], n: int = 3) -> list[str]:
    """Up to `n` seen paths most like `path`, best first.

    Paths are compared by what follows their head (`intnet` in `metadata.intnet`; difflib
    ratio >= 0.6), so the shared `metadata.` does not make every key look alike; a path
    under the same head wins a tie.
    """
    head, key = _split(path)
    scored = []
    for other in set(seen) - {path}:
        other_head, other_key = _split(other)
        matcher = difflib.SequenceMatcher(None, key, other_key)
        if matcher.real_quick_ratio() >= 0.6 and matcher.quick_ratio() >= 0.6 and (ratio := matcher.ratio()) >= 0.6:
            scored.append((-ratio, other_head != head, other))
    return [other for *_, other in sorted(scored)[:n]]


def _split(path: str) -> tuple[str, str]:
    """(head, the rest) of a dotted path; a path without a dot is all key."""
    head, dot, rest = path.partition(".")
    return (head, rest) if dot else ("", path)


def gap_warnings(gaps: Sequence[FieldGap], seen: Collection[str]) -> dict[str, str]:
    """The warning of each gap, by field path."""
    return {gap.path: gap.message(seen) for gap in gaps}


def sample_warnings(result: _Sampled, policy: Policy, *, skip: Collection[str] = ()) -> dict[str, str]:
    """`gap_warnings` of a sampled window (but the paths in `skip`), suggesting paths its sampled traces have."""
    gaps = [gap for gap in sample_gaps(result, policy) if gap.path not in skip]
    out = gap_warnings(gaps, seen_paths(s.record for s in result.selected)) if gaps else {}
    weight = policy.weight
    if weight is not None and weight.field not in skip and weight.field not in out:
        line = floor_warning(weight, [(s.cell, s.size) for s in result.selected])
        if line is not None:
            out[weight.field] = line
    return out


__all__ = [
    "MISSING_SHARE",
    "FieldGap",
    "FieldPresence",
    "FieldRole",
    "FieldWatch",
    "closest",
    "count_gaps",
    "gap_warnings",
    "has_value",
    "sample_gaps",
    "sample_warnings",
    "seen_paths",
    "watched_fields",
]
