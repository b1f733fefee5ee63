"""`tracestrata judge`: play an LLM judge on a sample (synthetic traffic only)."""

from __future__ import annotations

from pathlib import Path

import click
import orjson

from tracestrata.errors import InputError
from tracestrata.io.atomic import atomic_writer
from tracestrata.io.jsonl import iter_jsonl
from tracestrata.record import Score, TraceRecord
from tracestrata.synthetic import _uniforms, human_label, judge


@click.command("judge")
@click.option(
    "--sample",
    "sample_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    required=True,
    help="A sample directory written by `tracestrata sample`.",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Score JSONL to write.")
@click.option(
    "--coverage",
    type=click.FloatRange(0, 1),
    default=0.9,
    show_default=True,
    help="Share of sampled traces the judge gets to (the rest stay unscored, as in real life).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--humans",
    metavar="NAME",
    help="Also play the human reviewers: a score NAME (stricter than the judge on failures) on every judged "
    "trace the sample marks for review (a policy with [review]).",
)
def command(sample_dir: Path, out: Path, coverage: float, seed: int, humans: str | None) -> None:
    """Score a sample with the simulated judge and write `{"trace_id","name","value"}` lines.

    Only meaningful on traces from `tracestrata generate`: the verdict is a
    deterministic function of the trace, so the truth is known.

    \b
    Examples:
      tracestrata judge --sample run/ --out scores.jsonl
      tracestrata judge --sample run/ --out scores.jsonl --humans human_correct
    """
    if coverage != coverage:  # NaN passes every range check
        raise click.BadParameter("expected a share between 0 and 1, got nan", param_hint="--coverage")
    if humans is not None and not humans.strip():
        raise click.BadParameter("expected a score name, got an empty one", param_hint="--humans")
    sample_path = sample_dir / "sample.jsonl"
    if not sample_path.exists():
        raise InputError("no sample.jsonl here; run `tracestrata sample` first", path=str(sample_dir))
    written = reviewed = 0
    with atomic_writer(out) as handle:
        for number, data in iter_jsonl(sample_path):
            record = TraceRecord.from_json(data, path=str(sample_path), line=number)
            if _uniforms(record.id, seed + 7919)[1] >= coverage:
                continue
            for name, value in judge(record, seed=seed).items():
                handle.write(orjson.dumps(Score(record.id, name, value).to_json()) + b"\n")
            written += 1
            if humans and data.get("review") is True:
                label = human_label(record, seed=seed)
                handle.write(orjson.dumps(Score(record.id, humans, label).to_json()) + b"\n")
                reviewed += 1
    click.echo(f"judged {written} traces into {out}" + (f" ({reviewed} reviewed by humans)" if humans else ""),
               err=True)
