"""A standalone sample run: a source's window sampled into a directory.

`tracestrata sample` is this. It is stateless unless given a boost state file
(`--state FILE`), so the same traces, policy and seed always give the same sample;
`sync` keeps boost counts in its state store instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import orjson

from tracestrata.errors import InputError, StateError
from tracestrata.io.atomic import atomic_write_bytes
from tracestrata.protocols import ColumnSource, TraceSource, Window
from tracestrata.sampling.field_check import closest, seen_paths
from tracestrata.sampling.manifest import write_sample_dir
from tracestrata.sampling.policy import Policy, WindowShare
from tracestrata.sampling.samplers import SampleResult
from tracestrata.sampling.sources import Progress, bad_input, sample_source

STATE_NAME = "tracestrata-boost.json"
"""The conventional name of a boost state file; a run uses one only when given one (`--state FILE`)."""
STATE_FORMAT = 1


@dataclass(frozen=True)
class BoostState:
    """Boost counts per run key; a run's own earlier entry is replaced, never added twice.

    So re-running the same window with the same source picks the same sample and
    leaves the counts unchanged.
    """

    runs: dict[str, dict[str, int]]

    def collected_before(self, run: str) -> dict[str, int]:
        totals: dict[str, int] = {}
        for key, counts in self.runs.items():
            if key == run:
                continue
            for name, n in counts.items():
                totals[name] = totals.get(name, 0) + n
        return totals

    def with_run(self, run: str, taken: Mapping[str, int]) -> BoostState:
        runs = dict(self.runs)
        runs[run] = {name: n for name, n in taken.items() if n}
        return BoostState(runs)


def load_boost_state(path: Path) -> BoostState:
    if not path.exists():
        return BoostState({})
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise StateError(f"unreadable boost state: {exc}", path=str(path)) from None
    if not isinstance(data, dict) or data.get("format") != STATE_FORMAT or not isinstance(data.get("runs"), dict):
        raise StateError(f"not a boost state file (expected format {STATE_FORMAT})", path=str(path))
    runs = {}
    for key, counts in data["runs"].items():
        if not isinstance(counts, dict) or not all(isinstance(v, int) and v >= 0 for v in counts.values()):
            raise StateError("expected counts of boost name -> integer", path=str(path), field=f"runs.{key}")
        runs[str(key)] = {str(k): int(v) for k, v in counts.items()}
    return BoostState(runs)


def save_boost_state(path: Path, state: BoostState) -> None:
    payload = {"format": STATE_FORMAT, "runs": state.runs}
    atomic_write_bytes(
        path, orjson.dumps(payload, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n", private=True
    )


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
    state_file: Path | None = None,
    jobs: int | None = 1,
    progress: Progress | None = None,
) -> SampleRun:
    """Sample `window` of `source` and write `out/sample.jsonl` + `out/manifest.json`.

    Without `state_file` the run is stateless: every boost starts from zero. With it, boost
    counts persist there, keyed by source and window, so re-running a window neither counts
    twice nor changes its sample.
    """
    def draw(before: Mapping[str, int]) -> SampleResult:
        return sample_source(source, policy, window, boost_collected=before, jobs=jobs, progress=progress)

    return draw_to_dir(draw, source_name, policy, window, out, state_file=state_file, bad_input_of=lambda: bad_input(source))


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
    state_file: Path | None = None,
    bad_input_of: Callable[[], tuple[int, Exception | None]] = lambda: (0, None),
) -> SampleRun:
    """`sample_to_dir` for any engine: `draw(boost counts collected before)` gives the sample.

    The boost state, run key and sample dir are handled here once, for every path.
    Boost counts are read from and written to `state_file` only when one is given.
    """
    state = load_boost_state(state_file) if state_file is not None and policy.boosts else BoostState({})
    run_key = f"{source_name}|{window.key if window else '-'}"
    before = state.collected_before(run_key)
    result = draw(before)
    check_proxies(result, policy)
    bad, first_bad = bad_input_of()
    try:
        write_sample_dir(out, result, policy=policy, source=source_name, window=window, counts={"bad_lines": bad})
        if state_file is not None and policy.boosts:
            taken = {name: result.boost_collected.get(name, 0) - before.get(name, 0) for name in result.boost_collected}
            save_boost_state(state_file, state.with_run(run_key, taken))
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", path=str(exc.filename or out)) from None
    return SampleRun(result, bad, first_bad)


__all__ = [
    "STATE_NAME",
    "BoostState",
    "SampleRun",
    "draw_to_dir",
    "load_boost_state",
    "sample_to_dir",
    "save_boost_state",
    "standalone_policy",
]
