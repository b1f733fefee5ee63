"""A fixed synthetic population with a known truth, and draws from the sampling design.

The population is the lead's `tracestrata.synthetic` traffic (intents as strata, the
compliance slice at 0.5% of volume, failures at a few percent and judged much worse)
with the simulated judge's `correct` and `quality` on every trace, so the truth is the
plain population mean. `draw` reproduces the design of docs/design.md (cells =
stratum x failure, the multiplier allocation with largest-remainder rounding and at
least min(N_c, 2) per cell, SRSWOR inside each cell) with a numpy generator, so
hundreds of replications take seconds; `test_real_sampler.py` checks the real
sampler draws the same design.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from tracestrata.design import Cell, CellKind, Design, Unit, cell_id
from tracestrata.synthetic import generate_traces, is_failure, judge


@dataclass(frozen=True)
class Population:
    ids: np.ndarray  # str
    stratum: np.ndarray  # str
    failure: np.ndarray  # bool
    correct: np.ndarray  # 0/1 float
    quality: np.ndarray  # float
    release: np.ndarray  # str

    def truth(self, metric: str) -> float:
        return float(getattr(self, metric).mean())

    def stratum_truth(self, metric: str, stratum: str) -> float:
        return float(getattr(self, metric)[self.stratum == stratum].mean())


def make_population(n: int = 40_000, seed: int = 7) -> Population:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    records = list(generate_traces(n, start=start, end=datetime(2026, 1, 2, tzinfo=UTC), seed=seed))
    verdicts = [judge(r) for r in records]
    return Population(
        ids=np.array([r.id for r in records]),
        stratum=np.array([str(r.metadata["intent"]) for r in records]),
        failure=np.array([is_failure(r) for r in records]),
        correct=np.array([float(v["correct"]) for v in verdicts]),
        quality=np.array([float(v["quality"]) for v in verdicts]),
        release=np.array([r.release for r in records]),
    )


def split_target(n_fail: int, n_norm: int, target: int, multiplier: float) -> tuple[int, int]:
    """(k_failure, k_normal) for one stratum, as docs/design.md "Allocation" says."""
    total = n_fail + n_norm
    if total <= target:
        return n_fail, n_norm
    p = target / (n_norm + multiplier * n_fail)
    if multiplier * p >= 1.0:
        p = (target - n_fail) / n_norm if n_norm else 0.0
        real = (float(n_fail), n_norm * p)
    else:
        real = (n_fail * multiplier * p, n_norm * p)
    k = [math.floor(x) for x in real]
    order = sorted(range(2), key=lambda i: real[i] - k[i], reverse=True)
    for i in order[: target - sum(k)]:
        k[i] += 1
    sizes = (n_fail, n_norm)
    for i in range(2):  # every non-empty cell gets at least min(N_c, 2)
        need = min(sizes[i], 2) - k[i]
        if need > 0:
            k[i] += need
            k[1 - i] -= need
    return k[0], k[1]


@dataclass(frozen=True)
class CellPlan:
    id: str
    stratum: str
    kind: CellKind
    members: np.ndarray  # population indices
    k: int


def plan_cells(pop: Population, target: int | Mapping[str, int], multiplier: float = 4.0) -> list[CellPlan]:
    """The cells of every stratum and their sample sizes, for one target or one per stratum."""
    plans = []
    for stratum in sorted(set(pop.stratum.tolist())):
        in_s = pop.stratum == stratum
        fail = np.flatnonzero(in_s & pop.failure)
        norm = np.flatnonzero(in_s & ~pop.failure)
        wanted = target if isinstance(target, int) else target[stratum]
        k_f, k_n = split_target(len(fail), len(norm), wanted, multiplier)
        for kind, members, k in ((CellKind.FAILURE, fail, k_f), (CellKind.NORMAL, norm, k_n)):
            if len(members):
                plans.append(CellPlan(cell_id(stratum, kind), stratum, kind, members, k))
    return plans


@dataclass(frozen=True)
class Draw:
    design: Design
    sampled: np.ndarray  # population indices of every sampled trace
    scored: np.ndarray  # population indices of the scored ones


def draw(pop: Population, plans: list[CellPlan], rng: np.random.Generator, unscored: float = 0.1) -> Draw:
    """One SRSWOR per cell; each sampled trace then goes unjudged with probability `unscored`."""
    cells, units, picked = [], [], []
    for plan in plans:
        chosen = rng.choice(plan.members, size=plan.k, replace=False)
        cells.append(Cell(plan.id, plan.stratum, {"metadata.intent": plan.stratum}, plan.kind,
                          len(plan.members), plan.k))
        units.extend(Unit(str(pop.ids[i]), plan.id, {"release": str(pop.release[i])}) for i in chosen)
        picked.append(chosen)
    sampled = np.concatenate(picked)
    scored = sampled[rng.random(len(sampled)) >= unscored]
    return Draw(Design(tuple(cells), tuple(units)), sampled, scored)
