"""`tracestrata spark-sample`: `tracestrata sample` on Spark, for trace exports no single machine holds.

Runs where Spark runs: `tracestrata spark-sample ...` starts a local Spark (or the one
`--master` names); under `spark-submit`, pass this file as the application (it runs the
command when executed as a script), so the cluster manager's master and conf apply.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tracestrata.cli.options import (
    out_option,
    parse_columns,
    policy_option,
    source_option,
    state_option,
    window_options,
)
from tracestrata.cli.sample import echo_run, note_old_boost_file
from tracestrata.job.sample_boosts import boost_store
from tracestrata.protocols import Window
from tracestrata.record import TEXT_FIELDS
from tracestrata.policy.parse import load_policy
from tracestrata.sampling.sample_dir import draw_to_dir, standalone_policy


@click.command("spark-sample")
@source_option(
    "FORMAT:PATH",
    "parquet:PATH, json:PATH (JSON lines), csv:PATH, orc:PATH or table:NAME; PATH may be a glob or s3a://, gs://, abfss://.",
)
@policy_option
@out_option("Sample directory to write on the driver (sample.jsonl + manifest.json).")
@window_options
@click.option(
    "--column",
    "column_pairs",
    multiple=True,
    metavar="PATH=EXPR",
    help="Read a field from a Spark SQL expression, e.g. id=trace_id or metadata.intent=meta['intent'] (repeatable).",
)
@state_option
@click.option("--master", help="Spark master URL. Default: spark-submit's, else local[N] with --cores.")
@click.option("--cores", type=click.IntRange(min=1), default=2, show_default=True, help="Cores of a local Spark.")
def command(
    source_spec: str,
    policy_path: Path,
    out: Path,
    window: Window | None,
    column_pairs: tuple[str, ...],
    state_path: Path | None,
    master: str | None,
    cores: int,
) -> None:
    """Draw `tracestrata sample`'s sample from a trace export, on Spark.

    Every partition sketches its rows and the sketches merge on the way to the
    driver, which writes OUT/sample.jsonl and OUT/manifest.json as `tracestrata
    sample` does: the same ids, inclusion probabilities and cells for the same
    policy, seed and traces, however the data is partitioned. Boost counts persist
    across runs only in a state store named with --state, keyed by source and window.

    \b
    Example:
      tracestrata spark-sample --source parquet:exports/traces/ \\
          --policy examples/policies/basic.toml --out run/ --column id=trace_id
    """
    from tracestrata.spark import sample_dataframe
    from tracestrata.spark.session import read_source, require_pyspark, start_spark

    require_pyspark()

    policy = standalone_policy(load_policy(policy_path), window)
    columns = parse_columns(column_pairs)
    spark = start_spark(master, cores)
    text = [expression.strip("`") for path, expression in columns.items() if path in ("id", *TEXT_FIELDS)]
    stamps = [expression.strip("`") for path, expression in columns.items() if path == "timestamp"]
    df, source_name = read_source(spark, source_spec, text, stamps)
    note_old_boost_file(out, state_path)
    with boost_store(state_path) as boosts:
        run = draw_to_dir(
            lambda before: sample_dataframe(df, policy, window, columns=columns, boost_collected=before, where=source_name),
            f"spark:{source_name}",
            policy,
            window,
            out,
            boosts=boosts,
        )
    echo_run(run.result, out, policy)


if __name__ == "__main__":  # `spark-submit .../tracestrata/cli/spark_sample.py --source ...`
    from tracestrata.cli.main import main

    sys.exit(main(["spark-sample", *sys.argv[1:]]))
