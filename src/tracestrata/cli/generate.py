"""`tracestrata generate`: a synthetic day of traces with a known truth."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import click
import orjson

from tracestrata.cli.options import parse_when
from tracestrata.io.atomic import atomic_write_bytes, atomic_writer
from tracestrata.synthetic import JUDGE_METRICS, default_day, generate_traces, judge


MAX_HOURS = 876_000  # a hundred years of traffic


@click.command("generate")
@click.option("--traces", "n", type=click.IntRange(min=0), default=10_000, show_default=True, help="How many traces.")
@click.option("--start", help="Window start (ISO 8601, UTC). Default: yesterday 00:00 UTC.")
@click.option("--hours", type=click.FloatRange(min=0, min_open=True), default=24.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same traces.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Trace JSONL to write.")
@click.option(
    "--truth",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the population truth of the simulated judge (JSON) here.",
)
@click.option(
    "--heuristic",
    is_flag=True,
    help="Give every trace scores.heuristic, a cheap proxy of the judge's `correct` (for [[proxy]] and report --proxy).",
)
def command(n: int, start: str | None, hours: float, seed: int, out: Path, truth: Path | None, heuristic: bool) -> None:
    """Write N synthetic traces (JSONL, one record per line) for trying tracestrata.

    The traffic has a compliance slice at 0.5% of volume, failures at a few
    percent that the simulated judge marks wrong far more often, and a `refund`
    cluster to boost. `tracestrata judge` plays the judge on a sample of it.

    \b
    Examples:
      tracestrata generate --traces 50000 --out traces.jsonl --truth truth.json
      tracestrata generate --traces 20000 --heuristic --out traces.jsonl
    """
    begin = parse_when(start, "--start") if start else default_day()[0]
    if not math.isfinite(hours) or hours > MAX_HOURS:
        raise click.BadParameter(f"expected a number of hours above 0 and at most {MAX_HOURS:,}, got {hours!r}", param_hint="--hours")
    try:
        end = begin + timedelta(hours=hours)
        end + timedelta(days=1)  # traces are stamped inside the window: it must end before year 9999
    except OverflowError:
        raise click.BadParameter("the window would end after year 9999: use an earlier --start or fewer --hours", param_hint="--start") from None
    sums = {"correct": 0.0, "quality": 0.0}
    verdicts: dict[str, int] = {}
    count = 0
    with atomic_writer(out) as handle:
        for record in generate_traces(n, start=begin, end=end, seed=seed, heuristic=heuristic):
            handle.write(orjson.dumps(record.to_json()) + b"\n")
            if truth is not None:
                verdict = judge(record)
                sums["correct"] += float(verdict["correct"])
                sums["quality"] += float(verdict["quality"])
                label = str(verdict["verdict"])
                verdicts[label] = verdicts.get(label, 0) + 1
                count += 1
    if truth is not None and count:
        payload = {
            "traces": count,
            "metrics": list(JUDGE_METRICS),
            "correct": sums["correct"] / count,
            "quality": sums["quality"] / count,
            "verdict": {label: c / count for label, c in sorted(verdicts.items())},
        }
        atomic_write_bytes(truth, orjson.dumps(payload, option=orjson.OPT_INDENT_2))
    click.echo(f"wrote {n} traces to {out}", err=True)
