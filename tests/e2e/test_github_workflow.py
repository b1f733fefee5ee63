"""The GitHub Actions example runs as written: its steps, in order, as a runner would run them.

No Actions runner emulator installs here (`act` needs Docker), so `run_workflow` plays the
runner: each `run:` step is a bash script (`bash --noprofile --norc -eo pipefail`, the
runner's default shell) with the workflow's, job's and step's `env`; the few actions the
workflow uses are emulated (checkout: the workspace; setup-python: a fresh venv first on
PATH; cache restore/save: a folder of cache entries; upload-artifact: the path must
exist). The install step runs as written, with TRACESTRATA_REPO/REF pointed at this
checkout's HEAD, so the pip requirement itself is what is tested.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
import venv
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from builders import toml_text

from tracestrata.errors import ExitCode
from tracestrata.synthetic import generate_traces

yaml = pytest.importorskip("yaml")

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "github-actions"
WORKFLOW = EXAMPLE / "tracestrata-sync.yml"
BENIGN = {0, 4, 5}


def workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text())


@dataclass
class Runner:
    """One fresh runner per workflow run; the cache folder outlives runs, like the Actions cache."""

    python_bin: Path
    cache: Path
    env: dict[str, str]
    overrides: dict[str, str] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    def step_log(self, label: str) -> str:
        return next(entry for entry in self.log if entry.startswith(f"{label}:"))

    def expand(self, text: str, run_id: int) -> str:
        def value(match: re.Match[str]) -> str:
            expr = match.group(1).strip()
            if expr == "github.run_id":
                return str(run_id)
            if expr.startswith("secrets."):
                return "test-secret"
            raise AssertionError(f"unknown expression {expr!r} in the workflow")

        return re.sub(r"\$\{\{(.*?)\}\}", value, text)

    def uses(self, action: str, args: dict[str, Any], workspace: Path, env: dict[str, str]) -> int:
        name = action.split("@")[0]
        if name == "actions/checkout":
            return 0
        if name == "actions/setup-python":
            env["PATH"] = f"{self.python_bin}:{env['PATH']}"
            return 0
        if name == "actions/cache/restore":
            prefix = args.get("restore-keys", args["key"])
            entries = sorted((p for p in self.cache.iterdir() if p.name.startswith(prefix)), key=lambda p: p.stat().st_mtime)
            if (self.cache / args["key"]).exists():
                entries.append(self.cache / args["key"])
            if entries:
                shutil.copytree(entries[-1], workspace / args["path"], dirs_exist_ok=True)
            return 0
        if name == "actions/cache/save":
            if (workspace / args["path"]).exists() and not (self.cache / args["key"]).exists():
                shutil.copytree(workspace / args["path"], self.cache / args["key"])
            return 0
        if name == "actions/upload-artifact":
            self.log.append(f"artifact {args['name']}: {(workspace / args['path']).exists()}")
            return 0
        raise AssertionError(f"the workflow uses {action}, which this test does not emulate")

    def run(self, workspace: Path, run_id: int, only: str | None = None) -> dict[str, Any]:
        spec = workflow()
        job = spec["jobs"]["sync"]
        output, summary = workspace / ".github_output", workspace / ".github_step_summary"
        env = {**self.env, "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_RUN_ID": str(run_id)}
        env.update({k: str(v) for k, v in (spec.get("env") or {}).items()})
        env.update({k: str(v) for k, v in (job.get("env") or {}).items()})
        env.update(self.overrides)
        failed: int | None = None
        codes: dict[str, int] = {}
        for number, step in enumerate(job["steps"]):
            label = step.get("name") or step.get("uses") or f"step {number}"
            condition = step.get("if")
            assert condition in (None, "always()"), f"{label}: unknown if: {condition!r}"
            if failed is not None and condition is None:
                continue
            if only is not None and "run" in step and step.get("id") != only:
                continue
            step_env = {**env, **{k: self.expand(str(v), run_id) for k, v in (step.get("env") or {}).items()}}
            if "uses" in step:
                args = {k: self.expand(str(v), run_id) for k, v in (step.get("with") or {}).items()}
                code = self.uses(step["uses"], args, workspace, env)
            else:
                script = workspace / f".step-{number}.sh"
                script.write_text(self.expand(step["run"], run_id))
                done = subprocess.run(
                    ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                    cwd=workspace, env=step_env, capture_output=True, text=True, timeout=300,
                )
                self.log.append(f"{label}: exit {done.returncode}\n{done.stdout}{done.stderr}")
                code = done.returncode
            codes[step.get("id") or label] = code
            if code != 0 and failed is None:
                failed = code
        return {
            "failed": failed,
            "codes": codes,
            "output": output.read_text() if output.exists() else "",
            "summary": summary.read_text() if summary.exists() else "",
        }


def base_env(home: Path) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}


@pytest.fixture(scope="module")
def runner_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What setup-python gives a job: a bare Python with pip, nothing installed."""
    root = tmp_path_factory.mktemp("setup-python")
    venv.EnvBuilder(with_pip=True).create(root / "venv")
    return root / "venv" / "bin"


def user_repository(tmp: Path, start: datetime) -> Path:
    """A fresh checkout of the user's repository: the example's config under tracestrata/, a files source."""
    ws = tmp / "checkout"
    shutil.rmtree(ws, ignore_errors=True)
    (ws / "tracestrata").mkdir(parents=True)
    shutil.copy(EXAMPLE / "policy.toml", ws / "tracestrata" / "policy.toml")
    config = tomllib.loads((EXAMPLE / "sync.toml").read_text())
    config["source"] = {"type": "files", "path": str(tmp / "traces.jsonl"), "sink_dir": "../var/tracestrata/sink"}
    config["window"] = {**config["window"], "every": "1d", "start": start.strftime("%Y-%m-%dT%H:%M:%SZ")}
    (ws / "tracestrata" / "sync.toml").write_text(toml_text(config))
    return ws


def head_commit() -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()


def test_workflow_runs_as_written_twice_state_kept_in_the_cache(tmp_path: Path, runner_python: Path) -> None:
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout: the install step installs from the repository at a commit")
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=3)
    records = generate_traces(300, start=start, end=today, seed=4)
    (tmp_path / "traces.jsonl").write_bytes(b"".join(orjson.dumps(r.to_json()) + b"\n" for r in records))
    (tmp_path / "cache").mkdir()
    pinned = {"TRACESTRATA_REPO": f"file://localhost{REPO}", "TRACESTRATA_REF": head_commit()}
    runner = Runner(runner_python, tmp_path / "cache", base_env(tmp_path), overrides=pinned)

    first = runner.run(user_repository(tmp_path, start), run_id=101)
    print("\n".join(runner.log))
    assert first["failed"] is None, "\n".join(runner.log)
    assert "code=0" in first["output"]
    assert first["summary"].startswith("## correctness")
    sync_log = runner.step_log("Sync")
    windows = [line for line in sync_log.splitlines() if line.startswith(start.strftime("%Y-"))]
    assert len(windows) >= 2, sync_log
    assert "artifact tracestrata-reports: True" in runner.log

    runner.log.clear()
    second = runner.run(user_repository(tmp_path, start), run_id=102)  # a fresh runner: only the cache carries state
    sync_log = runner.step_log("Sync")
    assert second["failed"] is None, "\n".join(runner.log)
    assert "windows before" in sync_log and "written to dataset" not in sync_log, sync_log


@pytest.mark.parametrize("code", sorted({int(c) for c in ExitCode} | {6, 7}))
def test_sync_step_fails_the_job_on_every_exit_code_but_the_benign_ones(tmp_path: Path, code: int) -> None:
    shim = tmp_path / "bin" / "tracestrata"
    shim.parent.mkdir()
    shim.write_text(f"#!/bin/sh\necho 'tracestrata: error: simulated' >&2\nexit {code}\n")
    shim.chmod(0o755)
    env = base_env(tmp_path)
    env["PATH"] = f"{shim.parent}:{env['PATH']}"
    runner = Runner(shim.parent, tmp_path, env)
    ws = tmp_path / "checkout"
    ws.mkdir()
    result = runner.run(ws, run_id=1, only="sync")
    assert result["codes"]["sync"] == (0 if code in BENIGN else code)
    assert f"code={code}" in result["output"]
    log = runner.step_log("Sync")
    assert ("::warning::" in log) == (code == 4) and ("::error::" in log) == (code not in BENIGN)


def test_the_benign_exit_codes_are_those_the_docs_say_need_nothing() -> None:
    rows = re.findall(r"^\| (\d+) \| [^|]+ \| ([^|]+) \|$", (REPO / "docs" / "sync.md").read_text(), re.M)
    assert rows
    nothing = {int(code) for code, todo in rows if todo.strip().startswith(("nothing", "—"))}
    assert nothing == BENIGN


def test_install_step_installs_from_the_repository_at_a_pinned_ref() -> None:
    spec = workflow()
    install = next(s for s in spec["jobs"]["sync"]["steps"] if s.get("name") == "Install tracestrata")
    assert "git+${TRACESTRATA_REPO}@${TRACESTRATA_REF}" in install["run"]
    assert re.fullmatch(r"[0-9a-f]{40}", spec["env"]["TRACESTRATA_REF"])
    assert spec["env"]["TRACESTRATA_REPO"].startswith("https://")
