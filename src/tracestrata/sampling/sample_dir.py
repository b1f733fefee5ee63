"""A standalone sample run: a source's window sampled into a directory.

`tracestrata sample` is this. It is stateless unless given a `BoostLedger` (`--state
FILE`: the job's state store, `tracestrata.job.sample_boosts`), so the same traces, policy
and seed always give the same sample; `sync` keeps its own boost counts in the same store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tracestrata.errors import InputError
from tracestrata.protocols import ColumnSource, TraceSource, Window
from tracestrata.sampling.field_check import closest, seen_paths
from tracestrata.sampling.manifest import write_sample_dir
from tracestrata.policy.model import Policy, WindowShare
from tracestrata.sampling.sample_result import SampleResult
from tracestrata.sampling.sources import Progress, bad_input, sample_source

class BoostLedger(Protocol):
    """Where boost counts persist across one-shot runs (`--state FILE`: the job's state store)."""

    def boost_before(self, run: str) -> dict[str, int]:
        """What every run but `run` collected per boost."""
        ...

    def record_boost(self, run: str, taken: Mapping[str, int]) -> None:
        """Replace what run `run` collected per boost (a rerun never counts twice)."""
        ...


@dataclass(frozen=True)
class SampleRun:
    """What `sample_to_dir` did: the sample, and the malformed lines it skipped (the first of them)."""

    result: SampleResult
    bad_lines: int
    first_bad: Exception | None


def sample_to_dir(
    source: TraceSource | ColumnSource,
    source_name: str,
    policy: Policy,
    window: Window | None,
    out: Path,
    *,
    boosts: BoostLedger | None = None,
    jobs: int | None = 1,
    progress: Progress | None = None,
) -> SampleRun:
    """Sample `window` of `source` and write `out/sample.jsonl` + `out/manifest.json`.

    Without `boosts` the run is stateless: every boost starts from zero. With it, boost
    counts persist there, keyed by source and window, so re-running a window neither counts
    twice nor changes its sample.
    """
    def draw(before: Mapping[str, int]) -> SampleResult:
        return sample_source(source, policy, window, boost_collected=before, jobs=jobs, progress=progress)

    return draw_to_dir(draw, source_name, policy, window, out, boosts=boosts, bad_input_of=lambda: bad_input(source))


def standalone_policy(policy: Policy, window: Window | None) -> Policy:
    """The policy of a run over one `window` with no traffic history: daily targets
    (`per = "day"`) take the window's duration over a day (whole input: the targets as they are)."""
    return policy.for_window(WindowShare(None, window.end - window.start)) if window is not None else policy


def check_proxies(result: SampleResult, policy: Policy) -> None:
    """A proxy no trace of a non-empty window has is a mistake in the policy (a wrong field path)."""
    if not result.population:
        return
    for path in policy.proxies:
        if not sum(c.proxy[path].n for c in result.cells if path in c.proxy):
            close = closest(path, seen_paths(s.record for s in result.selected))
            hint = f"closest field paths seen: {', '.join(close)}" if close else "check the field path"
            raise InputError(
                f"no trace of the {result.population} has a numeric or boolean value ({hint})",
                field=f"proxy {path}",
            )


def draw_to_dir(
    draw: Callable[[Mapping[str, int]], SampleResult],
    source_name: str,
    policy: Policy,
    window: Window | None,
    out: Path,
    *,
    boosts: BoostLedger | None = None,
    bad_input_of: Callable[[], tuple[int, Exception | None]] = lambda: (0, None),
) -> SampleRun:
    """`sample_to_dir` for any engine: `draw(boost counts collected before)` gives the sample.

    The boost counts, run key and sample dir are handled here once, for every path.
    Boost counts are read from and written to `boosts` only when given.
    """
    ledger = boosts if policy.boosts else None
    run_key = f"{source_name}|{window.key if window else '-'}"
    before = ledger.boost_before(run_key) if ledger is not None else {}
    result = draw(before)
    check_proxies(result, policy)
    bad, first_bad = bad_input_of()
    try:
        write_sample_dir(out, result, policy=policy, source=source_name, window=window, counts={"bad_lines": bad})
        if ledger is not None:
            taken = {name: result.boost_collected.get(name, 0) - before.get(name, 0) for name in result.boost_collected}
            ledger.record_boost(run_key, taken)
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", path=str(exc.filename or out)) from None
    return SampleRun(result, bad, first_bad)


__all__ = [
    "BoostLedger",
    "SampleRun",
    "draw_to_dir",
    "sample_to_dir",
    "standalone_policy",
]
