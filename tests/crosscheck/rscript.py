"""Run one of this folder's R scripts: skipped, with the reason, when Rscript or R's survey package is missing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

RSCRIPT = shutil.which("Rscript")
HERE = Path(__file__).parent


def require_rscript() -> str:
    if RSCRIPT is None:
        pytest.skip("Rscript not found: install r-base-core and r-cran-survey (scripts/test.sh does on CI)")
    return RSCRIPT


def run_r(script: str, path: Path) -> list[list[str]]:
    """`Rscript script path`: its output lines, each split on whitespace."""
    proc = subprocess.run([require_rscript(), str(HERE / script), str(path)], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0 and "there is no package called" in proc.stderr:
        pytest.skip("R's survey package is missing: apt-get install r-cran-survey")
    assert proc.returncode == 0, proc.stderr
    return [line.split() for line in proc.stdout.splitlines()]


def values_by_case(lines: list[list[str]]) -> dict[str, dict[str, float]]:
    """`case key value` lines as {case: {key: value}}."""
    out: dict[str, dict[str, float]] = {}
    for case, key, value in lines:
        out.setdefault(case, {})[key] = float(value)
    return out
