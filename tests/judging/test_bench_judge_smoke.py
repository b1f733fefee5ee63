"""bench/bench_judge.py runs (tiny sizes): no timing is asserted, only that it reports its ratios."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_judge.py"


def test_bench_judge_quick_runs() -> None:
    proc = subprocess.run([sys.executable, str(BENCH), "--calls", "16", "--overhead-calls", "200", "--delay", "0.005"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "concurrency 32" in proc.stdout and "vs concurrency 1" in proc.stdout and "goal < 5 ms" in proc.stdout
    assert "Traceback" not in proc.stderr
