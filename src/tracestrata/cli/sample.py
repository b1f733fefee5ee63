"""`tracestrata sample`: pick the traces to judge from a trace JSONL source and write a sample dir."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import orjson

from tracestrata.cli.options import (
    ALL_TIME,
    export_options,
    jobs_option,
    parse_jobs,
    parse_window,
    source_parts,
    split_source,
)
from tracestrata.errors import InputError, StateError
from tracestrata.io.atomic import atomic_write_bytes
from tracestrata.protocols import Window
from tracestrata.sampling.manifest import write_sample_dir
from tracestrata.sampling.policy import Policy, load_policy
from tracestrata.sampling.samplers import (
    SampleResult,
    sample_column_batches,
    sample_records,
)

STATE_NAME = "tracestrata-boost.json"
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
    atomic_write_bytes(path, orjson.dumps(payload, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")


def open_source(
    spec: str, skip_bad: bool, *, schema: str | None = None, columns: tuple[str, ...] = ()
) -> tuple[Any, str]:
    """The trace source of `jsonl:PATH` (the files connector) or `parquet:`/`duckdb:PATH_OR_GLOB`
    (export files read through DuckDB, with an export `schema` and `--column` mappings)."""
    kind, location = split_source(spec)
    if kind in ("parquet", "duckdb"):
        from tracestrata.connectors.duckdb import open_export, parse_columns

        options: dict[str, Any] = {"path": location, "schema": schema, "columns": parse_columns(columns)}
        if kind == "parquet":
            options["format"] = "parquet"
        export = open_export(options)
        export.skip_bad = skip_bad
        return export, export.name
    if schema or columns:
        raise click.UsageError("--schema and --column apply to parquet: and duckdb: sources")
    if kind not in ("jsonl", "files"):
        raise click.BadParameter(
            f"expected jsonl:PATH, parquet:PATH_OR_GLOB or duckdb:PATH_OR_GLOB, got {kind!r}; "
            "backends are sampled by `tracestrata sync`",
            param_hint="--source",
        )
    from tracestrata.connectors.files import create

    connector = create({"path": location})
    source = connector.trace_source()
    if hasattr(source, "skip_bad"):
        source.skip_bad = skip_bad
    return source, f"jsonl:{location}"


def run_sample(
    source: Any,
    policy: Policy,
    window: Window | None,
    boost_collected: Mapping[str, int],
    *,
    progress: bool,
    jobs: int | None = 1,
) -> SampleResult:
    """Fast path when the source offers column batches, else the record path.

    `jobs` processes read parts of a source that can be split (None: one per CPU);
    the sample is the same for any number (see `tracestrata.sampling.parallel`).
    """
    if not hasattr(source, "iter_column_batches"):
        records = source.iter_traces(window or ALL_TIME, metadata_keys=policy.metadata_keys())
        return sample_records(records, policy, boost_collected=boost_collected)
    parts, processes = source_parts(source, jobs)
    bar = _bar(source, "sampling" if processes < 2 else f"sampling ({processes} processes)") if progress else None
    try:
        if processes > 1:
            from tracestrata.sampling.parallel import sample_parts

            return sample_parts(
                source,
                policy,
                window,
                parts,
                jobs=processes,
                boost_collected=boost_collected,
                progress=bar.update if bar is not None else None,
            )
        result = sample_column_batches(
            source.iter_column_batches(window, policy.fields()),
            policy,
            boost_collected=boost_collected,
            progress=(lambda batch: bar.update(batch.bytes_read)) if bar is not None else None,
        )
        if hasattr(source, "complete_records"):  # an engine source reads the selected records at the end
            result = source.complete_records(result, window)
        return result
    finally:
        if bar is not None:
            bar.close()


def _bar(source: Any, desc: str) -> Any:
    """A bytes progress bar on stderr, cleared when done."""
    from tqdm import tqdm

    tqdm.monitor_interval = 0  # no monitor thread: worker processes may be forked from this one
    total = source.total_bytes() if hasattr(source, "total_bytes") else None
    return tqdm(total=total, unit="B", unit_scale=True, desc=desc, file=sys.stderr, leave=False)


@click.command("sample")
@click.option(
    "--source",
    "source_spec",
    required=True,
    metavar="jsonl:PATH",
    help="Trace JSONL (a file, or a folder of *.jsonl files), or export files read through DuckDB: "
    "parquet:PATH_OR_GLOB, duckdb:PATH_OR_GLOB (Parquet, JSONL, CSV; local or s3://, gs://, az://).",
)
@export_options
@click.option(
    "--policy",
    "policy_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The sampling policy (TOML; see docs/policy.md).",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Sample directory to write (sample.jsonl + manifest.json).",
)
@click.option("--since", help="Only traces at or after this time (ISO 8601; naive means UTC).")
@click.option("--until", help="Only traces before this time (ISO 8601; naive means UTC).")
@click.option("--skip-bad", is_flag=True, help="Skip and count malformed lines instead of stopping at the first.")
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"Boost counts file kept across runs. Default: {STATE_NAME} next to --out.",
)
@jobs_option("Any number gives the same sample.")
def command(
    source_spec: str,
    policy_path: Path,
    out: Path,
    since: str | None,
    until: str | None,
    skip_bad: bool,
    state_path: Path | None,
    jobs: str,
    schema: str | None,
    columns: tuple[str, ...],
) -> None:
    """Pick the traces to judge: stratified, failures oversampled, boosts at 100%.

    Writes OUT/sample.jsonl (each selected trace with its stratum, cell, failure
    signals, inclusion probability and weight) and OUT/manifest.json (the design:
    every cell's population and sample size). The same input and policy seed
    always give the same sample. Boost counts persist in the state file, keyed by
    source and window, so re-running a window does not count it twice.

    An empty window is not an error: it writes an empty sample (no cells) and
    exits 0. Malformed lines stop the run with file:line (exit 2) unless
    --skip-bad is given.

    \b
    Example:
      tracestrata generate --traces 100000 --out traces.jsonl
      tracestrata sample --source jsonl:traces.jsonl \\
          --policy examples/policies/basic.toml --out run/
      tracestrata sample --source jsonl:logs/ --policy policy.toml --out run-0601/ \\
          --since 2026-06-01 --until 2026-06-02 --skip-bad
      tracestrata sample --source 'parquet:exports/traces/*.parquet' --schema langfuse \\
          --policy policy.toml --out run/
    """
    workers = parse_jobs(jobs)
    policy = load_policy(policy_path)
    window = parse_window(since, until)
    source, source_name = open_source(source_spec, skip_bad, schema=schema, columns=columns)
    state_file = state_path or out.resolve().parent / STATE_NAME
    state = load_boost_state(state_file) if policy.boosts else BoostState({})
    run_key = f"{source_name}|{window.key if window else '-'}"
    before = state.collected_before(run_key)
    result = run_sample(source, policy, window, before, progress=sys.stderr.isatty(), jobs=workers)
    bad = int(getattr(source, "bad_lines", 0))
    try:
        write_sample_dir(out, result, policy=policy, source=source_name, window=window, counts={"bad_lines": bad})
        if policy.boosts:
            taken = {name: result.boost_collected.get(name, 0) - before.get(name, 0) for name in result.boost_collected}
            save_boost_state(state_file, state.with_run(run_key, taken))
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", path=str(exc.filename or out)) from None
    click.echo(_summary(result, out, bad, policy, getattr(source, "first_bad", None)))


def _summary(result: SampleResult, out: Path, bad: int, policy: Policy, first_bad: object = None) -> str:
    if not result.cells:
        text = f"no traces in the window: wrote an empty sample to {out}"
    else:
        strata = len({c.stratum for c in result.cells})
        text = (
            f"sampled {len(result.selected):,} of {result.population:,} traces "
            f"({strata} strata, {len(result.cells)} cells) -> {out}"
        )
    boosts = [f"{b.name} {result.boost_collected.get(b.name, 0)}/{b.collect}" for b in policy.boosts]
    if boosts:
        text += f"; boost {', '.join(boosts)}"
    if bad:
        text += f"; skipped {bad:,} bad lines"
        if first_bad is not None:
            text += f" (first: {first_bad})"
    return text
