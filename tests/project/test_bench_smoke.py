"""The benchmark runs (on a tiny file): no timing is asserted, only that it completes and reports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_sample.py"


@pytest.mark.timeout(120)
def test_bench_sample_quick_runs(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--quick",
            "--n",
            "3000",
            "--data-dir",
            str(tmp_path),
            "--json",
            str(tmp_path / "r.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for name in ("ours: tracestrata sample (CLI)", "seed: json.loads + sample_window", "pandas", "records/s"):
        assert name in out
    assert "goal >= 5x" in out and "goal <= 2x" in out and "goal >= 10x" in out
    assert (tmp_path / "traces-3000.jsonl").exists()


SCALE = Path(__file__).resolve().parents[2] / "bench" / "bench_scale.py"


@pytest.mark.timeout(300)
def test_bench_scale_small_runs(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(SCALE), "--n", "3000", "--repeat", "1", "--data-dir", str(tmp_path), "--scale", "20000", "40000"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("floor", "tracestrata, DuckDB path", "md5_number", "files path --jobs 1", "traces/s", "goal <= 1.2x", "start-up"):
        assert name in proc.stdout


PROXY = Path(__file__).resolve().parents[2] / "bench" / "bench_proxy.py"


@pytest.mark.timeout(120)
def test_bench_proxy_small_runs() -> None:
    proc = subprocess.run([sys.executable, str(PROXY), "--reps", "10", "--rho", "0.9"], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "proxy/plain =" in proc.stdout and "judgements" in proc.stdout
