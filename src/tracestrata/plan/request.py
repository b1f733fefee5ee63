"""What `plan` is asked, and what it answers: the typed request and result of `plan.run.plan`.

A plan has three modes, each a named thing with its own inputs:

- `source`: count a trace source (`--source` with `--policy`) and size its strata;
- `config`: count a sync job's backend and window (`--config`): pushed down to the
  backend's counters when the policy allows it, else its metadata pulled;
- `ledger`: size strata from the spreads measured in a sync ledger's judged windows
  (`--ledger`, or `--config` with `--metric`: the job's own ledger).

When no mode is named it is inferred as the command line always has been: `--ledger`
(or `--config` with `--metric`) is a ledger plan, `--config` a config plan, else a source plan.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

from tracestrata.plan.allocation import AllocationMethod, Plan
from tracestrata.plan.residual import ReviewPlan, SpreadPlan
from tracestrata.protocols import Window
from tracestrata.sampling.counts import StratumCounts
from tracestrata.policy.model import Policy
from tracestrata.sampling.sources import Progress


class PlanMode(str, Enum):
    """Where a plan's populations and rates come from (see the module docstring)."""

    SOURCE = "source"
    CONFIG = "config"
    LEDGER = "ledger"


def infer_mode(*, ledger: str | None, config: str | None, metric: str | None) -> PlanMode:
    """The mode a command line without `--mode` has always meant."""
    if ledger is not None or (config is not None and metric):
        return PlanMode.LEDGER
    return PlanMode.CONFIG if config is not None else PlanMode.SOURCE


@dataclass(frozen=True, slots=True)
class PlanRequest:
    """One plan to make. `source`/`policy`, `config` or `ledger` name the input of `mode`;
    the rest is the goal (method, precision, budget, floor) and how to read the input."""

    mode: PlanMode
    source: str | None = None  # KIND:LOCATION (source mode)
    policy: str | None = None  # a policy TOML file (source mode)
    config: str | None = None  # a sync config (config mode; ledger mode: its state file)
    ledger: str | None = None  # a sync state file (ledger mode)
    metric: str | None = None  # the score a ledger plan is for
    proxy: str | None = None  # ledger mode: a [[proxy]] field, or score:NAME
    window: Window | None = None  # source/config mode; None: all (source) or the last closed window (config)
    period: timedelta | None = None  # ledger mode: only windows ending in the last `period`
    until_given: bool = False  # `--until` was given (it bounds a counted window, not a ledger's)
    rate: float | None = None
    rate_field: str | None = None
    method: AllocationMethod = AllocationMethod.WILSON
    half_width: float = 0.05
    confidence: float = 0.95
    budget: int | None = None
    floor: int | None = None  # None: the policy's, else `DEFAULT_FLOOR`
    fpc: bool = True
    design_effect: bool = True
    skip_bad: bool = False
    jobs: int | None = 1  # processes reading a source that can be split (None: one per CPU)
    source_options: Mapping[str, object] | None = None  # an export's `schema` and `columns`

    def problem(self) -> str | None:
        """What contradicts this request's mode, in one line; None when it holds together."""
        if self.mode is PlanMode.LEDGER:
            return self._ledger_problem()
        if self.metric or self.proxy:
            return "--metric and --proxy go with --ledger (--mode ledger)"
        if self.rate is not None and self.rate_field is not None:
            return "use either --rate or --rate-field, not both"
        if self.mode is PlanMode.CONFIG:
            if self.ledger is not None:
                return "--ledger goes with --mode ledger (--mode config counts the backend of --config)"
            if self.source is not None or self.policy is not None:
                return "use either --config or --source/--policy, not both"
            if self.config is None:
                return "--mode config needs --config"
            return "--skip-bad, --schema and --column go with --mode source" if self._reads_a_source() else None
        if self.config is not None or self.ledger is not None:
            return "--mode source counts --source with --policy: --config and --ledger go with --mode config or ledger"
        return None if self.source and self.policy else "give --source and --policy, or --config"

    def _ledger_problem(self) -> str | None:
        if self.source is not None or self.policy is not None or (self.ledger is not None and self.config is not None):
            return "use either --ledger or --source/--policy/--config, not both"
        if self.ledger is None and self.config is None:
            return "--mode ledger needs --ledger (or --config: its sync job's state file)"
        if not self.metric:
            return "a ledger plan (--ledger, or --mode ledger --config) needs --metric: the score it is for"
        reviews = (self.proxy or "").startswith("score:")  # a review plan: no budget to split, no fpc to drop
        counted = {"--rate": self.rate is not None, "--rate-field": self.rate_field is not None,
                   "--until": self.until_given, "--method neyman": self.method is not AllocationMethod.WILSON,
                   "--no-design-effect": not self.design_effect,
                   "--budget (with --proxy score:NAME)": reviews and self.budget is not None,
                   "--no-fpc (with --proxy score:NAME)": reviews and not self.fpc}
        extra = [name for name, on in counted.items() if on]
        if self._reads_a_source():
            extra.append("--skip-bad/--schema/--column")
        if extra:
            return f"{', '.join(extra)}: not in a ledger plan (--mode ledger sizes strata from its judged windows' spreads)"
        return None

    def _reads_a_source(self) -> bool:
        return self.skip_bad or bool(self.source_options)


ProgressBar = Callable[[object], AbstractContextManager[Progress | None]]


def _quiet(text: str) -> None:
    del text


@dataclass(frozen=True, slots=True)
class PlanHooks:
    """What a plan says while it works: `say` its progress (counting route, retries), `warn`
    what the user should know at once (repeated ids), and `progress` a bytes bar around reading a source."""

    say: Callable[[str], None] = _quiet
    warn: Callable[[str], None] = _quiet
    progress: ProgressBar | None = None


@dataclass(frozen=True, slots=True)
class PlanResult:
    """A plan and what to say about it. `plan` is None when the window held no traces
    (not an error: nothing to plan); `warnings` and `notes` come before the plan, `judge_calls` after."""

    mode: PlanMode
    plan: Plan | SpreadPlan | ReviewPlan | None
    source_name: str
    policy: Policy | None = None
    counts: tuple[StratumCounts, ...] = ()
    pooled: tuple[str, ...] = ()  # ledger mode: strata that took the pooled spread
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    judge_calls: str | None = None  # config mode with a `[judge]`: calls (and cost) per window and day


__all__ = ["PlanHooks", "PlanMode", "PlanRequest", "PlanResult", "ProgressBar", "infer_mode"]
