"""`tracestrata demo`: the main job end to end on a local Phoenix.

The work lives in the demo package (`tracestrata.demo.run`),
loaded by name so the core never imports a backend SDK.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import click

from tracestrata.errors import ConfigError


@click.command("demo")
@click.option("--traces", "n", type=click.IntRange(min=50), default=2500, show_default=True, help="Synthetic traces to seed (one day).")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), help="Where the server, state, config and reports go. Default: ./.tracestrata/demo")
@click.option("--keep", is_flag=True, help="Leave the Phoenix server running at the end (to browse the UI).")
@click.option("--target", type=click.IntRange(min=2), default=40, show_default=True, help="Traces sampled per stratum.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the synthetic day (its trace ids, traffic and judge).")
def command(n: int, workdir: Path | None, keep: bool, target: int, seed: int) -> None:
    """Run the main job end to end on a local Phoenix and print the report.

    Starts Phoenix on 127.0.0.1 (or uses the one at PHOENIX_BASE_URL, with
    PHOENIX_API_KEY if set), seeds a synthetic day with a rare compliance slice
    and a few percent failures, runs `sync` (pull -> sample -> dataset + review
    annotations), plays an LLM judge on the sampled traces, runs `sync` again to
    read the scores back, and prints the reweighted estimate next to the naive
    one and the synthetic truth, then where to look in the Phoenix UI.

    Run again, it starts on an empty local Phoenix (and stops one an earlier
    `--keep` left running), and says so.
    """
    try:
        demo = importlib.import_module("tracestrata.demo.run")
    except ImportError as exc:
        raise ConfigError(
            f"the Phoenix demo needs the phoenix extras ({exc.name or exc}); "
            "install the demo extra: pip install '.[demo]' from a checkout"
        ) from None
    demo.run_demo(traces=n, workdir=workdir, keep=keep, target=target, seed=seed, echo=click.echo)
