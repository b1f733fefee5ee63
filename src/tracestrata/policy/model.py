"""The sampling policy as plain frozen data: `Policy`, its targets and its review draw.

Read from TOML by `tracestrata.policy.parse` (every key in `docs/policy.md`); the canonical
form (`Policy.to_json`) is what the policy digest hashes.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import Enum
from functools import cached_property

import orjson

from tracestrata.errors import ConfigError
from tracestrata.policy.evaluators import Evaluator
from tracestrata.policy.signals import Boost, Signal
from tracestrata.policy.strata import Dimension
from tracestrata.policy.weight_spec import WeightSpec


JsonValue = str | int | float | bool | None | list[object] | dict[str, object]  # the canonical form (digest)
REVIEW_SUFFIX = "review"
DEFAULT_TARGET = 200
DEFAULT_MAX_STRATA = 10_000  # memory grows with the strata (and raw values) a window holds


class Period(str, Enum):
    """What the targets are per: every window, or a day split over its windows by traffic."""

    WINDOW = "window"
    DAY = "day"


DAY = timedelta(days=1)
#: The least a window's stratum takes of a daily target: 2 draws for each of its failure
#: and non-failure cells (`allocate_stratum`'s floor), so no window leaves a cell unsampled
#: or without a variance.
WINDOW_FLOOR = 4


@dataclass(frozen=True, slots=True)
class WindowShare:
    """A window's share of a day's targets (`[targets] per = "day"`).

    `expected` traces in the day (from the traffic before the window): the share is the
    window's own traces over it. Without an estimate, `duration` / 1 day. Never above 1,
    so a window takes at most the daily target (and the sampler's bounds hold).
    """

    expected: float | None = None
    duration: timedelta = DAY

    def of(self, population: int) -> float:
        share = population / self.expected if self.expected else self.duration / DAY
        return min(1.0, share)


@dataclass(frozen=True, slots=True)
class Targets:
    """Traces to sample per stratum: `default`, or an override by exact key or `*` pattern.

    With `per = DAY` these are daily targets (and so is `review.target`), and a window with
    `window` (its share of the day) takes `ceil(target * share)` of them (`for_window`).
    """

    default: int = DEFAULT_TARGET
    overrides: tuple[tuple[str, int], ...] = ()
    floor: int | None = None
    per: Period = Period.WINDOW
    window: WindowShare | None = None  # set per window at run time; not part of the policy's digest

    def for_stratum(self, key: str) -> int:
        """Exact key first, then the first matching `*` pattern in file order, else `default`."""
        for pattern, target in self.overrides:
            if pattern == key:
                return target
        for pattern, target in self.overrides:
            if "*" in pattern and _glob(pattern).fullmatch(key):
                return target
        return self.default

    def for_window(self, key: str, population: int) -> int:
        """The target of stratum `key` in a window of `population` traces (never below
        `min(target, WINDOW_FLOOR)` under daily targets)."""
        target = self.for_stratum(key)
        return max(self.scaled(target, population), min(target, WINDOW_FLOOR))

    def scaled(self, target: int, population: int) -> int:
        """A per-period `target` (a stratum's, or the review's) for a window of `population` traces."""
        if self.per is Period.WINDOW or self.window is None:
            return target
        return math.ceil(target * self.window.of(population) - 1e-9)

    @property
    def max_target(self) -> int:
        return max([self.default, *(t for _, t in self.overrides)])

    def to_json(self) -> dict[str, JsonValue]:
        out: dict[str, JsonValue] = {"default": self.default, "overrides": dict(self.overrides)}
        if self.floor is not None:
            out["floor"] = self.floor
        if self.per is not Period.WINDOW:  # absent by default: older digests stay the same
            out["per"] = self.per.value
        return out


def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


@dataclass(frozen=True, slots=True)
class Review:
    """A human-review subsample drawn inside the sample: `target` traces per stratum.

    Its second hash key is the policy seed joined with `seed_suffix`, so the review
    subsample is independent of the sample's hash order and reproducible.
    """

    target: int
    seed_suffix: str = REVIEW_SUFFIX

    def key_seed(self, seed: str) -> str:
        return f"{seed}#{self.seed_suffix}"

    def to_json(self) -> dict[str, JsonValue]:
        return {"target": self.target, "seed_suffix": self.seed_suffix}


@dataclass(frozen=True)
class Policy:
    seed: str
    strata: tuple[Dimension, ...] = ()
    targets: Targets = field(default_factory=Targets)
    multiplier: float = 1.0
    signals: tuple[Signal, ...] = ()
    boosts: tuple[Boost, ...] = ()
    description: str | None = None
    source: str | None = None
    max_strata: int = DEFAULT_MAX_STRATA
    proxies: tuple[str, ...] = ()  # `[[proxy]] field = ...`: totals per cell over every trace
    review: Review | None = None
    evaluators: tuple[Evaluator, ...] = ()  # `[[evaluator]]`: not part of the digest (they draw nothing)
    weight: WeightSpec | None = None  # `[sampling] weight`: priority sampling inside cells (`sampling.weights`)

    def to_json(self) -> dict[str, JsonValue]:
        """The canonical parsed form (what `digest` hashes; `source` and `evaluators` are not part of it)."""
        out: dict[str, JsonValue] = {
            "seed": self.seed,
            "strata": [d.to_json() for d in self.strata],
            "targets": self.targets.to_json(),
            "failure": {"multiplier": self.multiplier, "signals": [s.to_json() for s in self.signals]},
            "boost": [b.to_json() for b in self.boosts],
        }
        if self.description is not None:
            out["description"] = self.description
        if self.max_strata != DEFAULT_MAX_STRATA:  # absent by default: older digests stay the same
            out["max_strata"] = self.max_strata
        if self.proxies:  # only when set, so the digest of a policy without them is unchanged
            out["proxy"] = [{"field": f} for f in self.proxies]
        if self.review is not None:
            out["review"] = self.review.to_json()
        if self.weight is not None:  # only when set: the digest of an unweighted policy is unchanged
            out["sampling"] = self.weight.to_json()
        return out

    @cached_property
    def digest(self) -> str:
        canonical = orjson.dumps(self.to_json(), option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(canonical).hexdigest()

    def for_window(self, share: WindowShare) -> Policy:
        """This policy with daily targets split for one window (unchanged unless `per = "day"`)."""
        if self.targets.per is Period.WINDOW:
            return self
        return replace(self, targets=replace(self.targets, window=share))

    def evaluator(self, name: str) -> Evaluator:
        """The `[[evaluator]]` named `name`; a `ConfigError` listing the declared ones otherwise."""
        for evaluator in self.evaluators:
            if evaluator.name == name:
                return evaluator
        declared = ", ".join(e.name for e in self.evaluators) or "none"
        raise ConfigError(
            f"no [[evaluator]] named {name!r} (declared: {declared})", path=self.source, field="evaluator"
        )

    @property
    def dimensions(self) -> tuple[str, ...]:
        return tuple(d.field for d in self.strata)

    def metadata_keys(self) -> tuple[str, ...]:
        """Top-level metadata keys the policy reads (sorted), for backends that omit metadata unless asked."""
        paths = [d.field for d in self.strata]
        paths += [s.condition.field for s in self.signals]
        paths += [b.condition.field for b in self.boosts]
        paths += list(self.proxies)
        paths += [self.weight.field] if self.weight is not None else []
        return tuple(sorted({p.split(".")[1] for p in paths if p.startswith("metadata.")}))

    def fields(self) -> tuple[str, ...]:
        """Every field path the policy reads, in first-use order."""
        paths = [d.field for d in self.strata] + [s.condition.field for s in self.signals]
        paths += [b.condition.field for b in self.boosts]
        paths += list(self.proxies)
        paths += [self.weight.field] if self.weight is not None else []
        return tuple(dict.fromkeys(paths))
