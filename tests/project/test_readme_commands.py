"""Every command the README shows runs as written, in order, and the output it shows is the real output.

The README's shell blocks are run line by line in a scratch copy of `examples/`, the
way a new user pastes them after `make install` (with the venv's `bin` on PATH, which
is what `. .venv/bin/activate` does). A line that is not run here must be listed in
NOT_RUN_HERE with the test that covers it, so a new command cannot slip in untested.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()

NOT_RUN_HERE = {
    "make demo": "CI runs `tracestrata demo` on a real Phoenix in tests/connectors/phoenix/test_phoenix_demo.py",
    "make test": "what CI itself runs (.ci/run)",
    ". .venv/bin/activate": "the environment line: the test puts the venv's bin first on PATH instead",
}


def shell_lines(text: str) -> list[str]:
    """Each command of each ```sh block, its trailing comment removed."""
    out = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command and not command.startswith("#"):
                out.append(command)
    return out


def shown_block_after(marker: str) -> list[str]:
    """The lines of the first plain ``` block after `marker` (the README's sample output), minus `...`."""
    rest = README[README.index(marker) :]
    rest = rest[rest.index("\n```\n") + 5 :]  # past the end of the block that holds the marker
    block = re.search(r"^```\n(.*?)^```", rest, re.S | re.M)
    assert block, f"no output block after {marker!r}"
    return [line for line in block.group(1).splitlines() if line.strip() and line.strip() != "..."]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "examples", where / "examples", ignore=shutil.ignore_patterns("traces", "var", "scores"))
    return where


def run(line: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(["bash", "-c", line], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_every_shell_line_of_the_readme_is_run_here_or_says_where() -> None:
    lines = shell_lines(README)
    covered = set(NOT_RUN_HERE) | {line for line in lines if line.startswith("tracestrata ")}
    assert [line for line in lines if line not in covered] == []


def test_the_walkthrough_runs_as_written_and_prints_what_the_readme_shows(scratch: Path) -> None:
    outputs = []
    for line in shell_lines(README):
        if line in NOT_RUN_HERE or not line.startswith("tracestrata "):
            continue
        result = run(line, scratch)
        assert result.returncode == 0, f"{line}\n{result.stdout}{result.stderr}"
        outputs.append((line, result))
    report = next(r.stdout for line, r in outputs if line.startswith("tracestrata report") and "--out" not in line)
    missing = [line for line in shown_block_after("tracestrata report --sample run/") if line not in report]
    assert missing == [], "the README shows lines the report does not print; the report says:\n" + report
    sync_runs = [r.stdout for line, r in outputs if line.startswith("tracestrata sync --config examples/sync/files.toml")]
    assert sum(1 for out in sync_runs[:1] for x in out.splitlines() if x.startswith("2026-11-23T")) == 24
    assert sync_runs[1] == ""  # the second run: nothing new, silent
    reports = scratch / "examples" / "sync" / "var" / "reports"
    assert "report: correct over 24 windows" in sync_runs[0]
    assert {p.name for p in reports.iterdir()} == {"report.json", "report.md", "report.html", "review.md"}
    status = next(r.stdout for line, r in outputs if line.startswith("tracestrata status --config examples/sync/files.toml"))
    assert status.startswith("OK ") and "pending windows    0" in status, status
    # on today's date (weeks after the generated day) the same job is behind: not OK, exit 6
    today = run("tracestrata status --config examples/sync/files.toml", scratch)
    assert today.returncode == 6 and today.stdout.startswith("STALE "), today.stdout
    assert not re.search(r"pending windows\s+0\b", today.stdout), today.stdout
    behind = run("tracestrata sync --config examples/sync/files.toml", scratch)  # catches up 24 windows
    assert behind.returncode == 0, behind.stderr
    still = run("tracestrata status --config examples/sync/files.toml", scratch)
    assert still.returncode == 6 and "behind: " in still.stdout.splitlines()[0], still.stdout
    report_json = json.loads((scratch / "examples" / "sync" / "var" / "reports" / "report.json").read_text())
    assert report_json["estimate"]["n_scored"] > 0  # the job's sample judged, read back and reported


def test_the_python_example_runs_and_matches_the_cli(scratch: Path) -> None:
    code = re.search(r"```python\n(import json\n.*?)```", README, re.S)
    assert code, "the README's Python example"
    result = subprocess.run([sys.executable, "-c", code.group(1)], cwd=scratch, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    shown = re.search(r"\*\*Estimate: ([\d.]+)%\*\*.*?(\d+) scored", README)
    assert shown and f"'n_scored': {shown.group(2)}" in result.stdout
    mean = float(result.stdout.split("'mean': ")[1].split(",")[0])
    assert f"{100 * mean:.1f}" == shown.group(1)


def test_the_sync_state_keys_the_source_on_its_resolved_path(tmp_path: Path) -> None:
    """The same config named relatively and absolutely is one job: nothing is sampled twice."""
    scratch = tmp_path
    shutil.copytree(ROOT / "examples", scratch / "examples", ignore=shutil.ignore_patterns("traces", "var", "scores"))
    config = "examples/sync/files.toml"
    made = run("tracestrata generate --traces 2000 --start 2026-11-23T00:00:00Z --out examples/sync/traces/day.jsonl", scratch)
    assert made.returncode == 0, made.stderr
    first = run(f"tracestrata sync --config {config}", scratch)
    assert first.returncode == 0, first.stderr
    again = run(f"tracestrata sync --config {scratch / config}", scratch)
    assert again.returncode == 0, again.stderr
    assert "2026-11-23T" not in again.stdout
    from_elsewhere = run("tracestrata sync --config files.toml", scratch / "examples" / "sync")
    assert (from_elsewhere.returncode, from_elsewhere.stdout) == (0, "")
