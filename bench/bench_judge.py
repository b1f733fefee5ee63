"""Benchmark: the judge runner against the OpenAI-compatible stub, and the runner's own overhead.

1. calls/s of the LLM judge (real `openai` client, real HTTP) against the stub in a child
   process answering after `--delay` seconds, at concurrency 1, 8 and 32, printed as
   ratios to concurrency 1 (the ideal is 8x and 32x while the stub keeps up);
2. the runner's overhead per call: the same sample judged by a no-op async judge through
   `run_judge` (existing-score lookup, bodies, concurrency, retries bookkeeping, writing
   every score to a JSONL file) minus the same judge called in a bare asyncio loop.
   Goal: under 5 ms per call, so the judge's latency is the only cost that matters.

    python bench/bench_judge.py                     # 200 LLM calls per level, 5,000 for the overhead
    python bench/bench_judge.py --calls 64 --overhead-calls 1000 --delay 0.01   # smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STUB = REPO / "tests" / "fixtures" / "openai_stub.py"
KEY_ENV = "BENCH_JUDGE_KEY"

from tracestrata.connectors.files.judging import FilesScoreWriter, RecordBodies  # noqa: E402
from tracestrata.connectors.files.scores import FilesScoreSource  # noqa: E402
from tracestrata.io.retry import RetryPolicy  # noqa: E402
from tracestrata.judging import JudgeAnswer, JudgeInput, JudgeTargets, JudgeVerdict, RunnerSettings, run_judge  # noqa: E402
from tracestrata.judging.llm import LLMJudge, parse_llm_config  # noqa: E402
from tracestrata.protocols import SampleItem, item_id_for  # noqa: E402
from tracestrata.synthetic import generate_traces  # noqa: E402


def start_stub(delay: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, str(STUB), "--delay", str(delay)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        proc.kill()
        raise SystemExit(f"the stub did not start: {url!r}")
    return proc, url


def sample(n: int) -> list[SampleItem]:
    start = datetime(2026, 11, 23, tzinfo=UTC)
    records = generate_traces(n, start=start, end=start.replace(hour=23), seed=1)
    return [
        SampleItem(item_id_for("bench", None, r.id), r, "s", {}, False, (), 0.5, 2.0, run="bench") for r in records
    ]


def targets(folder: Path, name: str) -> JudgeTargets:
    path = folder / f"{name}.jsonl"
    return JudgeTargets(RecordBodies(), FilesScoreWriter(path), FilesScoreSource(path))


def llm_level(url: str, items: list[SampleItem], concurrency: int, folder: Path) -> float:
    config = parse_llm_config({
        "base_url": url, "model": "bench", "api_key_env": KEY_ENV, "labels": {"correct": True, "incorrect": False},
        "prompt": "trace={trace_id}\n{input}\nCorrect or incorrect?",
    })
    settings = RunnerSettings(name="correct", concurrency=concurrency, timeout=30.0,
                              retry=RetryPolicy(attempts=3, total_seconds=60))
    started = time.perf_counter()
    outcome = run_judge(items, LLMJudge(config, timeout=30.0), targets(folder, f"llm-{concurrency}"), settings,
                        progress=False)
    elapsed = time.perf_counter() - started
    assert outcome.judged == len(items), outcome.line()
    return outcome.calls / elapsed


class NoopJudge:
    name = "noop"
    version = None

    async def __call__(self, judge_input: JudgeInput) -> JudgeAnswer:
        return JudgeAnswer((JudgeVerdict(True),))

    async def aclose(self) -> None:
        return None


def overhead(items: list[SampleItem], folder: Path, concurrency: int) -> tuple[float, float]:
    """(seconds per call through the runner, seconds per call of the bare loop)."""
    judge = NoopJudge()
    inputs = [JudgeInput(i.trace_id, None, None, i.record.metadata, i.stratum, (), i.record) for i in items]

    async def bare() -> None:
        for one in inputs:
            await judge(one)

    started = time.perf_counter()
    asyncio.run(bare())
    base = (time.perf_counter() - started) / len(items)
    started = time.perf_counter()
    outcome = run_judge(items, judge, targets(folder, f"noop-{concurrency}"), RunnerSettings(name="correct",
                        concurrency=concurrency), progress=False)
    runner = (time.perf_counter() - started) / len(items)
    assert outcome.judged == len(items), outcome.line()
    return runner, base


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="LLM calls per concurrency level")
    parser.add_argument("--overhead-calls", type=int, default=5000)
    parser.add_argument("--delay", type=float, default=0.05, help="the stub's latency per call (seconds)")
    args = parser.parse_args(argv)
    os.environ[KEY_ENV] = "-".join(("bench", "judge", "value"))
    proc, url = start_stub(args.delay)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            items = sample(args.calls)
            rates = {c: llm_level(url, items, c, folder) for c in (1, 8, 32)}
            print(f"LLM judge against the stub ({args.delay * 1000:.0f} ms per answer, {args.calls} calls per level):")
            for level, rate in rates.items():
                print(f"  concurrency {level:>2}: {rate:8.1f} calls/s   x{rate / rates[1]:.1f} vs concurrency 1"
                      f" (ideal x{level})")
            many = sample(args.overhead_calls)
            runner, base = overhead(many, folder, 8)
            per_call = (runner - base) * 1000
            print(f"runner overhead per call (no-op judge, {args.overhead_calls} traces, concurrency 8, scores "
                  f"written): {per_call:.3f} ms (runner {runner * 1000:.3f} ms vs bare loop {base * 1000:.4f} ms); "
                  f"goal < 5 ms: {'met' if per_call < 5 else 'NOT met'}")
    finally:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    main()
