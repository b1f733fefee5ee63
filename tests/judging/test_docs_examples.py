"""docs/judge.md's examples run as written: its files (`# file: NAME` blocks) are written to a scratch
folder, its shell block is run there, with the LLM judges pointed at the stub on 127.0.0.1."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import orjson

from tracestrata.job.config import parse_config

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "judge.md").read_text()
DOC_URL = "http://127.0.0.1:8000/v1"


def blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", DOC, re.S)


def test_the_docs_examples_run_as_written(stub, tmp_path: Path) -> None:
    files = 0
    for block in blocks("python") + blocks("toml"):
        first = block.splitlines()[0]
        if first.startswith("# file: "):
            (tmp_path / first.removeprefix("# file: ").strip()).write_text(block.replace(DOC_URL, stub.url))
            files += 1
    assert files == 3
    shutil.copytree(ROOT / "examples" / "policies", tmp_path / "examples" / "policies")
    env = dict(os.environ, JUDGE_API_KEY="-".join(("docs", "judge", "value")), JUDGE_BASE_URL=stub.url,
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    shell = next(b for b in blocks("sh") if "phoenix-evals:" in b)
    for line in shell.splitlines():
        result = subprocess.run(["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"{line}\n{result.stdout}{result.stderr}"
        assert DOC_URL not in result.stderr and env["JUDGE_API_KEY"] not in result.stdout + result.stderr
    sampled = len((tmp_path / "run" / "sample.jsonl").read_text().splitlines())
    lines = [orjson.loads(x) for x in (tmp_path / "scores.jsonl").read_text().splitlines()]
    by_name = {name: sum(1 for x in lines if x["name"] == name) for name in ("correct", "llm_correct", "evals_correct")}
    assert by_name == {"correct": sampled, "llm_correct": sampled, "evals_correct": sampled}
    assert stub.calls == 2 * sampled  # the LLM judge and the phoenix.evals classifier, each trace once


def test_the_judge_table_shown_is_a_valid_sync_config(tmp_path: Path) -> None:
    table = next(b for b in blocks("toml") if b.startswith("[judge]"))
    text = (
        'state = "s.sqlite"\npolicy = "%s"\n[source]\ntype = "files"\npath = "t.jsonl"\n'
        '[window]\nstart = "2026-11-23T00:00:00Z"\n' % (ROOT / "examples" / "policies" / "basic.toml")
    ) + table
    config = parse_config(tomllib.loads(text), path=tmp_path / "sync.toml", text=text)
    assert config.judge is not None and config.judge.name == "correct"
    assert config.judge.judge == str(tmp_path / "judge.toml")
